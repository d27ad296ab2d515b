"""One row per patient describing their condition, lab and utilisation profile, plus outcomes, for cohorts.

Everything is read from the profile as it stands at ``as_of``; utilisation counts the year before ``as_of``.
Outcomes (30-day readmissions among discharges, death) are kept apart from the clustering inputs.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from carepilot.domain.profile import PatientProfile
from carepilot.features.readmission import CONDITIONS, READMISSION_WINDOW, is_inpatient

LABS = ("hba1c", "egfr", "ldl", "bnp", "hemoglobin", "systolic_bp", "bmi", "phq9")
UTILISATION = ("inpatient_365d", "emergency_365d", "n_active_medications")
LAB_LABELS = {
    "hba1c": ("HbA1c", "%"),
    "egfr": ("eGFR", "mL/min/1.73m2"),
    "ldl": ("LDL", "mg/dL"),
    "bnp": ("BNP", "pg/mL"),
    "hemoglobin": ("haemoglobin", "g/dL"),
    "systolic_bp": ("systolic BP", "mmHg"),
    "bmi": ("BMI", "kg/m2"),
    "phq9": ("PHQ-9", ""),
}
YEAR = timedelta(days=365)


def cohort_row(profile: PatientProfile, as_of: datetime) -> dict[str, Any]:
    """The cohort description of one patient at ``as_of``: inputs (conditions, labs, utilisation) and outcomes."""
    p = profile.truncated(as_of)
    row: dict[str, Any] = {"patient_id": p.patient_id}
    age = p.age
    row["age"] = float(age) if age is not None else math.nan
    concepts = {pr.concept for pr in p.active_problems()}
    for c in CONDITIONS:
        row[f"has_{c}"] = 1.0 if c in concepts else 0.0
    for lab in LABS:
        found = p.latest(lab)
        row[f"lab_{lab}"] = float(found.value) if found is not None and found.value is not None else math.nan
    recent = [e for e in p.encounters if e.start is not None and as_of - YEAR <= e.start <= as_of]
    row["inpatient_365d"] = float(sum(1 for e in recent if is_inpatient(e)))
    row["emergency_365d"] = float(sum(1 for e in recent if e.encounter_class == "EMER"))
    row["n_active_medications"] = float(len(p.active_medications()))
    stays = sorted((e for e in p.encounters if is_inpatient(e) and e.end is not None), key=lambda e: e.end)  # type: ignore[arg-type,return-value]
    readmitted = 0
    for e in stays:
        if any(
            o.start is not None and e.end < o.start <= e.end + READMISSION_WINDOW  # type: ignore[operator]
            for o in stays
            if o.resource_id != e.resource_id
        ):
            readmitted += 1
    row["discharges"] = len(stays)
    row["readmissions_30d"] = readmitted
    row["deceased"] = 1.0 if p.demographics.deceased is not None else 0.0
    row["n_encounters"] = len(p.encounters)
    return row


def cohort_frame(profiles: list[PatientProfile], as_of: datetime) -> pd.DataFrame:
    """Cohort rows for every profile with at least one encounter.

    Records holding only results from an outside laboratory (no encounter, no care given here) describe no
    care profile and would form a cohort of their own; they are left out.
    """
    rows = [cohort_row(p, as_of) for p in profiles]
    return pd.DataFrame([r for r in rows if r["n_encounters"] > 0])
