"""Read-side queries the FHIR API needs: stored resources by type and patient, and the write-back beside them."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import func, select

from carepilot.store import tables as t
from carepilot.store.db import Database


class FhirReadRepository:
    """Current versions of received resources and the service's own write-back, as FHIR JSON."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """One resource by type and id, from the record or the write-back; None when absent."""
        r, w = t.resources, t.writeback
        with self.db.read() as conn:
            content = conn.execute(
                select(r.c.content).where(r.c.resource_type == resource_type, r.c.resource_id == resource_id)
            ).scalar_one_or_none()
            if content is None:
                content = conn.execute(
                    select(w.c.content).where(w.c.resource_type == resource_type, w.c.resource_id == resource_id)
                ).scalar_one_or_none()
        return orjson.loads(content) if content is not None else None

    def search(self, resource_type: str | None, patient_id: str, limit: int = 5000) -> list[dict[str, Any]]:
        """Every resource of a type (or of every type) for one patient, the record first, then the write-back."""
        r, w = t.resources, t.writeback
        found: list[dict[str, Any]] = []
        with self.db.read() as conn:
            stmt = select(r.c.content).where(r.c.patient_id == patient_id).order_by(r.c.resource_type, r.c.resource_id)
            wstmt = select(w.c.content).where(w.c.patient_id == patient_id).order_by(w.c.created_at)
            if resource_type is not None:
                stmt = stmt.where(r.c.resource_type == resource_type)
                wstmt = wstmt.where(w.c.resource_type == resource_type)
            found += [orjson.loads(c) for c in conn.execute(stmt.limit(limit)).scalars()]
            found += [orjson.loads(c) for c in conn.execute(wstmt.limit(limit)).scalars()]
        return found[:limit]

    def patients(self, limit: int = 50) -> list[dict[str, Any]]:
        r = t.resources
        with self.db.read() as conn:
            rows = conn.execute(
                select(r.c.content).where(r.c.resource_type == "Patient").order_by(r.c.resource_id).limit(limit)
            ).scalars()
            return [orjson.loads(c) for c in rows]

    def types(self) -> list[str]:
        """Resource types present (received or written back)."""
        with self.db.read() as conn:
            kept = set(conn.execute(select(t.resources.c.resource_type).distinct()).scalars())
            kept |= set(conn.execute(select(t.writeback.c.resource_type).distinct()).scalars())
        return sorted(kept)

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.resources)).scalar_one())

    def active_conditions(self) -> dict[str, tuple[str, ...]]:
        """Per patient, the concept keys of conditions not marked resolved or inactive (for list filters)."""
        c = t.conditions
        found: dict[str, set[str]] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(c.c.patient_id, c.c.concept).where(
                    c.c.concept.is_not(None),
                    c.c.clinical_status.is_(None) | c.c.clinical_status.in_(("active", "recurrence", "relapse")),
                )
            )
            for row in rows:
                found.setdefault(row.patient_id, set()).add(row.concept)
        return {pid: tuple(sorted(keys)) for pid, keys in found.items()}

    def patient_stamp(self, patient_id: str) -> tuple[int, str] | None:
        """A cheap fingerprint of a patient's stored record (resource count, last ingest); None when unknown.

        Any ingest that adds, replaces or deletes one of the patient's resources changes it.
        """
        r = t.resources
        with self.db.read() as conn:
            row = conn.execute(
                select(func.count(), func.max(r.c.ingested_at)).where(r.c.patient_id == patient_id)
            ).first()
        if row is None or not row[0]:
            return None
        return int(row[0]), str(row[1])
