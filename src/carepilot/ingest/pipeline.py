"""The ingest pipeline: read -> validate -> resolve references -> normalise -> upsert, in committed batches.

Idempotent: a resource whose content (``meta`` aside) is unchanged writes nothing; a changed one becomes a new
version that supersedes the current one unless its ``meta.lastUpdated`` is older (then it is kept in history
only). Every batch is one transaction, so a killed run keeps what it committed and a re-run completes the rest.
Anything that cannot be accepted goes to quarantine with the file, position and a reason.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from carepilot.errors import UnreadableInputError
from carepilot.fhir.references import patient_of, rewrite_references
from carepilot.fhir.validation import Problem, validate_resource
from carepilot.ingest.normalise import normalised_rows
from carepilot.ingest.readers import Entry, content_id, discover, read_entries
from carepilot.ingest.times import parse_datetime
from carepilot.knowledge.concepts import ConceptMap, concept_map
from carepilot.store import tables as t
from carepilot.store.repository import CurrentVersion, Key, RecordRepository, WriteBatch

log = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    """What one run did; ``as_dict`` gives the ``--json`` output."""

    source: str
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    files: int = 0
    resources_read: int = 0
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    quarantined: int = 0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    unreadable_files: list[str] = field(default_factory=list)
    patient_ids: set[str] = field(default_factory=set)
    by_type: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def patients(self) -> int:
        return len(self.patient_ids)

    @property
    def nothing_read(self) -> bool:
        return self.resources_read == 0 and bool(self.unreadable_files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "files": self.files,
            "resources_read": self.resources_read,
            "accepted": self.accepted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "deleted": self.deleted,
            "quarantined": self.quarantined,
            "patients": self.patients,
            "seconds": round(self.seconds, 3),
            "quarantine_reasons": dict(self.quarantine_reasons),
            "unreadable_files": self.unreadable_files,
            "by_type": dict(self.by_type),
        }


@dataclass
class Prepared:
    key: Key
    patient_id: str | None
    content: str
    content_hash: str
    last_updated: str | None
    rows: list[dict[str, Any]]
    file: str
    position: str


@dataclass
class Rejected:
    problem: Problem
    file: str
    position: str
    resource_type: str | None
    resource_id: str | None
    content: str | None


def content_hash(resource: dict[str, Any]) -> str:
    """Hash of the resource's content without ``meta`` (a re-export with a new lastUpdated is not a change)."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def prepare(entry: Entry, cmap: ConceptMap) -> Prepared | Rejected | Key:
    """Validate and normalise one entry: a Prepared write, a Rejected record, or a key to delete."""
    if entry.problem is not None:
        return Rejected(entry.problem, entry.file, entry.position, None, None, entry.raw)
    resource = entry.resource
    if entry.method == "DELETE":
        url = str(resource.get("deleteUrl") or "")
        if "/" in url and "?" not in url:
            deleted_type, deleted_id = url.split("/", 1)
            return (deleted_type, deleted_id)
        return Rejected(
            Problem("invalid_delete", f"cannot delete {url!r}: expected Type/id"),
            entry.file,
            entry.position,
            None,
            None,
            None,
        )
    if isinstance(resource, dict):
        # Resolve references first, so a quarantined record keeps its bundle context for a later retry.
        rewrite_references(resource, entry.local_refs)
    rtype: Any = resource.get("resourceType") if isinstance(resource, dict) else None
    rid: Any = resource.get("id") if isinstance(resource, dict) else None
    problem = validate_resource(resource)
    if problem is not None:
        return Rejected(
            problem,
            entry.file,
            entry.position,
            rtype if isinstance(rtype, str) else None,
            rid if isinstance(rid, str) else None,
            _dump(resource),
        )
    assert isinstance(resource, dict)  # validated above; narrows the type for mypy
    if not resource.get("id"):
        resource["id"] = content_id(resource)
    try:
        rows = normalised_rows(resource, cmap)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return Rejected(
            Problem("normalisation_failed", f"{resource['resourceType']}: cannot normalise ({exc})"),
            entry.file,
            entry.position,
            resource["resourceType"],
            resource["id"],
            _dump(resource),
        )
    meta: dict[str, Any] = resource["meta"] if isinstance(resource.get("meta"), dict) else {}
    return Prepared(
        key=(resource["resourceType"], resource["id"]),
        patient_id=patient_of(resource),
        content=_dump(resource),
        content_hash=content_hash(resource),
        last_updated=meta.get("lastUpdated"),
        rows=rows,
        file=entry.file,
        position=entry.position,
    )


