"""The record repository: the one place that reads and writes the unified record's tables.

``RecordRepository`` is the port (a Protocol); ``SqlRecordRepository`` implements it on SQLite and PostgreSQL,
and one contract test suite runs against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Table, and_, delete, func, insert, select, tuple_, update

from carepilot.errors import NotFoundError
from carepilot.store import tables as t
from carepilot.store.db import Database

Key = tuple[str, str]
CHUNK = 400


@dataclass(frozen=True)
class CurrentVersion:
    version: int
    content_hash: str
    last_updated: str | None


@dataclass
class WriteBatch:
    """Everything one ingest batch writes, applied in a single transaction."""

    history: list[dict[str, Any]] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    replaces: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[Key] = field(default_factory=list)
    normalised: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.history or self.inserts or self.replaces or self.deletes or self.quarantine)


@dataclass(frozen=True)
class ProfileRows:
    patient: dict[str, Any]
    observations: list[dict[str, Any]]
    conditions: list[dict[str, Any]]
    medications: list[dict[str, Any]]
    allergies: list[dict[str, Any]]
    encounters: list[dict[str, Any]]
    sources: list[str]


class RecordRepository(Protocol):
    def current_versions(self, keys: Sequence[Key]) -> dict[Key, CurrentVersion]: ...
    def write(self, batch: WriteBatch) -> None: ...
    def get_resource(self, resource_type: str, resource_id: str) -> dict[str, Any] | None: ...
    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]: ...
    def list_patients(self, limit: int | None = None) -> list[dict[str, Any]]: ...
    def profile_rows(self, patient_id: str) -> ProfileRows: ...
    def quarantined(self, status: str | None = "open", limit: int = 1000) -> list[dict[str, Any]]: ...
    def quarantine_item(self, item_id: int) -> dict[str, Any]: ...
    def set_quarantine_status(self, item_id: int, status: str) -> None: ...
    def count_resources(self) -> dict[tuple[str, str], int]: ...
    def record_run(self, run_id: str, source: str, started: datetime, summary: dict[str, Any]) -> None: ...


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(name: str) -> Table:
    return t.metadata.tables[name]


class SqlRecordRepository:
    """RecordRepository on SQLAlchemy Core (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writes -------------------------------------------------------------------------------------------------
    def current_versions(self, keys: Sequence[Key]) -> dict[Key, CurrentVersion]:
        found: dict[Key, CurrentVersion] = {}
        if not keys:
            return found
        r = t.resources
        unique = list(dict.fromkeys(keys))
        with self.db.read() as conn:
            for part in _chunks(unique):
                stmt = select(
                    r.c.resource_type, r.c.resource_id, r.c.version, r.c.content_hash, r.c.last_updated
                ).where(tuple_(r.c.resource_type, r.c.resource_id).in_(list(part)))
                for row in conn.execute(stmt):
                    found[(row.resource_type, row.resource_id)] = CurrentVersion(
                        row.version, row.content_hash, row.last_updated
                    )
        return found

    def write(self, batch: WriteBatch) -> None:
        if batch.is_empty():
            return
        r = t.resources
        with self.db.write() as conn:
            if batch.history:
                conn.execute(insert(t.resource_history), batch.history)
            stale = [(row["resource_type"], row["resource_id"]) for row in batch.replaces] + list(batch.deletes)
            for part in _chunks(stale):
                conn.execute(delete(r).where(tuple_(r.c.resource_type, r.c.resource_id).in_(list(part))))
                self._delete_normalised(conn, part)
            current = batch.inserts + batch.replaces
            if current:
                conn.execute(insert(r), current)
            for name, rows in batch.normalised.items():
                if rows:
                    conn.execute(insert(_table(name)), rows)
            if batch.quarantine:
                conn.execute(insert(t.quarantine), batch.quarantine)

    def _delete_normalised(self, conn: Any, keys: Sequence[Key]) -> None:
        by_type: dict[str, list[str]] = {}
        for resource_type, resource_id in keys:
            by_type.setdefault(resource_type, []).append(resource_id)
        for resource_type, ids in by_type.items():
            table = t.NORMALISED_BY_TYPE.get(resource_type)
            if table is None:
                continue
            id_col = table.c.patient_id if table is t.patients else table.c.resource_id
            cond: Any = id_col.in_(ids)
            if table is t.medications:
                cond = and_(cond, table.c.resource_type == resource_type)
            conn.execute(delete(table).where(cond))

    def record_run(self, run_id: str, source: str, started: datetime, summary: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute(
                insert(t.ingest_runs).values(
                    run_id=run_id,
                    source=source,
                    started_at=started,
                    finished_at=datetime.now(UTC),
                    summary=orjson.dumps(summary).decode(),
                )
            )

    # -- reads --------------------------------------------------------------------------------------------------
    def get_resource(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        r = t.resources
        with self.db.read() as conn:
            content = conn.execute(
                select(r.c.content).where(r.c.resource_type == resource_type, r.c.resource_id == resource_id)
            ).scalar_one_or_none()
        return orjson.loads(content) if content is not None else None

    def history(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
        h = t.resource_history
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    h.c.version,
                    h.c.content_hash,
                    h.c.source,
                    h.c.received_at,
                    h.c.last_updated,
                    h.c.file,
                    h.c.position,
                )
                .where(h.c.resource_type == resource_type, h.c.resource_id == resource_id)
                .order_by(h.c.version)
            )
            return [dict(row._mapping) for row in rows]

    def list_patients(self, limit: int | None = None) -> list[dict[str, Any]]:
        p = t.patients
        stmt = select(p).order_by(p.c.family, p.c.given, p.c.patient_id)
        if limit:
            stmt = stmt.limit(limit)
        with self.db.read() as conn:
            rows = [dict(row._mapping) for row in conn.execute(stmt)]
            names = self._organisation_names(conn, {r["site"] for r in rows if r.get("site")})
        for r in rows:
            r["site"] = names.get(r.get("site") or "", r.get("site"))
        return rows

    def _organisation_names(self, conn: Any, refs: set[str]) -> dict[str, str]:
        """Display names of the Organizations that patients' ``site`` references point at."""
        ids = [ref.split("/", 1)[1] for ref in refs if ref.startswith("Organization/")]
        r = t.resources
        names: dict[str, str] = {}
        for part in _chunks(ids):
            stmt = select(r.c.resource_id, r.c.content).where(
                r.c.resource_type == "Organization", r.c.resource_id.in_(list(part))
            )
            for rid, content in conn.execute(stmt):
                name = orjson.loads(content).get("name")
                if isinstance(name, str):
                    names[f"Organization/{rid}"] = name
        return names

    def profile_rows(self, patient_id: str) -> ProfileRows:
        with self.db.read() as conn:
            patient = conn.execute(select(t.patients).where(t.patients.c.patient_id == patient_id)).first()
            if patient is None:
                raise NotFoundError(f"no patient with id {patient_id!r}")

            def rows(table: Table) -> list[dict[str, Any]]:
                return [dict(r._mapping) for r in conn.execute(select(table).where(table.c.patient_id == patient_id))]

            sources = conn.execute(
                select(t.resources.c.source).where(t.resources.c.patient_id == patient_id).distinct()
            ).scalars()
            patient_row = dict(patient._mapping)
            site = patient_row.get("site")
            if site:
                patient_row["site"] = self._organisation_names(conn, {site}).get(site, site)
            return ProfileRows(
                patient=patient_row,
                observations=rows(t.observations),
                conditions=rows(t.conditions),
                medications=rows(t.medications),
                allergies=rows(t.allergies),
                encounters=rows(t.encounters),
                sources=sorted(sources),
            )

    def quarantined(self, status: str | None = "open", limit: int = 1000) -> list[dict[str, Any]]:
        q = t.quarantine
        stmt = (
            select(
                q.c.id,
                q.c.source,
                q.c.file,
                q.c.position,
                q.c.resource_type,
                q.c.resource_id,
                q.c.reason_code,
                q.c.reason,
                q.c.created_at,
                q.c.status,
            )
            .order_by(q.c.id)
            .limit(limit)
        )
        if status:
            stmt = stmt.where(q.c.status == status)
        with self.db.read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def quarantine_item(self, item_id: int) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(select(t.quarantine).where(t.quarantine.c.id == item_id)).first()
        if row is None:
            raise NotFoundError(f"no quarantined record with id {item_id}")
        return dict(row._mapping)

    def set_quarantine_status(self, item_id: int, status: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(update(t.quarantine).where(t.quarantine.c.id == item_id).values(status=status))
            if done.rowcount == 0:
                raise NotFoundError(f"no quarantined record with id {item_id}")

    def count_resources(self) -> dict[tuple[str, str], int]:
        r = t.resources
        with self.db.read() as conn:
            rows = conn.execute(
                select(r.c.resource_type, r.c.source, func.count()).group_by(r.c.resource_type, r.c.source)
            )
            return {(row[0], row[1]): int(row[2]) for row in rows}

    def count_history(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.resource_history)).scalar_one())
