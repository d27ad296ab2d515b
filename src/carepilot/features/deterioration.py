"""Point-in-time features for deterioration within 7 days, one example per monitored patient per day.

The index time is midnight (UTC) of each day a patient's wearable or home-device streams cover. Record
features come from ``profile.truncated(index)``; stream features come only from whole days that ended at or
before the index (``daily_summaries`` buckets readings by UTC day, and ``stream_features_at`` keeps days
strictly before the index day), so nothing measured after the index time can reach a feature
(tests/unit/test_features_deterioration_leakage.py proves it).

The label looks forward 7 days: an emergency visit or an unplanned inpatient admission starting in
(index, index + 7 days], which is how a deterioration episode shows in the record. Index days after a
patient's first such event in the stream window are not used (the patient is then under acute care).

Stream features follow the monitor's definitions (``monitoring/baselines.py``): resting heart rate as the
daily 25th percentile of heart-rate readings against the personal baseline of the preceding days (Mishra
et al., Nat Biomed Eng 2020), daily steps against their baseline, weight gain over 3 days (ESC 2021 heart
failure guideline: > 2 kg in 3 days), SpO2 against baseline and CGM mean glucose and its coefficient of
variation (Battelino et al., Diabetes Care 2019). NEWS2 (RCP 2017) is computed from the latest complete set of
recorded vital signs before the index.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from carepilot.domain.profile import Encounter, PatientProfile
from carepilot.errors import InputError
from carepilot.features.readmission import is_inpatient
from carepilot.monitoring.baselines import fit_baseline, weight_gain
from carepilot.monitoring.news2 import Consciousness, News2Input, news2

HORIZON = timedelta(days=7)
LOOKBACK = timedelta(days=365)
BASELINE_DAYS = 28
MIN_BASELINE_DAYS = 5
# Vital signs taken at one encounter are written within minutes of each other; a NEWS2 set must be this close.
VITALS_SET_WINDOW = timedelta(hours=6)
EVENT_CLASSES = frozenset({"EMER"})
READING_COLUMNS = ("patient_id", "type", "time", "value")

CONDITIONS = ("heart_failure", "copd", "type2_diabetes", "ckd", "coronary_disease", "atrial_fibrillation")
LABS = ("egfr", "creatinine", "potassium", "hemoglobin", "bnp", "hba1c")
STREAM_FEATURES = (
    "rhr_current",
    "rhr_delta",
    "rhr_z",
    "steps_ratio",
    "weight_gain_3d",
    "spo2_delta",
    "glucose_mean",
    "glucose_cv",
    "stream_days",
)
FEATURES: tuple[str, ...] = (
    "age",
    "male",
    "news2",
    "days_since_vitals",
    "prior_inpatient_365d",
    "prior_emergency_365d",
    *(f"has_{c}" for c in CONDITIONS),
    *(f"latest_{lab}" for lab in LABS),
    *STREAM_FEATURES,
)

FEATURE_LABELS: dict[str, tuple[str, str | None]] = {
    "age": ("Age", "years"),
    "male": ("Male sex", None),
    "news2": ("NEWS2 score at the last recorded vital signs", None),
    "days_since_vitals": ("Days since vital signs were last recorded", "days"),
    "prior_inpatient_365d": ("Admissions in the past year", None),
    "prior_emergency_365d": ("Emergency visits in the past year", None),
    **{f"has_{c}": (c.replace("_", " ").capitalize(), None) for c in CONDITIONS},
    "latest_egfr": ("eGFR", "mL/min/1.73m2"),
    "latest_creatinine": ("Creatinine", "mg/dL"),
    "latest_potassium": ("Potassium", "mmol/L"),
    "latest_hemoglobin": ("Haemoglobin", "g/dL"),
    "latest_bnp": ("BNP", "pg/mL"),
    "latest_hba1c": ("HbA1c", "%"),
    "rhr_current": ("Resting heart rate yesterday", "/min"),
    "rhr_delta": ("Resting heart rate above personal baseline", "/min"),
    "rhr_z": ("Resting heart rate change (robust z)", None),
    "steps_ratio": ("Steps yesterday as a share of personal baseline", None),
    "weight_gain_3d": ("Weight gain over 3 days", "kg"),
    "spo2_delta": ("SpO2 change from personal baseline", "%"),
    "glucose_mean": ("Mean CGM glucose yesterday", "mg/dL"),
    "glucose_cv": ("Glucose variability yesterday (CV)", None),
    "stream_days": ("Days of device data before today", "days"),
}


def _nan() -> float:
    return float("nan")


def daily_summaries(readings: pd.DataFrame) -> pd.DataFrame:
    """Per patient and UTC day: resting HR (p25), total steps, mean SpO2, last weight, CGM mean and CV.

    ``readings`` needs columns patient_id, type, time (tz-aware or UTC), value; other reading types are ignored.
    """
    missing = [c for c in READING_COLUMNS if c not in readings.columns]
    if missing:
        raise InputError(f"readings table lacks column(s) {missing}")
    r = readings[list(READING_COLUMNS)].copy()
    r["time"] = pd.to_datetime(r["time"], utc=True)
    r["day"] = r["time"].dt.floor("D")
    keys = ["patient_id", "day"]
    parts = []
    hr = r[r["type"] == "heart_rate"].groupby(keys)["value"].quantile(0.25).rename("rhr")
    parts.append(hr)
    parts.append(r[r["type"] == "steps"].groupby(keys)["value"].sum().rename("steps"))
    parts.append(r[r["type"] == "spo2"].groupby(keys)["value"].mean().rename("spo2"))
    weights = r[r["type"] == "weight"].sort_values("time")
    parts.append(weights.groupby(keys)["value"].last().rename("weight"))
    glucose = r[r["type"] == "cgm_glucose"].groupby(keys)["value"]
    parts.append(glucose.mean().rename("glucose_mean"))
    parts.append((glucose.std(ddof=0) / glucose.mean()).rename("glucose_cv"))
    out = pd.concat(parts, axis=1).reset_index()
    return out.sort_values(keys).reset_index(drop=True)


def _compare(history: pd.Series, current: float) -> tuple[float, float]:
    base = fit_baseline(history.to_numpy(dtype=float), min_days=MIN_BASELINE_DAYS, scale_floor=1.0)
    if base is None or not math.isfinite(current):
        return _nan(), _nan()
    cmp = base.compare(current)
    return cmp.delta, cmp.z


def stream_features_at(days: pd.DataFrame, index: datetime) -> dict[str, float]:
    """Wearable trend features from one patient's daily summaries, using only days that ended by ``index``."""
    row = {name: _nan() for name in STREAM_FEATURES}
    if days.empty:
        row["stream_days"] = 0.0
        return row
    # A day is complete once its midnight has passed: keep days whose end (day + 1) is at or before the index.
    before = days[days["day"] + pd.Timedelta(days=1) <= pd.Timestamp(index)]
    before = before[before["day"] >= pd.Timestamp(index) - pd.Timedelta(days=BASELINE_DAYS + 1)]
    row["stream_days"] = float(len(before))
    if before.empty:
        return row
    last = before.iloc[-1]
    history = before.iloc[:-1]
    if pd.notna(last.get("rhr")):
        row["rhr_current"] = float(last["rhr"])
        row["rhr_delta"], row["rhr_z"] = _compare(history["rhr"].dropna(), float(last["rhr"]))
    if pd.notna(last.get("steps")):
        base = fit_baseline(history["steps"].dropna().to_numpy(dtype=float), min_days=MIN_BASELINE_DAYS)
        if base is not None and base.center > 0:
            row["steps_ratio"] = float(last["steps"]) / base.center
    if pd.notna(last.get("spo2")):
        row["spo2_delta"], _ = _compare(history["spo2"].dropna(), float(last["spo2"]))
    weights = before[["day", "weight"]].dropna()
    if len(weights) >= 2:
        t_now = weights["day"].iloc[-1].timestamp()
        earlier = [
            (d.timestamp(), float(w))
            for d, w in zip(weights["day"].iloc[:-1], weights["weight"].iloc[:-1], strict=True)
        ]
        gain = weight_gain(earlier, t_now, float(weights["weight"].iloc[-1]), days=3.0)
        if gain is not None:
            row["weight_gain_3d"] = gain[0]
    if pd.notna(last.get("glucose_mean")):
        row["glucose_mean"] = float(last["glucose_mean"])
        row["glucose_cv"] = float(last["glucose_cv"])
    return row


