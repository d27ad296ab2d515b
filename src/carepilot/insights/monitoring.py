"""Monitoring in the workflow: stream batches stored and run through the engine, alerts kept as Insights.

``StreamService`` takes one patient's batch of readings, stores the new ones compactly (``store/readings.py``;
a re-posted reading is recognised by its patient, type and timestamp and stored once), runs them through the
stream processor and alert policy (``carepilot.monitoring``) and persists the alerts raised, with their
acknowledgement. The processor keeps its state in memory; after a restart a patient's state is rebuilt from
the stored readings of the last ``warmup_days`` on the first batch (alert ids are deterministic, so alerts
raised again while rebuilding are recognised, and their acknowledgements re-applied).

``MonitoringAlertProvider`` returns a patient's open ``monitoring_alert`` Insights for ``patient-view`` cards
and the dashboard. ``monitoring_panel`` gathers what the dashboard's home-monitoring section draws: the
ambulatory glucose profile with the consensus CGM metrics, and daily heart rate, steps and weight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from carepilot.config import Settings
from carepilot.domain.consent import ConsentDirectory, ConsentScope
from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Interval,
    Severity,
    Source,
)
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError, NotFoundError, StoreError
from carepilot.insights.service import InsightContext
from carepilot.monitoring.alerts import Alert
from carepilot.monitoring.cgm import AgpProfile, CgmMetrics, ambulatory_glucose_profile, cgm_metrics
from carepilot.monitoring.processor import PatientContext, StreamProcessor
from carepilot.monitoring.readings import SPEC_BY_KIND, Reason, Rejection, Validated, validate_columns, validate_records
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.db import Database
from carepilot.store.feedback import DeliveryRepository, insight_payload
from carepilot.store.readings import ReadingRepository, ReadingRows, StoredAlert

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
MAX_BATCH = 100_000  # readings per request: a day of 5-minute CGM for ~350 sensors
FUTURE_SLACK_S = 300.0  # device clocks run a little fast; beyond this a timestamp is in the future
# The reading field each validation reason points at (MISSING_FIELD's field is read from its message).
FIELD_OF_REASON = {
    Reason.UNKNOWN_TYPE: "type",
    Reason.BAD_UNIT: "unit",
    Reason.BAD_VALUE: "value",
    Reason.IMPLAUSIBLE_VALUE: "value",
    Reason.BAD_TIMESTAMP: "time",
    Reason.NAIVE_TIMESTAMP: "time",
    Reason.FUTURE_TIMESTAMP: "time",
    Reason.DUPLICATE: "time",
    Reason.TOO_LATE: "time",
    Reason.WRONG_PATIENT: "patient_id",
}


@dataclass(frozen=True)
class Problem:
    """One refused reading (or FHIR Observation): its position in the batch, the field at fault, why."""

    index: int
    field: str
    reason: str
    message: str


@dataclass
class Posted:
    """What one batch did."""

    patient_id: str
    received: int
    accepted: int = 0
    duplicate: int = 0
    late: int = 0
    rejected: list[Problem] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    monitored: bool = True  # False when the patient opted out of decision support: stored, not evaluated

    @property
    def usable(self) -> bool:
        """Whether anything in the batch was a valid reading (new or already stored)."""
        return self.accepted + self.duplicate > 0


def _field(rejection: Rejection, fields: Mapping[str, str] | None) -> str:
    name = FIELD_OF_REASON.get(rejection.reason)
    if name is None:
        head = rejection.message.split(" ", 1)[0]
        name = {"reading": "type", "row": "reading"}.get(head, head)
    return (fields or {}).get(name, name)


def alert_row(alert: Alert, now: datetime) -> dict[str, Any]:
    """The ``monitoring_alerts`` row of a raised alert (status open)."""
    return {
        "id": alert.id,
        "patient_id": alert.patient_id,
        "episode_id": alert.episode_id or alert.id,
        "escalates": alert.escalates,
        "rule": alert.rule,
        "severity": str(alert.severity),
        "title": alert.insight.title,
        "triggered_at": alert.triggered_at,
        "payload": insight_payload(alert.insight),
        "status": "open",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "created_at": now,
    }


class StreamService:
    """Stores one patient's readings, runs them through the monitor, and keeps the alerts with their acks."""

    def __init__(
        self,
        readings: ReadingRepository,
        delivery: DeliveryRepository | None = None,
        *,
        processor: StreamProcessor | None = None,
        consent: ConsentDirectory | None = None,
        warmup_days: int = 35,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.readings = readings
        self.consent = consent
        self.delivery = delivery
        self.processor = processor or StreamProcessor()
        self.warmup_days = warmup_days
        self.clock = clock
        self._lock = threading.Lock()  # the processor's state is not thread-safe; batches go one at a time
        self._warm: set[str] = set()
        self._known: set[str] = set()
        # Newest stored time (ms) per patient and type: a batch entirely past it cannot hold a stored duplicate,
        # so the common live case skips the look-up. The insert ignores stored keys whatever this says.
        self._newest: dict[str, dict[str, int]] = {}

    def post(
        self,
        patient_id: str,
        records: list[Any],
        *,
        origin: Sequence[int] | None = None,
        fields: Mapping[str, str] | None = None,
        refused: Sequence[Problem] = (),
        received: int | None = None,
    ) -> Posted:
        """Validate, de-duplicate, store and process one patient's readings; the alerts raised come back.

        ``origin`` maps each record to the position reported in refusals (a FHIR Observation can give two
        readings); ``fields`` renames reading fields to the caller's (FHIR element paths).

        Raises:
            NotFoundError: the patient is not in the record store.
            InputError: the batch is larger than ``MAX_BATCH``.
        """
        if patient_id not in self._known:
            if not self.readings.patient_exists(patient_id):
                raise NotFoundError(f"patient {patient_id} is not known")
            self._known.add(patient_id)
        if len(records) > MAX_BATCH:
            raise InputError(f"a batch holds at most {MAX_BATCH:,} readings, got {len(records):,}")
        out = Posted(patient_id, received if received is not None else len(records), rejected=list(refused))
        # An opt-out of decision support keeps the readings (they are the patient's record) but raises no alert.
        out.monitored = self.consent is None or self.consent.allows(patient_id, ConsentScope.DECISION_SUPPORT)
        now = self.clock()
        validated = validate_records(records, patient_id=patient_id, not_after=now.timestamp() + FUTURE_SLACK_S)
        b = validated.batch
        problems = list(validated.rejected)
        mine = b.patient_id == patient_id
        if not mine.all():
            problems += [
                Rejection(int(i), Reason.WRONG_PATIENT, "reading names another patient than the stream")
                for i in b.index[~mine]
            ]
            b = b.take(mine)
        where = origin if origin is not None else range(len(records))
        out.rejected += [Problem(where[r.index], _field(r, fields), r.reason.value, r.message) for r in problems]
        if len(b):
            ms = np.round(b.time * 1000.0).astype(np.int64)
            names = [SPEC_BY_KIND[int(k)].type.value for k in b.kind.tolist()]
            with self._lock:
                if patient_id not in self._newest:
                    self._newest[patient_id] = self.readings.latest(patient_id)
                if out.monitored:
                    self._warm_up(patient_id, now)
                repeat = _repeats(b.kind, ms)
                if self._may_hold_stored(patient_id, names, ms):
                    stored = self.readings.existing(patient_id, names, int(ms.min()), int(ms.max()))
                    if stored:
                        repeat |= np.fromiter(
                            ((n, m) in stored for n, m in zip(names, ms.tolist(), strict=True)), bool, len(ms)
                        )
                out.duplicate = int(repeat.sum())
                fresh = ~repeat
                new = b.take(fresh)
                out.accepted = len(new)
                if len(new):
                    new_names = [n for n, keep in zip(names, fresh.tolist(), strict=True) if keep]
                    self.readings.add(
                        patient_id,
                        ReadingRows(
                            new_names,
                            ms[fresh],
                            new.value,
                            [SPEC_BY_KIND[int(k)].unit for k in new.kind.tolist()],
                            [_device(records[i]) for i in new.index.tolist()],
                        ),
                    )
                    newest = self._newest.setdefault(patient_id, {})
                    for n, m in zip(new_names, ms[fresh].tolist(), strict=True):
                        if m > newest.get(n, -1):
                            newest[n] = m
                    if not out.monitored:
                        return self._done(out)
                    ingested = self.processor.ingest_validated(Validated(new))
                    out.late = sum(1 for r in ingested.rejected if r.reason is Reason.TOO_LATE)
                    out.alerts = ingested.alerts
                    self._persist(ingested.alerts, now)
        return self._done(out)

    def _done(self, out: Posted) -> Posted:
        out.rejected.sort(key=lambda p: p.index)
        log.info(
            "stream batch patient=%s received=%d accepted=%d duplicate=%d rejected=%d alerts=%d",
            out.patient_id,
            out.received,
            out.accepted,
            out.duplicate,
            len(out.rejected),
            len(out.alerts),
        )
        return out

    def _may_hold_stored(self, patient_id: str, names: list[str], ms: np.ndarray) -> bool:
        """Whether any reading of the batch is at or before the newest stored reading of its type."""
        newest = self._newest.get(patient_id, {})
        if not newest:
            return False
        return any(m <= newest.get(n, -1) for n, m in zip(names, ms.tolist(), strict=True))

    def acknowledge(self, patient_id: str, alert_id: str, by: str | None) -> list[str]:
        """Acknowledge an alert's episode: stored, and the policy stays quiet for the tier's window.

        Raises:
            NotFoundError: the patient has no alert with this id.
        """
        at = self.clock()
        ids = self.readings.acknowledge(patient_id, alert_id, at, by)
        with self._lock:
            for known in (alert_id, *ids):
                try:
                    self.processor.policy.acknowledge(known, at, by)
                except NotFoundError:
                    continue  # raised before a restart: its episode is re-acknowledged when the state is rebuilt
                break
        return ids

    def _persist(self, alerts: Sequence[Alert], now: datetime) -> None:
        if not alerts:
            return
        self.readings.add_alerts([alert_row(a, now) for a in alerts])
        if self.delivery is not None:
            # Stored as Insights too, so dashboard and CDS feedback can refer to them by id.
            self.delivery.record_delivery([a.insight for a in alerts])

    def _warm_up(self, patient_id: str, now: datetime) -> None:
        """Rebuild a patient's engine state from the stored readings (first batch after a start)."""
        if patient_id in self._warm:
            return
        self._warm.add(patient_id)
        hf = self.readings.has_condition(patient_id, "heart_failure")
        # The alert thresholds follow the patient's modelled risk (the deterioration or readmission score).
        tier = self.processor.table.tier_for(self.readings.latest_scores(patient_id))
        # No recorded heart failure is not proof of none: None keeps the weight rule on for home-scale users.
        self.processor.set_context(patient_id, PatientContext(risk_tier=tier, heart_failure=True if hf else None))
        latest = self.readings.latest(patient_id)
        if not latest:
            return
        rows = self.readings.since(patient_id, max(latest.values()) - self.warmup_days * DAY_MS)
        validated = validate_columns(
            np.full(len(rows), patient_id, dtype=object),
            np.array([r[0] for r in rows], dtype=object),
            np.array([r[1] / 1000.0 for r in rows]),
            np.array([r[2] for r in rows]),
            np.array([r[3] for r in rows], dtype=object),
        )
        alerts = self.processor.ingest_validated(validated).alerts
        self._persist(alerts, now)
        for stored in self.readings.alerts(patient_id, status="acknowledged"):
            if stored.acknowledged_at is None:
                continue
            try:
                self.processor.policy.acknowledge(stored.id, _aware(stored.acknowledged_at), stored.acknowledged_by)
            except NotFoundError:
                continue
        log.info("monitor state rebuilt patient=%s readings=%d alerts=%d", patient_id, len(rows), len(alerts))


def _repeats(kind: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Rows repeating an earlier row's type and instant within the batch (the first one wins, as in the engine)."""
    key = ms * 8 + kind.astype(np.int64)  # fewer than 8 reading types
    _, first = np.unique(key, return_index=True)
    repeat = np.ones(len(key), dtype=bool)
    repeat[first] = False
    return repeat


def _device(record: Any) -> str | None:
    if isinstance(record, Mapping):
        device = record.get("device")
        if isinstance(device, str) and device:
            return device[:100]
    return None


def _aware(when: datetime) -> datetime:
    """SQLite gives back naive datetimes for UTC columns."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def insight_from_payload(payload: Mapping[str, Any]) -> Insight:
    """Rebuild an Insight from its stored JSON (``store.feedback.insight_payload``)."""
    interval = payload.get("interval")
    return Insight(
        patient_id=payload["patient_id"],
        as_of=_aware(datetime.fromisoformat(payload["as_of"])),
        kind=InsightKind(payload["kind"]),
        title=payload["title"],
        detail=payload["detail"],
        confidence=Confidence(**payload["confidence"]),
        source=Source(**payload["source"]),
        explanation=tuple(Factor(**f) for f in payload.get("explanation") or ()),
        evidence=tuple(Evidence(**e) for e in payload.get("evidence") or ()),
        value=payload.get("value"),
        unit=payload.get("unit"),
        interval=Interval(**interval) if interval else None,
        severity=Severity(payload.get("severity", "info")),
        actions=tuple(payload.get("actions") or ()),
        topic=payload.get("topic"),
        id=payload["id"],
    )


def open_alerts(stored: Sequence[StoredAlert]) -> list[StoredAlert]:
    """Open alerts without those an escalation of the same episode supersedes (newest first)."""
    superseded = {a.escalates for a in stored if a.escalates}
    return [a for a in stored if a.status == "open" and a.id not in superseded]


class MonitoringAlertProvider:
    """The patient's open monitoring alerts (raised from wearable / CGM streams) as Insights."""

    name = "monitoring"

    def __init__(
        self,
        readings: ReadingRepository | Callable[[], ReadingRepository],
        limit: int = 5,
        consent: ConsentDirectory | Callable[[], ConsentDirectory] | None = None,
    ) -> None:
        self._readings = readings
        self.limit = limit
        self._consent = consent

    @classmethod
    def from_settings(cls, settings: Settings) -> MonitoringAlertProvider:
        """A provider reading the configured store; the connection is opened on first use."""
        opened: list[Database] = []
        consent: list[SqlConsentDirectory] = []

        def database() -> Database:
            if not opened:
                opened.append(Database(settings.resolved_database_url))
            return opened[0]

        def directory() -> ConsentDirectory:
            if not consent:
                consent.append(SqlConsentDirectory(database()))
            return consent[0]

        return cls(lambda: ReadingRepository(database()), consent=directory)

    @property
    def readings(self) -> ReadingRepository:
        return self._readings if isinstance(self._readings, ReadingRepository) else self._readings()

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        if context.ordered_concepts:
            return []  # order hooks are about the drug being ordered, not about home monitoring
        consent = self._consent() if callable(self._consent) else self._consent
        if consent is not None and not consent.allows(profile.patient_id, ConsentScope.DECISION_SUPPORT):
            return [Declined(profile.patient_id, self.name, "patient opted out of decision support")]
        try:
            stored = self.readings.alerts(profile.patient_id, limit=50)
        except SQLAlchemyError as exc:
            raise StoreError(f"monitoring alerts unreadable: {type(exc).__name__}") from exc
        return [insight_from_payload(a.payload) for a in open_alerts(stored)[: self.limit]]


@dataclass
class MonitoringPanel:
    """The dashboard's home-monitoring section for one patient."""

    metrics: CgmMetrics | None = None
    agp: AgpProfile | None = None
    trends: list[tuple[str, str, list[tuple[datetime, float]]]] = field(default_factory=list)
    open_alerts: list[StoredAlert] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.agp is not None or bool(self.trends) or bool(self.open_alerts)


# Daily trend panels: reading type, title, unit, how a day is summarised.
TRENDS = (
    ("heart_rate", "Resting heart rate (daily lower quartile)", "/min", "p25"),
    ("steps", "Steps per day", "/d", "sum"),
    ("weight", "Weight (daily median)", "kg", "median"),
    ("spo2", "SpO2 (daily median)", "%", "median"),
)


def daily(times: np.ndarray, values: np.ndarray, how: str) -> list[tuple[datetime, float]]:
    """One value per UTC day: sum, median or lower quartile of the day's readings."""
    if len(times) == 0:
        return []
    days = np.floor(times / 86_400.0).astype(np.int64)
    grouped = pd.Series(values).groupby(days)
    summary = {"sum": grouped.sum, "median": grouped.median}.get(how)
    result = summary() if summary is not None else grouped.quantile(0.25)
    return [(datetime.fromtimestamp(int(d) * 86_400, tz=UTC), float(v)) for d, v in result.items()]


def monitoring_panel(readings: ReadingRepository, patient_id: str, *, trend_days: int = 28) -> MonitoringPanel:
    """AGP (14 days up to the newest CGM reading) with the consensus metrics, and daily trends."""
    panel = MonitoringPanel(open_alerts=open_alerts(readings.alerts(patient_id, status="open", limit=50)))
    latest = readings.latest(patient_id)
    if "cgm_glucose" in latest:
        since = latest["cgm_glucose"] - 14 * DAY_MS
        times, values = readings.series(patient_id, "cgm_glucose", since_ms=since)
        if len(values):
            panel.metrics = cgm_metrics(times, values)
            panel.agp = ambulatory_glucose_profile(times, values)
    for type_, title, unit, how in TRENDS:
        if type_ not in latest:
            continue
        times, values = readings.series(patient_id, type_, since_ms=latest[type_] - trend_days * DAY_MS)
        points = daily(times, values, how)
        if points:
            panel.trends.append((title, unit, points))
    return panel


@dataclass(frozen=True)
class StoredReplay:
    """What writing a replay into the store did."""

    patients: int
    readings: int
    alerts: int
    unknown_patients: int


def store_replay(
    readings: ReadingRepository,
    delivery: DeliveryRepository | None,
    validated: Validated,
    alerts: Sequence[Alert],
    *,
    now: datetime | None = None,
) -> StoredReplay:
    """Write a replayed stream's accepted readings and its alerts into the store, for patients the store knows.

    Readings of patients the record store does not hold are left out (and counted), never stored orphaned.
    """
    b = validated.batch
    when = now or datetime.now(UTC)
    known: set[str] = set()
    unknown = 0
    stored = 0
    if len(b):
        codes, uniques = pd.factorize(b.patient_id)
        for code, pid in enumerate(uniques):
            if not readings.patient_exists(str(pid)):
                unknown += 1
                continue
            mine = b.take(codes == code)
            ms = np.round(mine.time * 1000.0).astype(np.int64)
            kinds = mine.kind.tolist()
            readings.add(
                str(pid),
                ReadingRows(
                    [SPEC_BY_KIND[int(k)].type.value for k in kinds],
                    ms,
                    mine.value,
                    [SPEC_BY_KIND[int(k)].unit for k in kinds],
                    [None] * len(kinds),
                ),
            )
            known.add(str(pid))
            stored += len(mine)
    kept = [a for a in alerts if a.patient_id in known]
    readings.add_alerts([alert_row(a, when) for a in kept])
    if delivery is not None and kept:
        delivery.record_delivery([a.insight for a in kept])
    return StoredReplay(len(known), stored, len(kept), unknown)
