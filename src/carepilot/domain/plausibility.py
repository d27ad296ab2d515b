"""Physiologically plausible ranges per measurement concept, in canonical units.

Ranges are deliberately wide (survivable extremes, not reference intervals): a value outside them is almost
certainly a unit or entry error. Kahn et al. 2016 call this atemporal plausibility.
"""

from __future__ import annotations

PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "hba1c": (3.0, 20.0),
    "glucose": (20.0, 1500.0),
    "cgm_glucose": (20.0, 600.0),
    "creatinine": (0.1, 25.0),
    "egfr": (1.0, 200.0),
    "potassium": (1.5, 9.0),
    "sodium": (100.0, 180.0),
    "ldl": (10.0, 500.0),
    "hdl": (5.0, 200.0),
    "total_cholesterol": (50.0, 800.0),
    "triglycerides": (10.0, 5000.0),
    "bnp": (0.0, 50000.0),
    "nt_probnp": (0.0, 70000.0),
    "inr": (0.5, 15.0),
    "hemoglobin": (2.0, 25.0),
    "systolic_bp": (40.0, 300.0),
    "diastolic_bp": (20.0, 200.0),
    "heart_rate": (20.0, 300.0),
    "respiratory_rate": (4.0, 80.0),
    "spo2": (40.0, 100.0),
    "temperature": (25.0, 45.0),
    "body_weight": (0.3, 400.0),
    "body_height": (20.0, 260.0),
    "bmi": (8.0, 120.0),
    "steps": (0.0, 100000.0),
    "phq9": (0.0, 27.0),
    "phq9_item9": (0.0, 3.0),
    "gad7": (0.0, 21.0),
}


def is_plausible(concept: str | None, value: float | None) -> bool:
    """False only when a known concept's value lies outside its plausible range."""
    if concept is None or value is None or concept not in PLAUSIBLE_RANGES:
        return True
    low, high = PLAUSIBLE_RANGES[concept]
    return low <= value <= high