def _dump(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)[:100_000]


class Ingestor:
    """Runs the pipeline for one source into a RecordRepository."""

    def __init__(
        self,
        repo: RecordRepository,
        source: str,
        *,
        batch_size: int = 500,
        cmap: ConceptMap | None = None,
        on_progress: Callable[[int], None] | None = None,
        workers: int | None = None,
    ) -> None:
        self.repo = repo
        self.source = source
        self.batch_size = batch_size
        self.cmap = cmap or concept_map()
        self.on_progress = on_progress
        self.requested_workers = workers
        self.workers = workers or 1

    def ingest(self, paths: Iterable[Path], on_file: Callable[[Path], None] | None = None) -> IngestSummary:
        """Ingest every file under ``paths``; returns the run summary."""
        started_clock = time.perf_counter()
        started = datetime.now(UTC)
        summary = IngestSummary(source=self.source)
        files = discover(paths)
        self.workers = self.requested_workers or _auto_workers(files)
        if self.workers > 1:
            self._ingest_parallel(files, summary, on_file)
        else:
            for chunk in self._chunks(files, summary, on_file):
                todo = self._drop_unchanged(chunk, summary)
                self._flush([prepare(entry, self.cmap) for entry in todo], summary)
        summary.seconds = time.perf_counter() - started_clock
        self.repo.record_run(summary.run_id, self.source, started, summary.as_dict())
        log.info(
            "ingest run %s: read=%d accepted=%d updated=%d unchanged=%d quarantined=%d",
            summary.run_id,
            summary.resources_read,
            summary.accepted,
            summary.updated,
            summary.unchanged,
            summary.quarantined,
        )
        return summary

    def _chunks(
        self, files: list[Path], summary: IngestSummary, on_file: Callable[[Path], None] | None
    ) -> Iterator[list[Entry]]:
        """Entries of every file in batches; an unreadable file is recorded and skipped."""
        chunk: list[Entry] = []
        for path in files:
            summary.files += 1
            try:
                for entry in read_entries(path):
                    summary.resources_read += 1
                    chunk.append(entry)
                    if len(chunk) >= self.batch_size:
                        yield chunk
                        chunk = []
            except UnreadableInputError as exc:
                summary.unreadable_files.append(str(exc))
                log.warning("unreadable input file skipped (run %s)", summary.run_id)
            if on_file is not None:
                on_file(path)
        if chunk:
            yield chunk

    def _ingest_parallel(
        self, files: list[Path], summary: IngestSummary, on_file: Callable[[Path], None] | None
    ) -> None:
        """Validation and normalisation in worker processes; this process writes, in input order."""
        window: deque[Future[list[Prepared | Rejected | Key]]] = deque()
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            for chunk in self._chunks(files, summary, on_file):
                window.append(pool.submit(prepare_chunk, self._drop_unchanged(chunk, summary)))
                if len(window) > 2 * self.workers:
                    self._flush(window.popleft().result(), summary)
            while window:
                self._flush(window.popleft().result(), summary)

    def _drop_unchanged(self, chunk: list[Entry], summary: IngestSummary) -> list[Entry]:
        """Skip validation of resources already stored with the same content (they were valid then)."""
        prints = [fingerprint(entry) for entry in chunk]
        current = self.repo.current_versions([p[0] for p in prints if p is not None])
        todo: list[Entry] = []
        for entry, found in zip(chunk, prints, strict=True):
            if found is not None:
                key, digest, patient_id = found
                stored = current.get(key)
                if stored is not None and stored.content_hash == digest:
                    summary.unchanged += 1
                    summary.by_type[key[0]] += 1
                    if patient_id:
                        summary.patient_ids.add(patient_id)
                    continue
            todo.append(entry)
        return todo

    def ingest_items(self, items: list[Prepared | Rejected | Key], summary: IngestSummary) -> None:
        """Write already prepared items (used by quarantine retry)."""
        self._flush(items, summary)

    def _flush(self, items: list[Prepared | Rejected | Key], summary: IngestSummary) -> None:
        if not items:
            return
        now = datetime.now(UTC)
        prepared = [i for i in items if isinstance(i, Prepared)]
        current: dict[Key, CurrentVersion] = self.repo.current_versions([p.key for p in prepared])
        batch = WriteBatch()
        in_batch: set[Key] = set()
        for item in items:
            if isinstance(item, Prepared) and item.key in in_batch:
                # The same resource twice in one batch: write what came before, so the second supersedes it.
                self.repo.write(batch)
                batch, in_batch = WriteBatch(), set()
            if isinstance(item, Prepared):
                in_batch.add(item.key)
            if isinstance(item, Rejected):
                summary.quarantined += 1
                summary.quarantine_reasons[item.problem.code] += 1
                batch.quarantine.append(
                    {
                        "run_id": summary.run_id,
                        "source": self.source,
                        "file": item.file,
                        "position": item.position,
                        "resource_type": item.resource_type,
                        "resource_id": item.resource_id,
                        "reason_code": item.problem.code,
                        "reason": item.problem.message,
                        "content": item.content,
                        "created_at": now,
                        "status": "open",
                    }
                )
            elif isinstance(item, tuple):
                if item in current or self.repo.current_versions([item]):
                    batch.deletes.append(item)
                    current.pop(item, None)
                    summary.deleted += 1
            else:
                self._place(item, current, batch, summary, now)
        self.repo.write(batch)
        if self.on_progress is not None:
            self.on_progress(len(items))

    def _place(
        self,
        item: Prepared,
        current: dict[Key, CurrentVersion],
        batch: WriteBatch,
        summary: IngestSummary,
        now: datetime,
    ) -> None:
        summary.by_type[item.key[0]] += 1
        if item.patient_id:
            summary.patient_ids.add(item.patient_id)
        existing = current.get(item.key)
        if existing is not None and existing.content_hash == item.content_hash:
            summary.unchanged += 1
            return
        version = 1 if existing is None else existing.version + 1
        history = {
            "resource_type": item.key[0],
            "resource_id": item.key[1],
            "version": version,
            "source": self.source,
            "received_at": now,
            "last_updated": item.last_updated,
            "content_hash": item.content_hash,
            "content": item.content,
            "file": item.file,
            "position": item.position,
        }
        batch.history.append(history)
        if existing is not None and _older(item.last_updated, existing.last_updated):
            # An older version arriving late: kept in history, does not supersede the current one.
            summary.stale += 1
            current[item.key] = CurrentVersion(version, existing.content_hash, existing.last_updated)
            return
        row = {
            "resource_type": item.key[0],
            "resource_id": item.key[1],
            "patient_id": item.patient_id,
            "version": version,
            "content_hash": item.content_hash,
            "last_updated": item.last_updated,
            "source": self.source,
            "ingested_at": now,
            "content": item.content,
        }
        if existing is None:
            batch.inserts.append(row)
            summary.accepted += 1
        else:
            batch.replaces.append(row)
            summary.updated += 1
        table = t.NORMALISED_BY_TYPE.get(item.key[0])
        if table is not None:
            if table is t.patients:
                for patient_row in item.rows:
                    patient_row["source"] = self.source
            batch.normalised.setdefault(table.name, []).extend(item.rows)
        current[item.key] = CurrentVersion(version, item.content_hash, item.last_updated)


