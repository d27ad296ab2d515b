"""Repository of wearable / CGM readings (one compact row per sample) and of the monitoring alerts they raised.

Readings are keyed by (patient, type, time in UTC epoch milliseconds): a re-posted reading is recognised and
stored once, so posting a batch twice is harmless. Values are stored in each type's canonical unit. Alerts keep
the Insight they carry as JSON plus their acknowledgement, per episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from carepilot.errors import NotFoundError
from carepilot.store import tables as t
from carepilot.store.db import Database

CHUNK = 5_000  # rows per INSERT statement: keeps SQLite's bound-parameter count and memory small


@dataclass(frozen=True)
class ReadingRows:
    """Readings of one patient in columns: type names, UTC epoch milliseconds, canonical values and units."""

    type: Sequence[str]
    time_ms: np.ndarray
    value: np.ndarray
    unit: Sequence[str]
    device: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.time_ms)


@dataclass(frozen=True)
class StoredAlert:
    """One alert row: the Insight payload (decoded) and its acknowledgement."""

    id: str
    patient_id: str
    episode_id: str
    escalates: str | None
    rule: str
    severity: str
    title: str
    triggered_at: datetime
    payload: dict[str, Any]
    status: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class ReadingRepository:
    """Reads and writes the ``readings`` and ``monitoring_alerts`` tables on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert_ignore(self, table: Table) -> Any:
        dialect_insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
        return dialect_insert(table).on_conflict_do_nothing()

    # -- patients -----------------------------------------------------------------------------------------------
    def patient_exists(self, patient_id: str) -> bool:
        """Whether the record store knows this patient."""
        with self.db.read() as conn:
            found = conn.execute(select(t.patients.c.patient_id).where(t.patients.c.patient_id == patient_id)).first()
        return found is not None

    def has_condition(self, patient_id: str, concept: str) -> bool:
        """Whether the patient has a condition of this concept that is not resolved or inactive."""
        c = t.conditions
        with self.db.read() as conn:
            found = conn.execute(
                select(c.c.resource_id).where(
                    c.c.patient_id == patient_id,
                    c.c.concept == concept,
                    c.c.clinical_status.is_(None) | c.c.clinical_status.in_(("active", "recurrence", "relapse")),
                )
            ).first()
        return found is not None

    # -- readings -----------------------------------------------------------------------------------------------
    def existing(self, patient_id: str, types: Sequence[str], lo_ms: int, hi_ms: int) -> set[tuple[str, int]]:
        """(type, time) keys already stored for the patient among ``types`` between ``lo_ms`` and ``hi_ms``."""
        r = t.readings
        stmt = select(r.c.type, r.c.time).where(
            r.c.patient_id == patient_id, r.c.type.in_(sorted(set(types))), r.c.time.between(lo_ms, hi_ms)
        )
        with self.db.read() as conn:
            return {(row[0], int(row[1])) for row in conn.execute(stmt)}

    def add(self, patient_id: str, rows: ReadingRows) -> None:
        """Store readings; a (patient, type, time) already stored keeps its first value."""
        if not len(rows):
            return
        # Plain DB-API executemany: the Core insert builds a parameter dict per row, which costs more than the
        # write itself for batches of a few hundred readings. Both SQLite and PostgreSQL say ON CONFLICT DO NOTHING.
        mark = "?" if self.db.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (
            "INSERT INTO readings (patient_id, type, time, value, unit, device) "
            f"VALUES ({', '.join([mark] * 6)}) ON CONFLICT DO NOTHING"
        )
        records = list(
            zip(
                [patient_id] * len(rows),
                rows.type,
                rows.time_ms.tolist(),
                rows.value.tolist(),
                rows.unit,
                rows.device,
                strict=True,
            )
        )
        with self.db.write() as conn:
            for lo in range(0, len(records), CHUNK):
                conn.exec_driver_sql(sql, records[lo : lo + CHUNK])

    def series(self, patient_id: str, type_: str, since_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(UTC epoch seconds, values) of one type for one patient, in time order."""
        r = t.readings
        stmt = select(r.c.time, r.c.value).where(r.c.patient_id == patient_id, r.c.type == type_)
        if since_ms is not None:
            stmt = stmt.where(r.c.time >= since_ms)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(r.c.time)).all()
        if not rows:
            return np.empty(0), np.empty(0)
        data = np.asarray(rows, dtype=np.float64)
        return data[:, 0] / 1000.0, data[:, 1]

    def since(self, patient_id: str, since_ms: int) -> list[tuple[str, int, float, str]]:
        """Every reading of the patient from ``since_ms`` on as (type, time ms, value, unit), in time order."""
        r = t.readings
        stmt = (
            select(r.c.type, r.c.time, r.c.value, r.c.unit)
            .where(r.c.patient_id == patient_id, r.c.time >= since_ms)
            .order_by(r.c.time)
        )
        with self.db.read() as conn:
            return [(row[0], int(row[1]), float(row[2]), row[3]) for row in conn.execute(stmt)]

    def latest(self, patient_id: str) -> dict[str, int]:
        """Per type, the time (ms) of the patient's newest stored reading."""
        r = t.readings
        stmt = select(r.c.type, func.max(r.c.time)).where(r.c.patient_id == patient_id).group_by(r.c.type)
        with self.db.read() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(stmt)}

    def latest_scores(self, patient_id: str) -> dict[str, float]:
        """The patient's latest batch risk score per model (``risk_scores``, written by ``carepilot score``)."""
        r = t.risk_scores
        stmt = select(r.c.model, r.c.probability).where(r.c.patient_id == patient_id).order_by(r.c.scored_at.desc())
        scores: dict[str, float] = {}
        with self.db.read() as conn:
            for model, probability in conn.execute(stmt):
                scores.setdefault(str(model), float(probability))
        return scores

    def count(self, patient_id: str | None = None) -> int:
        """Readings stored (for one patient, or all)."""
        stmt = select(func.count()).select_from(t.readings)
        if patient_id is not None:
            stmt = stmt.where(t.readings.c.patient_id == patient_id)
        with self.db.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    # -- alerts -------------------------------------------------------------------------------------------------
    def add_alerts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store raised alerts (open); an alert id already stored keeps its row and acknowledgement."""
        if not rows:
            return
        with self.db.write() as conn:
            conn.execute(self._insert_ignore(t.monitoring_alerts), list(rows))

    def alerts(self, patient_id: str, status: str | None = None, limit: int = 200) -> list[StoredAlert]:
        """The patient's alerts, newest trigger first, optionally only those with ``status``."""
        a = t.monitoring_alerts
        stmt = select(a).where(a.c.patient_id == patient_id)
        if status is not None:
            stmt = stmt.where(a.c.status == status)
        stmt = stmt.order_by(a.c.triggered_at.desc(), a.c.created_at.desc()).limit(limit)
        with self.db.read() as conn:
            return [_alert(row._mapping) for row in conn.execute(stmt)]

    def acknowledge(self, patient_id: str, alert_id: str, at: datetime, by: str | None) -> list[str]:
        """Acknowledge the alert's whole episode; returns the ids acknowledged now (empty if already done).

        Raises:
            NotFoundError: the patient has no alert with this id.
        """
        a = t.monitoring_alerts
        with self.db.write() as conn:
            episode = conn.execute(
                select(a.c.episode_id).where(a.c.id == alert_id, a.c.patient_id == patient_id)
            ).scalar_one_or_none()
            if episode is None:
                raise NotFoundError(f"patient {patient_id} has no monitoring alert {alert_id}")
            where = and_(a.c.patient_id == patient_id, a.c.episode_id == episode, a.c.status == "open")
            ids = list(conn.execute(select(a.c.id).where(where)).scalars())
            if ids:
                conn.execute(
                    update(a).where(where).values(status="acknowledged", acknowledged_at=at, acknowledged_by=by)
                )
        return ids


def _aware(when: datetime) -> datetime:
    """SQLite gives back naive datetimes for timezone-aware columns; they were stored in UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _alert(row: Any) -> StoredAlert:
    return StoredAlert(
        id=row["id"],
        patient_id=row["patient_id"],
        episode_id=row["episode_id"],
        escalates=row["escalates"],
        rule=row["rule"],
        severity=row["severity"],
        title=row["title"],
        triggered_at=_aware(row["triggered_at"]),
        payload=orjson.loads(row["payload"]),
        status=row["status"],
        acknowledged_at=_aware(row["acknowledged_at"]) if row["acknowledged_at"] is not None else None,
        acknowledged_by=row["acknowledged_by"],
    )
