"""Point-in-time features and time-to-event outcomes for disease progression from a landmark date.

Landmark analysis (Anderson, Cain & Gelber, J Clin Oncol 1983; van Houwelingen, Scand J Stat 2007): every
eligible patient is described as the record stood at one landmark date (``profile.truncated(landmark)``), and
the outcome is the time from the landmark to the first event, censored at the last observation.

Two outcomes, both read from the record:

* **CKD progression** (patients with an eGFR in the year before the landmark): a sustained KDIGO GFR-category
  worsening, or a sustained eGFR decline of 40% or more from baseline (the 40% decline surrogate endpoint of
  Levey et al., Am J Kidney Dis 2014;64:821-835). Baseline is the median eGFR of the year before the landmark;
  "sustained" means two consecutive measurements both meet the criterion (the event time is the first). Time is
  censored at the last eGFR measured.
* **Diabetes complications** (patients with type 2 diabetes active at the landmark): the first new diagnosis of
  CKD, heart failure or coronary disease, or the first admission or emergency visit for myocardial infarction,
  heart failure or hyperglycaemia, after the landmark. Time is censored at the end of the data (or death).

Nothing after the landmark reaches a feature (tests/unit/test_features_progression_leakage.py).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from carepilot.domain.profile import Encounter, Measurement, PatientProfile
from carepilot.features.readmission import is_inpatient
from carepilot.knowledge.concepts import concept_map

OUTCOMES = ("ckd", "diabetes")
BASELINE_WINDOW = timedelta(days=365)
DECLINE = 0.40
COMPLICATION_CONDITIONS = frozenset({"ckd", "heart_failure", "coronary_disease"})
# SNOMED CT reason codes and words that mark an acute diabetes-related complication visit.
COMPLICATION_REASONS = {
    "22298006": "myocardial infarction",
    "84114007": "heart failure",
    "80394007": "hyperglycemia",
}

CONDITIONS = ("hypertension", "type2_diabetes", "ckd", "heart_failure", "coronary_disease", "atrial_fibrillation")
LABS = ("egfr", "creatinine", "hba1c", "ldl", "potassium", "systolic_bp", "bmi")
# Drug classes from the concept table (knowledge/data/concepts.toml).
DRUGS = ("biguanide", "insulin", "sglt2_inhibitor", "glp1_agonist", "ace_inhibitor", "statin", "loop_diuretic")
FEATURES: tuple[str, ...] = (
    "age",
    "male",
    "baseline_egfr",
    "egfr_slope_per_year",
    "n_egfr_year",
    *(f"latest_{lab}" for lab in LABS),
    *(f"has_{c}" for c in CONDITIONS),
    *(f"on_{d}" for d in DRUGS),
    "prior_inpatient_365d",
    "n_active_medications",
)

FEATURE_LABELS: dict[str, tuple[str, str | None]] = {
    "age": ("Age", "years"),
    "male": ("Male sex", None),
    "baseline_egfr": ("Baseline eGFR (median of the past year)", "mL/min/1.73m2"),
    "egfr_slope_per_year": ("eGFR change over the past year", "mL/min/1.73m2 per year"),
    "n_egfr_year": ("eGFR tests in the past year", None),
    "latest_egfr": ("eGFR", "mL/min/1.73m2"),
    "latest_creatinine": ("Creatinine", "mg/dL"),
    "latest_hba1c": ("HbA1c", "%"),
    "latest_ldl": ("LDL cholesterol", "mg/dL"),
    "latest_potassium": ("Potassium", "mmol/L"),
    "latest_systolic_bp": ("Systolic BP", "mmHg"),
    "latest_bmi": ("BMI", "kg/m2"),
    **{f"has_{c}": (c.replace("_", " ").capitalize(), None) for c in CONDITIONS},
    **{f"on_{d}": (d.replace("_", " ").capitalize(), None) for d in DRUGS},
    "prior_inpatient_365d": ("Admissions in the past year", None),
    "n_active_medications": ("Active medications", None),
}


@dataclass(frozen=True)
class Outcome:
    """Time from the landmark to the first event (days) and whether it was an event or censoring."""

    event: bool
    days: float


def kdigo_category(egfr: float) -> int:
    """KDIGO 2012 GFR category as an ordinal: G1=1, G2=2, G3a=3, G3b=4, G4=5, G5=6."""
    for rank, floor in enumerate((90.0, 60.0, 45.0, 30.0, 15.0), start=1):
        if egfr >= floor:
            return rank
    return 6


def _values(series: tuple[Measurement, ...], start: datetime | None, end: datetime) -> list[Measurement]:
    return [
        m
        for m in series
        if m.effective is not None
        and m.value is not None
        and (start is None or m.effective >= start)
        and m.effective < end
    ]


def baseline_egfr(profile: PatientProfile, landmark: datetime) -> float | None:
    """Median eGFR over the year before the landmark (None when none was measured)."""
    found = _values(profile.series("egfr"), landmark - BASELINE_WINDOW, landmark)
    values = [float(m.value) for m in found if m.value is not None]
    return float(statistics.median(values)) if values else None


def _slope(points: list[Measurement]) -> float:
    """Least-squares eGFR change per year over the points (NaN with fewer than two distinct times)."""
    if len(points) < 2:
        return float("nan")
    t = [(m.effective - points[0].effective).total_seconds() / (365.25 * 86400.0) for m in points]  # type: ignore[operator]
    v = [float(m.value) for m in points]  # type: ignore[arg-type]
    mt, mv = sum(t) / len(t), sum(v) / len(v)
    den = sum((x - mt) ** 2 for x in t)
    if den == 0.0:
        return float("nan")
    return sum((x - mt) * (y - mv) for x, y in zip(t, v, strict=True)) / den


def features_at(profile: PatientProfile, landmark: datetime) -> dict[str, float]:
    """The progression feature vector as the record stood at ``landmark``."""
    p = profile.truncated(landmark)
    row: dict[str, float] = {}
    age = p.age
    row["age"] = float(age) if age is not None else math.nan
    row["male"] = 1.0 if p.demographics.sex == "male" else 0.0
    year = _values(p.series("egfr"), landmark - BASELINE_WINDOW, landmark)
    base = baseline_egfr(p, landmark)
    row["baseline_egfr"] = base if base is not None else math.nan
    row["egfr_slope_per_year"] = _slope(year)
    row["n_egfr_year"] = float(len(year))
    for lab in LABS:
        found = p.latest(lab)
        row[f"latest_{lab}"] = float(found.value) if found is not None and found.value is not None else math.nan
    concepts = {pr.concept for pr in p.active_problems()}
    for c in CONDITIONS:
        row[f"has_{c}"] = 1.0 if c in concepts else 0.0
    active = p.active_medications()
    cmap = concept_map()
    drugs = {cmap.concepts[m.concept].drug_class for m in active if m.concept in cmap.concepts}
    for d in DRUGS:
        row[f"on_{d}"] = 1.0 if d in drugs else 0.0
    prior = [e for e in p.encounters if e.start is not None and landmark - BASELINE_WINDOW <= e.start < landmark]
    row["prior_inpatient_365d"] = float(sum(1 for e in prior if is_inpatient(e)))
    row["n_active_medications"] = float(len(active))
    return row


def ckd_outcome(profile: PatientProfile, landmark: datetime, end: datetime) -> Outcome | None:
    """Sustained KDIGO category worsening or 40% eGFR decline after the landmark; None when not eligible."""
    base = baseline_egfr(profile, landmark)
    if base is None or kdigo_category(base) == 6:
        return None
    after = [m for m in _values(profile.series("egfr"), landmark, end) if m.effective > landmark]  # type: ignore[operator]
    if not after:
        return None
    stage = kdigo_category(base)

    def worse(m: Measurement) -> bool:
        value = float(m.value)  # type: ignore[arg-type]
        return kdigo_category(value) > stage or value <= (1.0 - DECLINE) * base

    for first, second in itertools.pairwise(after):
        if worse(first) and worse(second):
            return Outcome(True, _days(landmark, first.effective))  # type: ignore[arg-type]
    return Outcome(False, _days(landmark, after[-1].effective))  # type: ignore[arg-type]


def _complication_visit(e: Encounter) -> bool:
    if not (is_inpatient(e) or e.encounter_class == "EMER"):
        return False
    reason = (e.reason or "").lower()
    return any(code in reason or words in reason for code, words in COMPLICATION_REASONS.items())


def diabetes_outcome(profile: PatientProfile, landmark: datetime, end: datetime) -> Outcome | None:
    """First new complication diagnosis or complication visit after the landmark; None when not eligible."""
    at = profile.truncated(landmark)
    if not at.has_condition("type2_diabetes"):
        return None
    before = {pr.concept for pr in at.active_problems()}
    times: list[datetime] = []
    for pr in profile.problems:
        when = pr.onset or pr.recorded
        new = pr.concept in COMPLICATION_CONDITIONS and pr.concept not in before
        if new and when is not None and landmark < when <= end:
            times.append(when)
    for e in profile.encounters:
        if e.start is not None and landmark < e.start <= end and _complication_visit(e):
            times.append(e.start)
    stop = end
    if profile.demographics.deceased is not None and profile.demographics.deceased < stop:
        stop = profile.demographics.deceased
    times = [t for t in times if t <= stop]
    if times:
        return Outcome(True, _days(landmark, min(times)))
    if stop <= landmark:
        return None
    return Outcome(False, _days(landmark, stop))


def _days(landmark: datetime, when: datetime) -> float:
    # Survival times must be positive: an event on the landmark day counts as half a day.
    return max((when - landmark).total_seconds() / 86400.0, 0.5)


OUTCOME_RULES = {"ckd": ckd_outcome, "diabetes": diabetes_outcome}


def progression_example(
    profile: PatientProfile, landmark: datetime, end: datetime, outcome: str
) -> dict[str, Any] | None:
    """One row (features at the landmark, event, time) for one outcome; None when the patient is not eligible."""
    result = OUTCOME_RULES[outcome](profile, landmark, end)
    if result is None:
        return None
    return {
        "patient_id": profile.patient_id,
        "landmark": landmark,
        **features_at(profile, landmark),
        "event": result.event,
        "time": result.days,
    }