def news2_at(profile: PatientProfile) -> tuple[float, float]:
    """NEWS2 from the latest complete vital-sign set in the profile and its age in days (NaN when none).

    Consciousness is taken as alert and the patient as breathing air: the record holds neither, and both
    would only add points.
    """
    rr = profile.latest("respiratory_rate")
    if rr is None or rr.effective is None or rr.value is None:
        return _nan(), _nan()
    values: dict[str, float] = {"respiratory_rate": rr.value}
    for concept in ("spo2", "systolic_bp", "heart_rate", "temperature"):
        found = [
            m
            for m in profile.series(concept)
            if m.effective is not None and m.value is not None and abs(m.effective - rr.effective) <= VITALS_SET_WINDOW
        ]
        if not found:
            return _nan(), _nan()
        values[concept] = float(found[-1].value)  # type: ignore[arg-type]
    try:
        result = news2(
            News2Input(
                respiratory_rate=values["respiratory_rate"],
                spo2=values["spo2"],
                on_oxygen=False,
                systolic_bp=values["systolic_bp"],
                pulse=values["heart_rate"],
                consciousness=Consciousness.ALERT,
                temperature=values["temperature"],
            )
        )
    except InputError:
        return _nan(), _nan()
    age = (profile.as_of - rr.effective).total_seconds() / 86400.0
    return float(result.score), age


