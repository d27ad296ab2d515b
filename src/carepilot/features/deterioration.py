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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
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
DAY_SECONDS = 86_400.0

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


def _compare(history: np.ndarray, current: float) -> tuple[float, float]:
    base = fit_baseline(history, min_days=MIN_BASELINE_DAYS, scale_floor=1.0)
    if base is None or not math.isfinite(current):
        return _nan(), _nan()
    cmp = base.compare(current)
    return cmp.delta, cmp.z


SUMMARY_COLUMNS = ("rhr", "steps", "spo2", "weight", "glucose_mean", "glucose_cv")


@dataclass(frozen=True)
class DaySeries:
    """One patient's daily summaries as arrays: day starts (epoch seconds, ascending) and one array per column."""

    day: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def of(cls, days: pd.DataFrame) -> DaySeries:
        """Arrays from a daily-summary frame (as ``daily_summaries`` returns, for one patient)."""
        if days.empty:
            return cls(np.empty(0), {c: np.empty(0) for c in SUMMARY_COLUMNS})
        ordered = days.sort_values("day")
        starts = pd.to_datetime(ordered["day"], utc=True)
        seconds = (starts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()
        cols = {
            c: ordered[c].to_numpy(dtype=float) if c in ordered else np.full(len(ordered), np.nan)
            for c in SUMMARY_COLUMNS
        }
        return cls(seconds, cols)


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def stream_features_at(days: pd.DataFrame | DaySeries, index: datetime) -> dict[str, float]:
    """Wearable trend features from one patient's daily summaries, using only days that ended by ``index``."""
    series = days if isinstance(days, DaySeries) else DaySeries.of(days)
    # ``stream_days`` (how many complete days the baseline rests on) is kept beside the features, not used by the
    # model: it only says where an index falls in the device window, which differs between training and scoring.
    row = {name: _nan() for name in STREAM_FEATURES}
    t = index.timestamp()
    # A day is complete once its midnight has passed: keep days whose end (start + 1 day) is at or before the index.
    lo = int(np.searchsorted(series.day, t - (BASELINE_DAYS + 1) * DAY_SECONDS, side="left"))
    hi = int(np.searchsorted(series.day, t - DAY_SECONDS, side="right"))
    row["stream_days"] = float(max(hi - lo, 0))
    if hi <= lo:
        return row
    cols = {c: v[lo:hi] for c, v in series.columns.items()}
    rhr, steps, spo2 = cols["rhr"], cols["steps"], cols["spo2"]
    if math.isfinite(rhr[-1]):
        row["rhr_current"] = float(rhr[-1])
        row["rhr_delta"], row["rhr_z"] = _compare(_finite(rhr[:-1]), float(rhr[-1]))
    if math.isfinite(steps[-1]):
        base = fit_baseline(_finite(steps[:-1]), min_days=MIN_BASELINE_DAYS)
        if base is not None and base.center > 0:
            row["steps_ratio"] = float(steps[-1]) / base.center
    if math.isfinite(spo2[-1]):
        row["spo2_delta"], _ = _compare(_finite(spo2[:-1]), float(spo2[-1]))
    weight = cols["weight"]
    known = np.isfinite(weight)
    if known.sum() >= 2:
        w_days, w = series.day[lo:hi][known], weight[known]
        earlier = [(float(d), float(v)) for d, v in zip(w_days[:-1], w[:-1], strict=True)]
        gain = weight_gain(earlier, float(w_days[-1]), float(w[-1]), days=3.0)
        if gain is not None:
            row["weight_gain_3d"] = gain[0]
    if math.isfinite(cols["glucose_mean"][-1]):
        row["glucose_mean"] = float(cols["glucose_mean"][-1])
        row["glucose_cv"] = float(cols["glucose_cv"][-1])
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


def features_at(profile: PatientProfile, days: pd.DataFrame | DaySeries, index: datetime) -> dict[str, float]:
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
    series = DaySeries.of(days)
    for index in index_days(days, data_end):
        if deceased is not None and deceased <= index:
            break
        # After an acute event inside the stream window the patient is under acute care: stop there.
        if any(stream_start <= t <= index for t in acute):
            break
        label = any(index < t <= index + HORIZON for t in acute)
        rows.append(
            {
                "patient_id": profile.patient_id,
                "index_time": index,
                **features_at(profile, series, index),
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
