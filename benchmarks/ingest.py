"""Ingest throughput: FHIR resources per second into the SQLite store, validated and normalised.

Compared in the same run with (a) the naive baseline: parse, validate every resource with fhir.resources and
insert it through the ORM one at a time (a commit per resource), and (b) the floor: ``orjson.loads`` plus one
``executemany`` of the raw rows with no validation. Baselines run on a sample of the same input (option
``baseline_sample``) and are compared as rates.

Options: ``dir=PATH`` (a synthetic population made by ``carepilot synth``: its ``fhir/ehr`` folder is used),
``patients=N`` (generate that population first, when the generator exists), ``copies=N`` (otherwise: the Synthea
bundles replicated N times with new ids), ``format=ndjson|bundle``, ``baseline_sample=N``.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from carepilot.bench import BenchReport, peak_rss_mb, require_reference
from carepilot.config import Settings
from carepilot.fhir.validation import validate_resource
from carepilot.ingest.pipeline import Ingestor
from carepilot.ingest.readers import discover, read_entries
from carepilot.store.db import open_database
from carepilot.store.repository import SqlRecordRepository


def _replicate_synthea(settings: Settings, out: Path, copies: int) -> Path:
    """Write the Synthea bundles ``copies`` times as Bulk NDJSON, every id replaced by a fresh one."""
    folder = require_reference(settings, "synthea_fhir_r4")
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        _write_copies(folder, out, copies, stack)
    return out


def _write_copies(folder: Path, out: Path, copies: int, stack: contextlib.ExitStack) -> None:
    handles: dict[str, Any] = {}
    for copy in range(copies):
        for path in sorted(folder.glob("*.json")):
            text = path.read_text()
            document = orjson.loads(text)
            ids = {e["resource"]["id"] for e in document["entry"] if "id" in e["resource"]}
            for old in ids:
                text = text.replace(old, str(uuid.uuid5(uuid.NAMESPACE_OID, f"{copy}:{old}")))
            for entry in orjson.loads(text)["entry"]:
                resource = entry["resource"]
                kind = resource["resourceType"]
                if kind not in handles:
                    handles[kind] = stack.enter_context(gzip.open(out / f"{kind}.ndjson.gz", "wb", compresslevel=1))  # noqa: SIM115
                _rewrite_urns(resource)
                handles[kind].write(orjson.dumps(resource) + b"\n")


def _rewrite_urns(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value.startswith("urn:uuid:"):
                node[key] = value.replace("urn:uuid:", "")
                continue
            _rewrite_urns(value)
    elif isinstance(node, list):
        for item in node:
            _rewrite_urns(item)


class _Base(DeclarativeBase):
    pass


class _RawResource(_Base):
    __tablename__ = "raw_resource"
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)


def _sample(files: list[Path], n: int) -> list[bytes]:
    lines: list[bytes] = []
    for path in files:
        for entry in read_entries(path):
            if entry.resource is not None:
                lines.append(orjson.dumps(entry.resource))
            if len(lines) >= n:
                return lines
    return lines


def _baseline_naive(lines: list[bytes], workdir: Path) -> float:
    engine = create_engine(f"sqlite:///{workdir / 'naive.db'}")
    _Base.metadata.create_all(engine)
    started = time.perf_counter()
    with Session(engine) as session:
        for line in lines:
            resource = orjson.loads(line)
            if validate_resource(resource) is not None:
                continue
            session.add(
                _RawResource(resource_type=resource["resourceType"], resource_id=resource["id"], content=line.decode())
            )
            session.commit()
    seconds = time.perf_counter() - started
    engine.dispose()
    return len(lines) / seconds


def _floor(lines: list[bytes], workdir: Path) -> float:
    conn = sqlite3.connect(workdir / "floor.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE raw (resource_type TEXT, resource_id TEXT, content TEXT)")
    started = time.perf_counter()
    rows = []
    for line in lines:
        resource = orjson.loads(line)
        rows.append((resource.get("resourceType"), resource.get("id"), line.decode()))
    with conn:
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?)", rows)
    seconds = time.perf_counter() - started
    conn.close()
    return len(lines) / seconds


def _write_sample(lines: list[bytes], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    workdir = Path(tempfile.mkdtemp(prefix="carepilot-bench-ingest-"))
    notes: list[str] = []
    try:
        if "dir" in options:
            source = Path(options["dir"]) / "fhir" / "ehr"
            dataset = f"synthetic population at {options['dir']}"
        else:
            copies = int(options.get("copies", "40"))
            source = _replicate_synthea(settings, workdir / "input", copies)
            dataset = f"25 Synthea R4 bundles replicated {copies}x with new ids, as Bulk NDJSON (gzip)"
            notes.append("synthetic generator output not given (option dir=PATH): Synthea replicated instead")
        files = discover([source])
        # All three contenders run back to back on the same resources, so the ratios compare like with like on a
        # shared machine; the whole input is ingested as well only with full=1.
        sample = _sample(files, int(options.get("sample", "20000")))
        sample_file = _write_sample(sample, workdir / "sample" / "sample.ndjson")
        workers = int(options.get("workers", "0")) or None
        db = open_database(f"sqlite:///{workdir / 'store.db'}")
        ingestor = Ingestor(SqlRecordRepository(db), "bench", batch_size=settings.ingest_batch_size, workers=workers)
        started = time.perf_counter()
        summary = ingestor.ingest([sample_file])
        rate = summary.resources_read / (time.perf_counter() - started)
        naive = _baseline_naive(sample[: int(options.get("baseline_sample", "3000"))], workdir)
        floor = _floor(sample, workdir)
        metrics: dict[str, object] = {
            "resources": summary.resources_read,
            "quarantined": summary.quarantined,
            "resources_per_s": round(rate, 1),
            "baseline_resources_per_s": round(naive, 1),
            "floor_resources_per_s": round(floor, 1),
            "ratio_vs_baseline": round(rate / naive, 2),
            "ratio_vs_floor": round(rate / floor, 3),
            "workers": ingestor.workers,
        }
        n = summary.resources_read
        if options.get("full") == "1":
            full_db = open_database(f"sqlite:///{workdir / 'full.db'}")
            full = Ingestor(
                SqlRecordRepository(full_db), "bench", batch_size=settings.ingest_batch_size, workers=workers
            )
            started = time.perf_counter()
            whole = full.ingest(files)
            seconds = time.perf_counter() - started
            metrics.update(
                full_resources=whole.resources_read,
                full_patients=whole.patients,
                full_quarantined=whole.quarantined,
                full_seconds=round(seconds, 1),
                full_resources_per_s=round(whole.resources_read / seconds, 1),
                full_workers=full.workers,
            )
            n = whole.resources_read
        metrics["peak_rss_mb"] = peak_rss_mb()
        return BenchReport(
            benchmark="ingest",
            dataset=dataset,
            n=n,
            metrics=metrics,
            baselines={
                "naive: fhir.resources validation + ORM insert one at a time": {"resources_per_s": round(naive, 1)},
                "floor: orjson.loads + executemany, no validation": {"resources_per_s": round(floor, 1)},
                "target": {"ratio_vs_baseline": 10.0, "ratio_vs_floor": round(1 / 3, 3)},
            },
            notes=notes,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