def record_features_at(profile: PatientProfile, index: datetime) -> dict[str, float]:
    """Demographic, NEWS2, utilisation, condition and lab features from the record as it stood at ``index``."""
    p = profile.truncated(index)
    row: dict[str, float] = {}
    age = p.age
    row["age"] = float(age) if age is not None else _nan()
    row["male"] = 1.0 if p.demographics.sex == "male" else 0.0
    row["news2"], row["days_since_vitals"] = news2_at(p)
    since = index - LOOKBACK
    prior = [e for e in p.encounters if e.start is not None and since <= e.start < index]
    row["prior_inpatient_365d"] = float(sum(1 for e in prior if is_inpatient(e)))
    row["prior_emergency_365d"] = float(sum(1 for e in prior if e.encounter_class == "EMER"))
    concepts = {pr.concept for pr in p.active_problems()}
    for c in CONDITIONS:
        row[f"has_{c}"] = 1.0 if c in concepts else 0.0
    for lab in LABS:
        found = p.latest(lab)
        row[f"latest_{lab}"] = float(found.value) if found is not None and found.value is not None else _nan()
    return row


def features_at(profile: PatientProfile, days: pd.DataFrame, index: datetime) -> dict[str, float]:
    """The full deterioration feature vector at ``index`` (record + streams, nothing later)."""
    return {**record_features_at(profile, index), **stream_features_at(days, index)}


def is_acute(encounter: Encounter) -> bool:
    """An emergency visit or an inpatient admission: how a deterioration shows in the record."""
    return encounter.encounter_class in EVENT_CLASSES or is_inpatient(encounter)


def index_days(days: pd.DataFrame, data_end: datetime) -> list[datetime]:
    """Midnights from the first full stream day + ``MIN_BASELINE_DAYS`` until 7 days before ``data_end``."""
    if days.empty:
        return []
    first = days["day"].min() + pd.Timedelta(days=MIN_BASELINE_DAYS + 1)
    last = pd.Timestamp(data_end).floor("D") - pd.Timedelta(days=HORIZON.days)
    return [d.to_pydatetime() for d in pd.date_range(first, last, freq="D", tz=UTC)] if first <= last else []


def deterioration_examples(profile: PatientProfile, days: pd.DataFrame, data_end: datetime) -> list[dict[str, Any]]:
    """One row per index day for a monitored patient: identifiers, index time, features and the 7-day label."""
    acute = sorted(e.start for e in profile.encounters if is_acute(e) and e.start is not None)
    deceased = profile.demographics.deceased
    rows: list[dict[str, Any]] = []
    if days.empty:
        return rows
    stream_start = pd.Timestamp(days["day"].min()).to_pydatetime()
    for index in index_days(days, data_end):
        if deceased is not None and deceased <= index:
            break
        # After an acute event inside the stream window the patient is under acute care: stop there.
        if any(stream_start <= t < index for t in acute):
            break
        label = any(index < t <= index + HORIZON for t in acute)
        rows.append(
            {
                "patient_id": profile.patient_id,
                "index_time": index,
                **features_at(profile, days, index),
                "label": int(label),
            }
        )
    return rows


def patient_days(summaries: pd.DataFrame, patient_id: str) -> pd.DataFrame:
    """One patient's daily summaries (empty frame with the right columns when none)."""
    if summaries.empty:
        return summaries
    return summaries[summaries["patient_id"] == patient_id]


def as_utc(value: Any) -> datetime:
    """A timestamp as an aware UTC datetime."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()