def fingerprint(entry: Entry) -> tuple[Key, str, str | None] | None:
    """(key, content hash, patient id) of a readable entry with an id, references resolved; else None."""
    resource = entry.resource
    if entry.problem is not None or entry.method == "DELETE" or not isinstance(resource, dict):
        return None
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if not isinstance(rtype, str) or not isinstance(rid, str) or not rid:
        return None
    rewrite_references(resource, entry.local_refs)
    return (rtype, rid), content_hash(resource), patient_of(resource)


def prepare_chunk(entries: list[Entry]) -> list[Prepared | Rejected | Key]:
    """Prepare a batch of entries (runs in a worker process)."""
    cmap = concept_map()
    return [prepare(entry, cmap) for entry in entries]


PARALLEL_THRESHOLD_BYTES = 64 * 1024 * 1024


def _auto_workers(files: list[Path]) -> int:
    """Worker processes pay off only on large inputs (starting them costs about a second)."""
    size = sum(p.stat().st_size for p in files if p.exists())
    if size < PARALLEL_THRESHOLD_BYTES:
        return 1
    return max(1, min(4, (os.cpu_count() or 1)))


def _older(incoming: str | None, existing: str | None) -> bool:
    if not incoming or not existing:
        return False
    a, b = parse_datetime(incoming), parse_datetime(existing)
    return a is not None and b is not None and a < b
