"""The delivery repository: Insights shown to clinicians, their feedback, seen CDS token ids, FHIR write-back.

Feedback rows carry the Insight's model or rule id and version, copied at the time of the feedback, so the
learning loop can count acceptance per version even after an Insight row is pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from carepilot.domain.insight import Insight
from carepilot.errors import NotFoundError, StoreError
from carepilot.security.audit import AuditEntry
from carepilot.store import tables as t
from carepilot.store.audit import append as audit_append
from carepilot.store.db import Database

SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}


@dataclass(frozen=True)
class FeedbackRecord:
    """One clinician decision on one card, as received (CDS Hooks feedback or the dashboard form)."""

    service_id: str
    channel: str  # "cds-hooks" | "dashboard"
    card: str
    outcome: str  # "accepted" | "overridden"
    outcome_timestamp: datetime
    override_code: str | None = None
    override_system: str | None = None
    override_display: str | None = None
    user_comment: str | None = None
    accepted_suggestions: tuple[str, ...] = ()
    user_id: str | None = None


def insight_payload(insight: Insight) -> str:
    """The Insight as JSON (dataclass fields; datetimes in ISO 8601); orjson walks dataclasses natively."""
    return orjson.dumps(insight).decode()


class DeliveryRepository:
    """Reads and writes the delivery tables on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert_ignore(self, table: Table) -> Any:
        """INSERT that skips rows whose key is already stored (SQLite and PostgreSQL both say ON CONFLICT DO NOTHING)."""
        dialect_insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
        return dialect_insert(table).on_conflict_do_nothing()

    # -- writes -------------------------------------------------------------------------------------------------
    def claim_jti(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Record a token id as used; False when it was seen before (a replay)."""
        try:
            with self.db.write() as conn:
                conn.execute(insert(t.cds_jti).values(iss=iss[:400], jti=jti[:200], expires_at=expires_at))
        except SqlIntegrityError:
            return False
        return True

    def prune_jti(self, now: datetime | None = None) -> int:
        """Forget token ids whose tokens have expired (a replay of those fails the ``exp`` check anyway)."""
        with self.db.write() as conn:
            done = conn.execute(delete(t.cds_jti).where(t.cds_jti.c.expires_at < (now or datetime.now(UTC))))
            return int(done.rowcount or 0)

    def record_delivery(
        self,
        insights: Sequence[Insight],
        hook_instance: str | None = None,
        resources: Sequence[dict[str, Any]] = (),
        insight_of: dict[str, str] | None = None,
        patient_id: str | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        """Store the Insights shown (ids already stored are kept), the write-back resources and the audit entry.

        One transaction: what was shown and its audit record commit together or not at all.
        """
        now = datetime.now(UTC)
        with self.db.write() as conn:
            rows = [
                {
                    "id": i.id,
                    "patient_id": i.patient_id,
                    "kind": str(i.kind),
                    "severity": str(i.severity),
                    "title": i.title,
                    "payload": insight_payload(i),
                    "source_id": i.source.id,
                    "source_version": i.source.version,
                    "hook_instance": hook_instance,
                    "created_at": now,
                }
                for i in {i.id: i for i in insights}.values()
            ]
            # A re-delivered Insight (and the resources derived from it, stored under its id) is kept as first stored.
            if rows:
                conn.execute(self._insert_ignore(t.insights), rows)
            if resources:
                conn.execute(
                    self._insert_ignore(t.writeback),
                    [
                        {
                            "resource_type": r["resourceType"],
                            "resource_id": r["id"],
                            "patient_id": _patient_of(r) or patient_id,
                            "insight_id": (insight_of or {}).get(r["id"]),
                            "hook_instance": hook_instance,
                            "created_at": now,
                            "content": orjson.dumps(r).decode(),
                        }
                        for r in resources
                    ],
                )
            if audit is not None:
                # Last, so the chain head's row lock is held only until the commit that follows.
                audit_append(conn, audit)

    def record_feedback(self, records: Sequence[FeedbackRecord], audit: AuditEntry | None = None) -> list[int]:
        """Store feedback joined to its Insight; raises NotFoundError (storing nothing) for an unknown card.

        With ``audit``, one entry per patient concerned is appended in the same transaction.
        """
        now = datetime.now(UTC)
        with self.db.write() as conn:
            cards = list({r.card for r in records})
            found = {
                row.id: row
                for row in conn.execute(
                    select(
                        t.insights.c.id, t.insights.c.patient_id, t.insights.c.source_id, t.insights.c.source_version
                    ).where(t.insights.c.id.in_(cards))
                )
            }
            missing = [c for c in cards if c not in found]
            if missing:
                raise NotFoundError(f"no card with uuid {missing[0]!r} was issued by this service")
            ids: list[int] = []
            for r in records:
                row = found[r.card]
                result = conn.execute(
                    insert(t.feedback).values(
                        service_id=r.service_id,
                        channel=r.channel,
                        card=r.card,
                        insight_id=row.id,
                        patient_id=row.patient_id,
                        outcome=r.outcome,
                        override_code=r.override_code,
                        override_system=r.override_system,
                        override_display=r.override_display,
                        user_comment=r.user_comment,
                        accepted_suggestions=orjson.dumps(list(r.accepted_suggestions)).decode(),
                        user_id=r.user_id,
                        outcome_timestamp=r.outcome_timestamp,
                        received_at=now,
                        source_id=row.source_id,
                        source_version=row.source_version,
                    )
                )
                key = result.inserted_primary_key
                if key is None:
                    raise StoreError("the database did not return the id of a stored feedback row")
                ids.append(int(key[0]))
            if audit is not None:
                for pid in dict.fromkeys(str(found[r.card].patient_id) for r in records):
                    audit_append(conn, replace(audit, patient_id=pid))
            return ids

    # -- reads --------------------------------------------------------------------------------------------------
    def insight(self, insight_id: str) -> dict[str, Any]:
        """One stored Insight row with its payload decoded."""
        with self.db.read() as conn:
            row = conn.execute(select(t.insights).where(t.insights.c.id == insight_id)).first()
        if row is None:
            raise NotFoundError(f"no insight with id {insight_id!r}")
        out = dict(row._mapping)
        out["payload"] = orjson.loads(out["payload"])
        return out

    def feedback(self, patient_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Feedback rows, newest first (optionally for one patient), with the title and kind of their Insight."""
        f, i = t.feedback, t.insights
        stmt = (
            select(f, i.c.title, i.c.kind)
            .select_from(f.outerjoin(i, f.c.insight_id == i.c.id))
            .order_by(f.c.id.desc())
            .limit(limit)
        )
        if patient_id is not None:
            stmt = stmt.where(f.c.patient_id == patient_id)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def highest_severity(self) -> dict[str, dict[str, Any]]:
        """Per patient: the most severe Insight kind/title among those last computed for them."""
        i = t.insights
        with self.db.read() as conn:
            latest = select(i.c.patient_id, func.max(i.c.created_at).label("at")).group_by(i.c.patient_id).subquery()
            rows = conn.execute(
                select(i.c.patient_id, i.c.severity, i.c.kind, i.c.title).join(
                    latest, (i.c.patient_id == latest.c.patient_id) & (i.c.created_at == latest.c.at)
                )
            )
            best: dict[str, dict[str, Any]] = {}
            counts: dict[str, int] = {}
            for row in rows:
                counts[row.patient_id] = counts.get(row.patient_id, 0) + 1
                rank = SEVERITY_RANK.get(row.severity, 0)
                if row.patient_id not in best or rank > best[row.patient_id]["rank"]:
                    best[row.patient_id] = {
                        "rank": rank,
                        "severity": row.severity,
                        "kind": row.kind,
                        "title": row.title,
                    }
        for pid, item in best.items():
            item["count"] = counts[pid]
        return best

    def writeback_resource(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        w = t.writeback
        with self.db.read() as conn:
            content = conn.execute(
                select(w.c.content).where(w.c.resource_type == resource_type, w.c.resource_id == resource_id)
            ).scalar_one_or_none()
        return orjson.loads(content) if content is not None else None

    def writeback_for(self, resource_type: str, patient_id: str | None, limit: int = 1000) -> list[dict[str, Any]]:
        w = t.writeback
        stmt = (
            select(w.c.content).where(w.c.resource_type == resource_type).order_by(w.c.created_at.desc()).limit(limit)
        )
        if patient_id is not None:
            stmt = stmt.where(w.c.patient_id == patient_id)
        with self.db.read() as conn:
            return [orjson.loads(c) for c in conn.execute(stmt).scalars()]

    def writeback_types(self) -> list[str]:
        with self.db.read() as conn:
            return sorted(conn.execute(select(t.writeback.c.resource_type).distinct()).scalars())

    def jti_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.cds_jti)).scalar_one())


def _patient_of(resource: dict[str, Any]) -> str | None:
    for field in ("subject", "patient"):
        ref = resource.get(field)
        if isinstance(ref, dict) and str(ref.get("reference", "")).startswith("Patient/"):
            return str(ref["reference"])[len("Patient/") :]
    return None
