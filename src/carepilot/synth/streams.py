"""Wearable, home-device and CGM readings for the most recent weeks, generated vectorised with numpy.

Each stream is a (persons x time points) array built in one go; a deterioration episode adds its drift as a
linear ramp from ``drift_start`` to the event (rising resting heart rate, falling steps, weight gain in heart
failure, lower SpO2 in COPD, higher and more variable glucose), fading over three days afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.signal import lfilter

from carepilot.synth.conditions import Conditions
from carepilot.synth.outcomes import Deterioration
from carepilot.synth.people import People
from carepilot.synth.physiology import Physiology

UNITS = {
    "heart_rate": "/min",
    "steps": "/d",
    "spo2": "%",
    "weight": "kg",
    "cgm_glucose": "mg/dL",
    "systolic_bp": "mm[Hg]",
    "diastolic_bp": "mm[Hg]",
}
TYPES = tuple(UNITS)
DEVICES = {
    "heart_rate": "wrist_wearable",
    "steps": "wrist_wearable",
    "spo2": "wrist_wearable",
    "weight": "smart_scale",
    "cgm_glucose": "cgm_sensor",
    "systolic_bp": "bp_cuff",
    "diastolic_bp": "bp_cuff",
}


@dataclass
class StreamPlan:
    """Who carries which device."""

    wearable: np.ndarray  # bool per person
    scale: np.ndarray
    cgm: np.ndarray
    cuff: np.ndarray


def plan_devices(
    rng: np.random.Generator, people: People, cond: Conditions, insulin: np.ndarray, fraction: float
) -> StreamPlan:
    """Device ownership: ~25% wear a tracker (Pew 2020: 21% of US adults), more in heart failure remote
    monitoring; every HF patient weighs daily; insulin users wear a CGM; 30% of hypertensives use a home cuff.
    ``fraction`` limits streams to that share of persons (for benchmarks)."""
    n = people.n
    eligible = rng.random(n) < fraction
    u = rng.random((n, 2))
    hf = cond.has["heart_failure"]
    wearable = eligible & (u[:, 0] < np.where(hf, 0.6, 0.25) + np.where(people.age < 50, 0.05, 0.0))
    cuff = eligible & cond.has["hypertension"] & (u[:, 1] < 0.3)
    return StreamPlan(wearable=wearable, scale=eligible & hf, cgm=eligible & insulin, cuff=cuff)


def _ramp(t: np.ndarray, start: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Drift intensity in [0, 1]: linear from start to event, fading over 3 days after (NaN start -> 0)."""
    start = start[:, None]
    event = event[:, None]
    rising = np.clip((t[None, :] - start) / np.maximum(event - start, 1e-6), 0.0, 1.0)
    after = t[None, :] > event
    fading = np.clip(1.0 - (t[None, :] - event) / 3.0, 0.0, 1.0)
    out = np.where(after, fading, rising)
    return np.nan_to_num(out, nan=0.0)


def _columns(
    persons: np.ndarray, t_days: np.ndarray, values: np.ndarray, kind: str, start_s: int
) -> dict[str, np.ndarray]:
    p, k = values.shape
    return {
        "pid": np.repeat(persons, k),
        "type": np.full(p * k, TYPES.index(kind), dtype=np.int32),
        "time": (start_s + np.round(np.tile(t_days, p) * 86400.0)).astype(np.int64),
        "value": values.reshape(-1).astype(float),
    }


