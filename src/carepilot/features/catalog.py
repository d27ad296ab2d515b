"""How each readmission feature reads in clinical words (labels, units, reference ranges for high/low flags)."""

from __future__ import annotations

from carepilot.features.readmission import CONDITIONS, FEATURE_LABELS
from carepilot.models.explain import FeatureInfo

# Adult reference ranges used only to flag a value as high or low in an explanation.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "latest_hba1c": (None, 6.4),
    "latest_egfr": (60.0, None),
    "latest_creatinine": (None, 1.3),
    "latest_potassium": (3.5, 5.0),
    "latest_hemoglobin": (12.0, None),
    "latest_bnp": (None, 100.0),
    "latest_ldl": (None, 130.0),
    "latest_systolic_bp": (90.0, 139.0),
    "latest_diastolic_bp": (None, 89.0),
    "latest_heart_rate": (50.0, 100.0),
    "latest_bmi": (18.5, 29.9),
    "latest_phq9": (None, 9.0),
    "pdc_180d": (0.8, None),
    "prior_inpatient_365d": (None, 0.0),
    "prior_emergency_365d": (None, 1.0),
    "length_of_stay_days": (None, 5.0),
}


def readmission_catalog() -> dict[str, FeatureInfo]:
    """FeatureInfo for every readmission feature."""
    out: dict[str, FeatureInfo] = {}
    for name, (label, unit) in FEATURE_LABELS.items():
        low, high = RANGES.get(name, (None, None))
        decimals = 2 if name == "pdc_180d" else (0 if name.startswith(("prior_", "n_", "days_since")) else 1)
        flag = name.startswith(("has_", "discharge_")) or name == "male"
        values = {"1.0": "yes", "0.0": "no"} if flag else {}
        out[name] = FeatureInfo(label=label, unit=unit, low=low, high=high, decimals=decimals, values=values)
    for c in CONDITIONS:
        out[f"has_{c}"] = FeatureInfo(
            label=c.replace("_", " ").capitalize(), values={"1.0": "present", "0.0": "absent"}
        )
    return out
