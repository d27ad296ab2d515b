"""Point-in-time rows for a treatment decision (a decision spec), one per patient who made it.

The decision time is the first order of any of the decision's options by a patient eligible then; covariates are
read from the profile truncated at that time, and the outcome from the first measurement inside the outcome
window after it (for HbA1c at 6 months: 120 to 240 days, the one nearest 182 days), minus the baseline.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from carepilot.domain.profile import PatientProfile
from carepilot.models.effects.decision import DecisionSpec

OUTCOME_TOLERANCE = 0.35  # share of the horizon a follow-up measurement may be off by


def _key(ref: str) -> str:
    """'medication.metformin' -> 'metformin'."""
    return ref.split(".", 1)[1] if "." in ref else ref


def option_of(spec: DecisionSpec, concept: str | None) -> str | None:
    """The option a drug concept belongs to, or None."""
    for option in spec.options:
        if concept is not None and concept in {_key(c) for c in option.concepts}:
            return option.key
    return None


def eligible(profile: PatientProfile, spec: DecisionSpec) -> bool:
    """Whether the (truncated) profile meets the decision's eligibility at its ``as_of``."""
    e = spec.eligibility
    age = profile.age
    if e.min_age is not None and (age is None or age < e.min_age):
        return False
    active = {p.concept for p in profile.active_problems()}
    if not all(_key(c) in active for c in e.conditions):
        return False
    if any(_key(c) in active for c in e.exclude_conditions):
        return False
    meds = {m.concept for m in profile.active_medications()}
    return all(_key(c) in meds for c in e.current_medications)


def covariates_at(profile: PatientProfile, spec: DecisionSpec, at: datetime) -> dict[str, float]:
    """The spec's covariates as known at ``at`` (NaN where nothing was recorded)."""
    p = profile.truncated(at)
    out: dict[str, float] = {}
    active = {pr.concept: pr for pr in p.active_problems()}
    for name in spec.covariates:
        if name == "age":
            out[name] = float(p.age) if p.age is not None else math.nan
        elif name == "sex":
            out[name] = 1.0 if p.demographics.sex == "male" else 0.0
        elif name == "diabetes_years":
            onset = active.get("type2_diabetes")
            out[name] = (at - onset.onset).days / 365.25 if onset is not None and onset.onset else math.nan
        elif name in ("heart_failure", "ckd", "coronary_disease", "hypertension", "copd", "depression"):
            out[name] = 1.0 if name in active else 0.0
        else:
            value = p.latest_value(name)
            out[name] = float(value) if value is not None else math.nan
    return out


def outcome_after(profile: PatientProfile, concept: str, start: datetime, horizon: timedelta) -> float | None:
    """The measurement nearest ``start + horizon`` within the tolerance window, or None."""
    target = start + horizon
    slack = horizon * OUTCOME_TOLERANCE
    best = None
    for m in profile.series(concept):
        if m.value is None or m.effective is None or abs(m.effective - target) > slack:
            continue
        if best is None or abs(m.effective - target) < abs(best.effective - target):  # type: ignore[operator]
            best = m
    return best.value if best is not None else None


def decision_example(profile: PatientProfile, spec: DecisionSpec) -> dict[str, Any] | None:
    """The patient's row for this decision (covariates, option, outcome change), or None when there is none."""
    starts = sorted(
        (
            m
            for m in profile.medications
            if m.resource_type == "MedicationRequest"
            and m.authored is not None
            and option_of(spec, m.concept) is not None
        ),
        key=lambda m: m.authored,  # type: ignore[arg-type,return-value]
    )
    if spec.outcome.concept is None or spec.outcome.horizon_days is None:
        return None
    concept = _key(spec.outcome.concept)
    horizon = timedelta(days=spec.outcome.horizon_days)
    for med in starts:
        at = med.authored
        assert at is not None  # filtered above
        if not eligible(profile.truncated(at), spec):
            continue
        baseline = profile.truncated(at).latest_value(concept)
        follow = outcome_after(profile, concept, at, horizon)
        if baseline is None or follow is None:
            return None
        return {
            "patient_id": profile.patient_id,
            "decision_time": at,
            "option": option_of(spec, med.concept),
            **covariates_at(profile, spec, at),
            spec.outcome.key: follow - baseline,
        }
    return None


def current_option(profile: PatientProfile, spec: DecisionSpec) -> str | None:
    """The option the patient is on now, if any."""
    for m in profile.active_medications():
        found = option_of(spec, m.concept)
        if found is not None:
            return found
    return None