def generate_streams(
    rng: np.random.Generator,
    people: People,
    cond: Conditions,
    phys: Physiology,
    plan: StreamPlan,
    det: Deterioration,
    hba1c_end: np.ndarray,
    window_start: np.datetime64,
    window_days: float,
    stream_days: int = 28,
    cgm_days: int = 14,
) -> pa.Table:
    """All readings as one Arrow table: patient_id, type, time (UTC), value, unit, device."""
    n = people.n
    start_s = int(window_start.astype("datetime64[s]").astype(np.int64))
    d0 = window_days - stream_days
    drift_start = np.full(n, np.nan)
    event = np.full(n, np.nan)
    kind = np.full(n, "", dtype=object)
    drift_start[det.person] = det.drift_start_day
    event[det.person] = det.event_day
    kind[det.person] = det.kind
    parts: list[dict[str, np.ndarray]] = []
    comorb = cond.count()

    w = np.flatnonzero(plan.wearable)
    if len(w):
        th = d0 + np.arange(stream_days * 24) / 24.0
        hour = (np.arange(stream_days * 24) % 24).astype(float)
        ramp = _ramp(th, drift_start[w], event[w])
        awake = (hour >= 8) & (hour <= 21)
        hr = (
            phys.hr0[w, None]
            - 4.0
            + 5.0 * np.sin(2 * np.pi * (hour - 10.0) / 24.0)[None, :]
            + awake[None, :] * rng.gamma(2.0, 4.0, (len(w), len(th)))
            + rng.normal(0, 3.0, (len(w), len(th)))
            + 12.0 * ramp
        )
        parts.append(_columns(w, th, np.round(np.clip(hr, 35, 190)), "heart_rate", start_s))
        td = d0 + np.arange(stream_days) + 0.99  # daily totals stamped at the end of the day
        ramp_d = _ramp(td, drift_start[w], event[w])
        # Steps: median ~6,500/day at age 40, falling with age and each chronic condition (US adults average
        # ~5,000-6,500/day; Tudor-Locke et al., IJBNPA 2011).
        base = np.exp(rng.normal(np.log(6500.0), 0.35, len(w))) * np.clip(1.0 - 0.012 * (people.age[w] - 40), 0.35, 1.2)
        base = base * 0.88 ** comorb[w]
        steps = base[:, None] * np.exp(rng.normal(0, 0.3, (len(w), stream_days))) * (1.0 - 0.5 * ramp_d)
        parts.append(_columns(w, td, np.round(steps), "steps", start_s))
        copd = cond.has["copd"][w].astype(float)
        spo2 = (
            97.2
            - 2.5 * copd[:, None]
            - 1.0 * cond.has["heart_failure"][w, None]
            + rng.normal(0, 0.8, (len(w), stream_days))
            - 3.0 * ramp_d * (kind[w] == "copd")[:, None]
        )
        parts.append(
            _columns(
                w,
                d0 + np.arange(stream_days) + 0.25,
                np.round(np.clip(spo2, 80, 100)),
                "spo2",
                start_s,
            )
        )

    s = np.flatnonzero(plan.scale)
    if len(s):
        td = d0 + np.arange(stream_days) + 0.3
        ramp = _ramp(td, drift_start[s], event[s]) * (kind[s] == "heart_failure")[:, None]
        weight = people.weight_kg[s, None] + rng.normal(0, 0.35, (len(s), stream_days)) + 3.0 * ramp
        parts.append(_columns(s, td, np.round(weight, 1), "weight", start_s))

    c = np.flatnonzero(plan.cuff)
    if len(c):
        td = d0 + np.arange(stream_days) + 0.33
        sbp = phys.sbp0[c, None] - 5.0 + rng.normal(0, 8.0, (len(c), stream_days))
        dbp = phys.dbp0[c, None] - 3.0 + rng.normal(0, 5.0, (len(c), stream_days))
        parts.append(_columns(c, td, np.round(sbp), "systolic_bp", start_s))
        parts.append(_columns(c, td, np.round(dbp), "diastolic_bp", start_s))

    g = np.flatnonzero(plan.cgm)
    if len(g):
        k = cgm_days * 288
        tg = window_days - cgm_days + np.arange(k) / 288.0
        hour = (np.arange(k) % 288) / 12.0
        ramp = _ramp(tg, drift_start[g], event[g])
        # Mean glucose from HbA1c by the ADAG relation eAG = 28.7 x A1c - 46.7 (Nathan et al., Diabetes Care
        # 2008).
        mean = 28.7 * hba1c_end[g] - 46.7
        meals = np.exp(-0.5 * (hour[:, None] - np.array([8.0, 13.0, 19.0])[None, :]) ** 2).sum(axis=1)
        # AR(1) noise (phi 0.97 per 5 min) scaled so the CV is ~30%, typical of insulin-treated T2D (Battelino
        # 2019).
        shocks = rng.normal(0, 1.0, (len(g), k))
        ar = lfilter([1.0], [1.0, -0.97], shocks, axis=1) * np.sqrt(1 - 0.97**2)
        variability = 1.0 + 0.9 * ramp
        glucose = (
            mean[:, None]
            + 30.0 * ramp
            + 0.18 * mean[:, None] * meals[None, :]
            + 0.22 * mean[:, None] * ar * variability
        )
        parts.append(_columns(g, tg, np.round(np.clip(glucose, 40, 400)), "cgm_glucose", start_s))

    if not parts:
        return empty_readings()
    pid = np.concatenate([p["pid"] for p in parts])
    kinds = np.concatenate([p["type"] for p in parts])
    times = np.concatenate([p["time"] for p in parts])
    values = np.concatenate([p["value"] for p in parts])
    order = np.lexsort((times, kinds, pid))
    pid, kinds, times, values = pid[order], kinds[order], times[order], values[order]
    ids = pa.array(people.patient_id.astype(str))

    def coded(labels: list[str]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(kinds), pa.array(labels)).cast(pa.string())

    return pa.table(
        {
            "patient_id": pa.DictionaryArray.from_arrays(pa.array(pid.astype(np.int32)), ids).cast(pa.string()),
            "type": coded(list(TYPES)),
            "time": pa.array(times * 1_000_000, type=pa.timestamp("us", tz="UTC")),
            "value": pa.array(values, type=pa.float64()),
            "unit": coded([UNITS[t] for t in TYPES]),
            "device": coded([DEVICES[t] for t in TYPES]),
        }
    )


def empty_readings() -> pa.Table:
    """A readings table with the schema and no rows."""
    return pa.table(
        {
            "patient_id": pa.array([], pa.string()),
            "type": pa.array([], pa.string()),
            "time": pa.array([], pa.timestamp("us", tz="UTC")),
            "value": pa.array([], pa.float64()),
            "unit": pa.array([], pa.string()),
            "device": pa.array([], pa.string()),
        }
    )
