"""FHIR Bulk Data export of the unified record: one NDJSON file per resource type and the ``$export`` manifest.

The manifest is the body of a completed ``$export`` status response (FHIR Bulk Data Access IG 2.0.0,
"Response - Complete Status"): ``transactionTime``, ``request``, ``requiresAccessToken`` and an ``output`` list of
``{type, url, count}``. Patients who opted out of SHARING are left out with every resource about them, and so
are the other records of the same person when identity links join them (an opt-out is the person's, whichever
source holds it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
from sqlalchemy import select

from carepilot.errors import InputError
from carepilot.store import tables as t
from carepilot.store.db import Database


@dataclass
class ExportResult:
    """What was written: counts per type, files, the manifest, and how many patients were left out."""

    manifest: dict[str, object]
    counts: dict[str, int] = field(default_factory=dict)
    excluded_patients: int = 0


def with_linked_records(db: Database, patients: frozenset[str]) -> frozenset[str]:
    """The patients plus every record linked to them as the same person."""
    if not patients:
        return patients
    with db.read() as conn:
        golden = set(
            conn.execute(
                select(t.person_links.c.golden_id).where(t.person_links.c.patient_id.in_(sorted(patients)))
            ).scalars()
        )
        if not golden:
            return patients
        linked = conn.execute(
            select(t.person_links.c.patient_id).where(t.person_links.c.golden_id.in_(sorted(golden)))
        ).scalars()
        return patients | frozenset(linked)


def export_bulk(
    db: Database,
    out: Path,
    *,
    types: Sequence[str] = (),
    since: datetime | None = None,
    excluded: frozenset[str] = frozenset(),
    request: str = "$export",
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> ExportResult:
    """Write ``TYPE.ndjson`` files and ``manifest.json`` under ``out``; returns counts and the manifest.

    ``transform`` rewrites each resource before it is written (de-identification).
    """
    if out.exists() and any(out.glob("*.ndjson")):
        raise InputError(f"{out} already holds NDJSON files; export into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    transaction_time = datetime.now(UTC)
    query = select(
        t.resources.c.resource_type, t.resources.c.resource_id, t.resources.c.patient_id, t.resources.c.content
    ).order_by(t.resources.c.resource_type, t.resources.c.resource_id)
    if types:
        query = query.where(t.resources.c.resource_type.in_(list(types)))
    if since is not None:
        query = query.where(t.resources.c.ingested_at >= since)
    counts: dict[str, int] = {}
    handles: dict[str, TextIO] = {}
    try:
        with db.read() as conn:
            for rtype, rid, pid, content in conn.execute(query):
                owner = rid if rtype == "Patient" else pid
                if owner is not None and owner in excluded:
                    continue
                handle = handles.get(rtype)
                if handle is None:
                    handle = handles[rtype] = (out / f"{rtype}.ndjson").open("w", encoding="utf-8")
                handle.write(content if transform is None else orjson.dumps(transform(orjson.loads(content))).decode())
                handle.write("\n")
                counts[rtype] = counts.get(rtype, 0) + 1
    finally:
        for handle in handles.values():
            handle.close()
    manifest: dict[str, object] = {
        "transactionTime": transaction_time.isoformat(),
        "request": request,
        "requiresAccessToken": False,
        "output": [
            {"type": rtype, "url": (out / f"{rtype}.ndjson").resolve().as_uri(), "count": n}
            for rtype, n in sorted(counts.items())
        ],
        "error": [],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return ExportResult(manifest=manifest, counts=counts, excluded_patients=len(excluded))
