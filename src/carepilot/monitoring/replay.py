"""Replay of a recorded stream through the processor, and scoring of its alerts against known deterioration.

Scoring: an event (patient, drift_start, event_time) counts as detected when the patient has an alert
triggered between ``drift_start - tolerance`` and ``event_time``; lead time is from the first such alert to
the event. Alerts outside every event window of their patient are false alerts. Pure: tables in, numbers out.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from carepilot.monitoring.alerts import Alert, AlertBurden
from carepilot.monitoring.processor import PatientContext, StreamProcessor
from carepilot.monitoring.readings import ReadingBatch, Validated

HOUR = 3600.0


@dataclass(frozen=True)
class TruthEvent:
    patient_id: str
    drift_start: datetime
    event_time: datetime


@dataclass
class ReplayRun:
    """Alerts raised, with the wall-clock seconds each processor call took (for alerting calls)."""

    alerts: list[Alert] = field(default_factory=list)
    alert_latency_s: list[float] = field(default_factory=list)
    process_seconds: float = 0.0
    process_cpu_seconds: float = 0.0
    calls: int = 0


def replay(
    validated: Validated,
    processor: StreamProcessor,
    *,
    chunk_seconds: float = 300.0,
    on_alerts: Callable[[list[Alert]], None] | None = None,
) -> ReplayRun:
    """Feed readings to ``processor`` in time order, in chunks of ``chunk_seconds`` of data time.

    Each chunk is one processor call, as a live feed would deliver it; the wall time of a call that raises
    alerts is the latency from its readings entering the processor to the alerts being emitted.
    """
    run = ReplayRun()
    b = validated.batch
    if validated.rejected:
        # Rows rejected at validation are counted by the processor like any other rejection.
        processor.ingest_validated(Validated(b.take(np.zeros(len(b), dtype=bool)), validated.rejected))
    if not len(b):
        return run
    order = np.argsort(b.time, kind="stable")
    ordered = b.take(order)
    slots = np.floor((ordered.time - ordered.time[0]) / chunk_seconds).astype(np.int64)
    bounds = np.flatnonzero(np.diff(slots)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(ordered)]))
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        chunk = ordered.take(slice(lo, hi))
        started, cpu = time.perf_counter(), time.process_time()
        alerts = processor.process_batch(chunk)
        elapsed = time.perf_counter() - started
        run.process_cpu_seconds += time.process_time() - cpu
        run.process_seconds += elapsed
        run.calls += 1
        if alerts:
            run.alerts.extend(alerts)
            run.alert_latency_s.extend([elapsed] * len(alerts))
            if on_alerts is not None:
                on_alerts(alerts)
    return run


def contexts_from_patients(frame: pd.DataFrame, default: PatientContext | None = None) -> dict[str, PatientContext]:
    """Per-patient context from a patient table with ``patient_id`` and a boolean ``heart_failure`` column.

    Only the recorded diagnosis is taken, never an outcome; patients without the column keep ``default``.
    """
    base = default or PatientContext()
    if "patient_id" not in frame.columns or "heart_failure" not in frame.columns:
        return {}
    return {
        str(pid): PatientContext(risk_tier=base.risk_tier, heart_failure=bool(hf), spo2_scale=base.spo2_scale)
        for pid, hf in zip(frame["patient_id"], frame["heart_failure"], strict=True)
        if not pd.isna(hf)
    }


def truth_events(frame: pd.DataFrame) -> list[TruthEvent]:
    """Events from a truth table with columns patient_id, drift_start, event_time (UTC timestamps)."""
    out = []
    for row in frame.itertuples(index=False):
        drift = pd.Timestamp(row.drift_start)
        event = pd.Timestamp(row.event_time)
        if pd.isna(event):
            continue
        if pd.isna(drift):
            drift = event
        drift = drift.tz_localize("UTC") if drift.tzinfo is None else drift
        event = event.tz_localize("UTC") if event.tzinfo is None else event
        out.append(TruthEvent(str(row.patient_id), drift.to_pydatetime(warn=False), event.to_pydatetime(warn=False)))
    return out


@dataclass
class Score:
    events: int
    detected: int
    sensitivity: float | None
    median_lead_hours: float | None
    alerts: int
    true_alerts: int
    false_alerts: int
    ppv: float | None
    alerts_per_patient_week: float | None
    false_alerts_per_patient_week: float | None
    patient_weeks: float
    alerts_by_rule: dict[str, int]
    observable_events: int | None = None
    sensitivity_observable: float | None = None


def observable(events: list[TruthEvent], batch: ReadingBatch) -> list[bool]:
    """Whether each event's patient has any accepted reading between drift start and the event."""
    out = []
    for e in events:
        mine = batch.time[batch.patient_id == e.patient_id]
        lo, hi = e.drift_start.timestamp(), e.event_time.timestamp()
        out.append(bool(((mine >= lo) & (mine <= hi)).any()))
    return out


def score_alerts(
    alerts: list[Alert],
    events: list[TruthEvent],
    burden: AlertBurden,
    *,
    tolerance_hours: float = 24.0,
    batch: ReadingBatch | None = None,
) -> Score:
    """Sensitivity, lead time, PPV and alert burden of ``alerts`` against known events.

    With the replayed ``batch``, sensitivity is also given over the events the stream could have shown: those
    whose patient sent any reading between drift start and the event.
    """
    by_patient: dict[str, list[float]] = {}
    for a in alerts:
        by_patient.setdefault(a.patient_id, []).append(a.triggered_at.timestamp())
    windows: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        windows.setdefault(e.patient_id, []).append(
            (e.drift_start.timestamp() - tolerance_hours * HOUR, e.event_time.timestamp())
        )
    detected = 0
    seen = observable(events, batch) if batch is not None else None
    detected_observable = 0
    leads: list[float] = []
    for i, e in enumerate(events):
        lo = e.drift_start.timestamp() - tolerance_hours * HOUR
        hi = e.event_time.timestamp()
        hits = [t for t in by_patient.get(e.patient_id, []) if lo <= t <= hi]
        if hits:
            detected += 1
            detected_observable += 1 if seen is not None and seen[i] else 0
            leads.append((hi - min(hits)) / HOUR)
    true_alerts = sum(
        1 for a in alerts if any(lo <= a.triggered_at.timestamp() <= hi for lo, hi in windows.get(a.patient_id, []))
    )
    weeks = burden.patient_weeks
    n = len(alerts)
    return Score(
        events=len(events),
        detected=detected,
        sensitivity=detected / len(events) if events else None,
        median_lead_hours=float(np.median(leads)) if leads else None,
        alerts=n,
        true_alerts=true_alerts,
        false_alerts=n - true_alerts,
        ppv=true_alerts / n if n else None,
        alerts_per_patient_week=n / weeks if weeks > 0 else None,
        false_alerts_per_patient_week=(n - true_alerts) / weeks if weeks > 0 else None,
        patient_weeks=weeks,
        alerts_by_rule=dict(Counter(a.rule for a in alerts)),
        observable_events=sum(seen) if seen is not None else None,
        sensitivity_observable=detected_observable / sum(seen) if seen else None,
    )
