"""The identity-link repository: persons across sources (``person_links``) and the review queue (``link_review``).

A linkage run replaces ``person_links`` as a whole (the links are recomputed from every record each time), adds
newly queued pairs and keeps every reviewer decision: a decided pair is never re-opened by a later run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import delete, insert, select, update

from carepilot.errors import InputError, NotFoundError
from carepilot.store import tables as t
from carepilot.store.db import Database

DECISIONS = {"accept": "accepted", "reject": "rejected"}


class LinkRepository:
    """Reads and writes person links and the review queue."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- inputs of a run ----------------------------------------------------------------------------------------
    def patient_resources(self) -> Iterable[tuple[str, dict[str, Any]]]:
        """Every current Patient resource with the source it came from."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.resources.c.source, t.resources.c.content).where(t.resources.c.resource_type == "Patient")
            ).all()
        return [(row.source, orjson.loads(row.content)) for row in rows]

    def decisions(self) -> dict[str, str]:
        """Reviewer decisions: pair key -> accepted | rejected."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.link_review.c.pair, t.link_review.c.status).where(t.link_review.c.status != "open")
            ).all()
        return {row.pair: row.status for row in rows}

    # -- results of a run ---------------------------------------------------------------------------------------
    def save_run(self, run_id: str, persons: pd.DataFrame, pairs: pd.DataFrame) -> int:
        """Replace the person links; queue the pairs decided ``review`` that are not queued yet. Returns new items."""
        now = datetime.now(UTC)
        link_rows = [
            {
                "patient_id": r.patient_id,
                "golden_id": r.golden_id,
                "source": r.source,
                "match_probability": None if pd.isna(r.match_probability) else float(r.match_probability),
                "status": r.status,
                "run_id": run_id,
                "linked_at": now,
            }
            for r in persons.itertuples(index=False)
        ]
        queued = pairs[pairs["decision"] == "review"]
        with self.db.write() as conn:
            conn.execute(delete(t.person_links))
            if link_rows:
                conn.execute(insert(t.person_links), link_rows)
            known = {row.pair for row in conn.execute(select(t.link_review.c.pair))}
            fresh = [
                {
                    "pair": r.pair,
                    "left_id": r.left_id,
                    "right_id": r.right_id,
                    "left_source": r.left_source,
                    "right_source": r.right_source,
                    "match_weight": float(r.match_weight),
                    "match_probability": float(r.match_probability),
                    "status": "open",
                    "created_at": now,
                }
                for r in queued.itertuples(index=False)
                if r.pair not in known
            ]
            if fresh:
                conn.execute(insert(t.link_review), fresh)
            # A pair that no longer scores between the thresholds leaves the open queue.
            stale = known - set(queued["pair"])
            if stale:
                conn.execute(
                    delete(t.link_review).where(t.link_review.c.pair.in_(stale), t.link_review.c.status == "open")
                )
        return len(fresh)

    def decide(self, pair: str, decision: str, user: str | None = None) -> dict[str, Any]:
        """Record a reviewer's ``accept`` or ``reject`` of a pair (``A:B``); a pair not queued is added decided."""
        if decision not in DECISIONS:
            raise InputError(f"decision must be accept or reject, not {decision!r}")
        parts = pair.split(":")
        if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
            raise InputError(f"pair {pair!r} is not two patient ids joined by ':'")
        left, right = sorted(parts)
        key = f"{left}:{right}"
        now = datetime.now(UTC)
        with self.db.write() as conn:
            found = {
                r.patient_id
                for r in conn.execute(
                    select(t.resources.c.resource_id.label("patient_id")).where(
                        t.resources.c.resource_type == "Patient", t.resources.c.resource_id.in_([left, right])
                    )
                )
            }
            missing = sorted({left, right} - found)
            if missing:
                raise NotFoundError(f"no Patient {', '.join(missing)} in the store")
            values = {"status": DECISIONS[decision], "decided_at": now, "decided_by": user}
            done = conn.execute(update(t.link_review).where(t.link_review.c.pair == key).values(**values))
            if not done.rowcount:
                conn.execute(
                    insert(t.link_review).values(pair=key, left_id=left, right_id=right, created_at=now, **values)
                )
        return {"pair": key, "status": DECISIONS[decision]}

    # -- reads --------------------------------------------------------------------------------------------------
    def queue(self, status: str | None = "open", limit: int = 1000) -> list[dict[str, Any]]:
        """Review items, most likely matches first."""
        query = select(t.link_review).order_by(t.link_review.c.match_weight.desc().nulls_last()).limit(limit)
        if status is not None:
            query = query.where(t.link_review.c.status == status)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def person_of(self, patient_id: str) -> list[dict[str, Any]]:
        """Every record of the person ``patient_id`` belongs to (empty when it is linked to nothing)."""
        with self.db.read() as conn:
            golden = conn.execute(
                select(t.person_links.c.golden_id).where(t.person_links.c.patient_id == patient_id)
            ).scalar()
            if golden is None:
                return []
            rows = conn.execute(
                select(t.person_links).where(t.person_links.c.golden_id == golden).order_by(t.person_links.c.patient_id)
            )
            return [dict(r._mapping) for r in rows]

    def links(self) -> list[dict[str, Any]]:
        """Every person link row."""
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(select(t.person_links))]

    def counts(self) -> dict[str, int]:
        """Linked records, persons, and review items by status."""
        with self.db.read() as conn:
            links = conn.execute(select(t.person_links.c.golden_id)).scalars().all()
            statuses = conn.execute(select(t.link_review.c.status)).scalars().all()
        out = {"linked_records": len(links), "persons": len(set(links))}
        for s in ("open", "accepted", "rejected"):
            out[f"review_{s}"] = sum(1 for x in statuses if x == s)
        return out


def golden_record(rows: Sequence[dict[str, Any]], profiles: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The merged view of a person: each record's identifiers and observations, each with its source record.

    ``rows`` are the person's ``person_links`` rows; ``profiles`` are ``(source, PatientProfile)`` of its records.
    """
    identifiers = []
    observations = []
    for source, prof in profiles:
        for system, value in prof.identifiers:
            identifiers.append({"system": system, "value": value, "source": source, "patient_id": prof.patient_id})
        for m in prof.measurements:
            observations.append(
                {
                    "concept": m.concept,
                    "value": m.value,
                    "unit": m.unit,
                    "effective": m.effective.isoformat() if m.effective else None,
                    "source": source,
                    "patient_id": prof.patient_id,
                    "resource_id": m.resource_id,
                }
            )
    observations.sort(key=lambda o: o["effective"] or "")
    return {
        "golden_id": rows[0]["golden_id"] if rows else None,
        "records": [
            {
                "patient_id": r["patient_id"],
                "source": r["source"],
                "match_probability": r["match_probability"],
                "status": r["status"],
            }
            for r in rows
        ],
        "identifiers": identifiers,
        "observations": observations,
    }
