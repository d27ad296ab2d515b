"""Standing drug regimens each person is on because of their conditions (guideline-typical first choices).

Regimens that are treatment *decisions* with known effects (diabetes add-on, P2Y12 inhibitor, warfarin start,
antidepressant) come from ``decisions.py``; this module holds the background therapy around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carepilot.synth.conditions import Conditions
from carepilot.synth.people import People
from carepilot.synth.physiology import Physiology


@dataclass(frozen=True, slots=True)
class Regimen:
    """One prescription: what, how much, from when to when (days after the window start)."""

    drug: str  # concept key in concepts.toml (also the display name)
    rxnorm: str
    dose_mg: float | None
    per_day: int
    start_day: float
    end_day: float
    dosage_text: str
    decision: str | None = None


@dataclass
class Background:
    """Per-person regimens and the flags other parts of the generator need."""

    regimens: list[list[Regimen]]
    insulin: np.ndarray
    amiodarone: np.ndarray
    on_warfarin: np.ndarray
    statin: np.ndarray


RX = {
    "lisinopril": "29046",
    "amlodipine": "17767",
    "hydrochlorothiazide": "5487",
    "metformin": "6809",
    "insulin glargine": "274783",
    "metoprolol": "6918",
    "furosemide": "4603",
    "aspirin": "1191",
    "atorvastatin": "83367",
    "simvastatin": "36567",
    "rosuvastatin": "301542",
    "apixaban": "1364430",
    "amiodarone": "703",
    "citalopram": "2556",
    "fluoxetine": "4493",
    "omeprazole": "7646",
    "osimertinib": "1721560",
    "capecitabine": "194000",
}


def _regimen(drug: str, dose: float | None, per_day: int, start: float, end: float, text: str | None = None) -> Regimen:
    freq = {1: "once daily", 2: "twice daily", 3: "three times daily"}[per_day]
    dosage = text or (f"{dose:g} mg by mouth {freq}" if dose is not None else freq)
    return Regimen(drug, RX[drug], dose, per_day, start, end, dosage)


def plan_background(
    rng: np.random.Generator, people: People, cond: Conditions, phys: Physiology, window_days: float
) -> Background:
    """Draw each person's standing regimens (ACC/AHA 2017, ADA 2024, ACC/AHA/HRS 2023; see docs)."""
    n = people.n
    has = cond.has
    u = rng.random((n, 8))
    insulin = has["type2_diabetes"] & ((phys.hba1c0 > 9.0) & (u[:, 0] < 0.6) | (u[:, 0] < 0.10))
    amiodarone = has["atrial_fibrillation"] & (u[:, 1] < 0.12)
    # Warfarin in ~35% of anticoagulated AF (ORBIT-AF II era) and whenever eGFR < 25 (DOACs restricted).
    on_warfarin = has["atrial_fibrillation"] & ((u[:, 2] < 0.35) | (phys.egfr0 < 25))
    statin = (has["coronary_disease"] | (has["type2_diabetes"] & (people.age > 40))) & (u[:, 3] < 0.8)
    end = window_days
    regimens: list[list[Regimen]] = []
    for i in range(n):
        rx: list[Regimen] = []
        start = float(u[i, 4] * 60.0)  # reconciled at a visit early in the window
        if has["hypertension"][i] or has["ckd"][i] or has["heart_failure"][i]:
            if u[i, 5] < 0.65 or has["ckd"][i]:
                rx.append(_regimen("lisinopril", 10.0, 1, start, end))
            elif u[i, 5] < 0.88:
                rx.append(_regimen("amlodipine", 5.0, 1, start, end))
            else:
                rx.append(_regimen("hydrochlorothiazide", 25.0, 1, start, end))
            if has["hypertension"][i] and u[i, 6] < 0.4 and rx[0].drug != "amlodipine":
                rx.append(_regimen("amlodipine", 5.0, 1, start, end))
        if has["type2_diabetes"][i] and phys.egfr0[i] >= 30:
            rx.append(_regimen("metformin", 1000.0, 2, start, end))
        if insulin[i]:
            rx.append(_regimen("insulin glargine", None, 1, start, end, "20 units subcutaneously at bedtime"))
        if has["heart_failure"][i] or has["atrial_fibrillation"][i]:
            rx.append(_regimen("metoprolol", 50.0, 1, start, end))
        if has["heart_failure"][i]:
            rx.append(_regimen("furosemide", 40.0, 1, start, end))
        if has["coronary_disease"][i]:
            rx.append(_regimen("aspirin", 81.0, 1, start, end))
        if statin[i]:
            v = u[i, 7]
            if v < 0.6:
                rx.append(_regimen("atorvastatin", 40.0, 1, start, end))
            elif v < 0.9:
                rx.append(_regimen("simvastatin", 40.0, 1, start, end))
            else:
                rx.append(_regimen("rosuvastatin", 10.0, 1, start, end))
        if has["atrial_fibrillation"][i] and not on_warfarin[i]:
            rx.append(_regimen("apixaban", 5.0, 2, start, end))
        if amiodarone[i]:
            rx.append(_regimen("amiodarone", 200.0, 1, start, end))
        if people.age[i] > 60 and u[i, 6] > 0.88:
            rx.append(_regimen("omeprazole", 20.0, 1, start, end))
        regimens.append(rx)
    return Background(regimens=regimens, insulin=insulin, amiodarone=amiodarone, on_warfarin=on_warfarin, statin=statin)


def add_oncology(
    rng: np.random.Generator,
    background: Background,
    cond: Conditions,
    egfr_positive: np.ndarray,
    window_days: float,
) -> None:
    """EGFR-mutant NSCLC on osimertinib (FLAURA); ~30% of colorectal cancer on capecitabine in the window."""
    for i in np.flatnonzero(egfr_positive):
        background.regimens[i].append(_regimen("osimertinib", 80.0, 1, 10.0, window_days))
    for i in np.flatnonzero(cond.has["colorectal_cancer"]):
        if rng.random() < 0.3:
            start = float(rng.random() * max(window_days - 200.0, 1.0))
            background.regimens[i].append(_regimen("capecitabine", 1500.0, 2, start, start + 168.0))
