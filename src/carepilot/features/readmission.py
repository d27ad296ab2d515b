"""Point-in-time features for 30-day readmission, one example per inpatient discharge.

The index time is the discharge. Every feature is computed from ``profile.truncated(discharge)``, so nothing
recorded after the index time can reach it (tests/unit/test_features_leakage.py proves it); the label looks
forward 30 days from the discharge.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from carepilot.domain.adherence import Fill, proportion_of_days_covered
from carepilot.domain.profile import Encounter, PatientProfile

READMISSION_WINDOW = timedelta(days=30)
LOOKBACK = timedelta(days=365)
ADHERENCE_LOOKBACK = timedelta(days=180)
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "inpatient"})
# Discharges to hospice or death cannot be readmitted (the benchmark's exclusion, applied here too).
EXCLUDED_DISPOSITIONS = frozenset({"exp", "hosp", "20", "21", "11", "13", "14", "19"})

CONDITIONS = (
    "hypertension",
    "type2_diabetes",
    "ckd",
    "heart_failure",
    "atrial_fibrillation",
    "coronary_disease",
    "copd",
    "depression",
    "nsclc",
    "breast_cancer",
    "colorectal_cancer",
)
LABS = (
    "hba1c",
    "egfr",
    "creatinine",
    "potassium",
    "hemoglobin",
    "bnp",
    "ldl",
    "systolic_bp",
    "diastolic_bp",
    "heart_rate",
    "bmi",
    "body_weight",
    "phq9",
)

# FHIR discharge-disposition codes (http://terminology.hl7.org/CodeSystem/discharge-disposition).
FACILITY_DISPOSITIONS = frozenset({"snf", "rehab", "other-hcf", "long", "psy"})

FEATURES: tuple[str, ...] = (
    "age",
    "male",
    "length_of_stay_days",
    "discharge_to_facility",
    "discharge_home_with_services",
    "prior_inpatient_365d",
    "prior_emergency_365d",
    "n_active_problems",
    "n_active_medications",
    "pdc_180d",
    *(f"has_{c}" for c in CONDITIONS),
    *(f"latest_{lab}" for lab in LABS),
    *(f"days_since_{lab}" for lab in ("hba1c", "egfr")),
)

FEATURE_LABELS: dict[str, tuple[str, str | None]] = {
    "age": ("Age", "years"),
    "male": ("Male sex", None),
    "length_of_stay_days": ("Length of stay", "days"),
    "discharge_to_facility": ("Discharged to a care facility", None),
    "discharge_home_with_services": ("Discharged home with services", None),
    "prior_inpatient_365d": ("Admissions in the past year", None),
    "prior_emergency_365d": ("Emergency visits in the past year", None),
    "n_active_problems": ("Active problems", None),
    "n_active_medications": ("Active medications", None),
    "pdc_180d": ("Medication adherence (PDC, 180 days)", None),
    **{f"has_{c}": (c.replace("_", " ").capitalize(), None) for c in CONDITIONS},
    "latest_hba1c": ("HbA1c", "%"),
    "latest_egfr": ("eGFR", "mL/min/1.73m2"),
    "latest_creatinine": ("Creatinine", "mg/dL"),
    "latest_potassium": ("Potassium", "mmol/L"),
    "latest_hemoglobin": ("Haemoglobin", "g/dL"),
    "latest_bnp": ("BNP", "pg/mL"),
    "latest_ldl": ("LDL cholesterol", "mg/dL"),
    "latest_systolic_bp": ("Systolic BP", "mmHg"),
    "latest_diastolic_bp": ("Diastolic BP", "mmHg"),
    "latest_heart_rate": ("Heart rate", "/min"),
    "latest_bmi": ("BMI", "kg/m2"),
    "latest_body_weight": ("Weight", "kg"),
    "latest_phq9": ("PHQ-9", None),
    "days_since_hba1c": ("Days since last HbA1c", "days"),
    "days_since_egfr": ("Days since last eGFR", "days"),
}


def is_inpatient(encounter: Encounter) -> bool:
    return (encounter.encounter_class or "") in INPATIENT_CLASSES


def features_at(
    profile: PatientProfile, index: datetime, admitted: datetime | None = None, disposition: str | None = None
) -> dict[str, float]:
    """The feature vector of a patient at ``index`` from the profile truncated there (no later data)."""
    p = profile.truncated(index)
    row: dict[str, float] = {}
    code = (disposition or "").lower()
    row["discharge_to_facility"] = 1.0 if code in FACILITY_DISPOSITIONS else 0.0
    row["discharge_home_with_services"] = 1.0 if code == "alt-home" else 0.0
    age = p.age
    row["age"] = float(age) if age is not None else float("nan")
    row["male"] = 1.0 if p.demographics.sex == "male" else 0.0
    row["length_of_stay_days"] = (index - admitted).total_seconds() / 86400.0 if admitted else float("nan")
    since = index - LOOKBACK
    prior = [e for e in p.encounters if e.start is not None and since <= e.start < (admitted or index)]
    row["prior_inpatient_365d"] = float(sum(1 for e in prior if is_inpatient(e)))
    row["prior_emergency_365d"] = float(sum(1 for e in prior if e.encounter_class == "EMER"))
    active = p.active_problems()
    row["n_active_problems"] = float(len(active))
    row["n_active_medications"] = float(len(p.active_medications()))
    concepts = {pr.concept for pr in active}
    for c in CONDITIONS:
        row[f"has_{c}"] = 1.0 if c in concepts else 0.0
    for lab in LABS:
        found = p.latest(lab)
        row[f"latest_{lab}"] = float(found.value) if found is not None and found.value is not None else float("nan")
    for lab in ("hba1c", "egfr"):
        found = p.latest(lab)
        row[f"days_since_{lab}"] = (
            (index - found.effective).total_seconds() / 86400.0
            if found is not None and found.effective is not None
            else float("nan")
        )
    row["pdc_180d"] = mean_pdc(p, index - ADHERENCE_LOOKBACK, index)
    return row


def mean_pdc(profile: PatientProfile, start: datetime, end: datetime) -> float:
    """Mean PDC over the drugs dispensed in the window (NaN when nothing was dispensed)."""
    fills: dict[str, list[Fill]] = defaultdict(list)
    for m in profile.medications:
        if m.resource_type == "MedicationDispense" and m.authored is not None and m.days_supply:
            fills[m.concept or m.code.code].append(Fill(m.authored, m.days_supply))
    values = [v for v in (proportion_of_days_covered(f, start, end) for f in fills.values()) if v is not None]
    return sum(values) / len(values) if values else float("nan")


def readmission_examples(profile: PatientProfile, data_end: datetime) -> list[dict[str, Any]]:
    """One row per eligible inpatient discharge: identifiers, index time, features and the 30-day label.

    Discharges whose 30-day window reaches past ``data_end`` (unknown outcome) or that end in death or hospice
    are left out.
    """
    inpatient = sorted((e for e in profile.encounters if is_inpatient(e) and e.end is not None), key=lambda e: e.end)  # type: ignore[arg-type,return-value]
    rows: list[dict[str, Any]] = []
    for e in inpatient:
        assert e.end is not None  # filtered above
        if e.end + READMISSION_WINDOW > data_end:
            continue
        if (e.discharge_disposition or "").lower() in EXCLUDED_DISPOSITIONS:
            continue
        if profile.demographics.deceased is not None and profile.demographics.deceased <= e.end:
            continue
        readmitted = any(
            o.start is not None and e.end < o.start <= e.end + READMISSION_WINDOW
            for o in profile.encounters
            if is_inpatient(o) and o.resource_id != e.resource_id
        )
        rows.append(
            {
                "patient_id": profile.patient_id,
                "encounter_id": e.resource_id,
                "index_time": e.end,
                **features_at(profile, e.end, e.start, e.discharge_disposition),
                "label": int(readmitted),
            }
        )
    return rows
