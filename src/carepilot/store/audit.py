"""The audit trail in the database: append inside the caller's transaction, verify the chain, list and export.

``append(conn, entry)`` runs inside an open write transaction (``Database.write()``), so an access and its audit
record commit or roll back together and the sequence has no gaps. The chain head is a one-row table updated first:
the UPDATE takes the row lock on PostgreSQL (concurrent appenders queue behind it until commit) and the write lock
on SQLite (other processes wait on ``busy_timeout``), so two writers can never link to the same previous entry.
There is no update or delete here; the migration adds triggers that refuse them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from carepilot.errors import StoreError
from carepilot.security.audit import GENESIS, AuditEntry, ChainReport, entry_hash, verify_chain
from carepilot.store import tables as t
from carepilot.store.db import Database

HEAD_ID = 1


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _claim_head(conn: Connection) -> tuple[int, str]:
    """Advance the head by one under its lock; returns (new seq, hash of the entry before it)."""
    head = t.audit_head
    row = conn.execute(
        update(head).where(head.c.id == HEAD_ID).values(seq=head.c.seq + 1).returning(head.c.seq, head.c.hash)
    ).first()
    if row is None:
        # A schema made without the migration's seed row: create the head once, then claim it.
        dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
        conn.execute(dialect_insert(head).values(id=HEAD_ID, seq=0, hash=GENESIS).on_conflict_do_nothing())
        row = conn.execute(
            update(head).where(head.c.id == HEAD_ID).values(seq=head.c.seq + 1).returning(head.c.seq, head.c.hash)
        ).first()
        if row is None:
            raise StoreError("the audit chain head could not be created")
    return int(row.seq), str(row.hash)


def append(conn: Connection, entry: AuditEntry, *, recorded_at: str | None = None) -> int:
    """Append one entry to the chain inside the caller's open write transaction; returns its sequence number."""
    seq, prev = _claim_head(conn)
    fields: dict[str, Any] = {
        "seq": seq,
        "recorded_at": recorded_at or _now(),
        "actor": entry.actor[:200],
        "action": entry.action[:32],
        "entity": entry.entity[:400],
        "patient_id": entry.patient_id[:64] if entry.patient_id else None,
        "reason": entry.reason,
        "outcome": entry.outcome[:16],
        "flagged": bool(entry.flagged),
    }
    digest = entry_hash(fields, prev)
    conn.execute(insert(t.audit_log).values(**fields, prev_hash=prev, hash=digest))
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == HEAD_ID).values(hash=digest))
    return seq


class SqlAuditSink:
    """``AuditSink`` on the database: each ``record`` is its own committed transaction (for reads)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, entry: AuditEntry) -> None:
        self.append(entry)

    def append(self, entry: AuditEntry) -> int:
        """Record and commit one entry; returns its sequence number."""
        with self.db.write() as conn:
            return append(conn, entry)


def _row(r: Any) -> dict[str, Any]:
    out = {str(k): v for k, v in r._mapping.items()}  # quoted_name keys -> plain str (JSON encoders need str)
    out["flagged"] = bool(out["flagged"])
    return out


def iter_entries(db: Database, patient_id: str | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every entry in sequence order (optionally of one patient), read in batches."""
    last = 0
    while True:
        stmt = select(t.audit_log).where(t.audit_log.c.seq > last).order_by(t.audit_log.c.seq).limit(batch)
        if patient_id is not None:
            stmt = stmt.where(t.audit_log.c.patient_id == patient_id)
        with db.read() as conn:
            rows = [_row(r) for r in conn.execute(stmt)]
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1]["seq"]


def head(db: Database) -> tuple[int, str]:
    """The recorded chain head: (last sequence number, its hash)."""
    with db.read() as conn:
        row = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == HEAD_ID)).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)


def verify(db: Database) -> ChainReport:
    """Walk the whole chain in sequence order and check it against the recorded head."""
    return verify_chain(iter_entries(db), head(db))


def entries(db: Database, patient_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (all when None), oldest first, optionally of one patient."""
    stmt = select(t.audit_log).order_by(t.audit_log.c.seq.desc())
    if patient_id is not None:
        stmt = stmt.where(t.audit_log.c.patient_id == patient_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.read() as conn:
        return [_row(r) for r in reversed(conn.execute(stmt).all())]


def count(db: Database, patient_id: str | None = None) -> int:
    """How many entries (of one patient) are stored."""
    stmt = select(func.count()).select_from(t.audit_log)
    if patient_id is not None:
        stmt = stmt.where(t.audit_log.c.patient_id == patient_id)
    with db.read() as conn:
        return int(conn.execute(stmt).scalar_one())
