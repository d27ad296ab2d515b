"""Re-try quarantined records, as stored or replaced by a corrected version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from carepilot.errors import InputError
from carepilot.ingest.pipeline import Ingestor, IngestSummary, Prepared, Rejected, prepare
from carepilot.ingest.readers import Entry
from carepilot.knowledge.concepts import concept_map
from carepilot.store.repository import RecordRepository


@dataclass(frozen=True)
class RetryResult:
    item_id: int
    accepted: bool
    reason: str | None


def retry(repo: RecordRepository, item_id: int, replacement: Any | None = None) -> RetryResult:
    """Run one quarantined record through the pipeline again; it is marked resolved when accepted.

    Raises:
        NotFoundError: no such quarantined record.
        InputError: the record is already resolved, or its stored content is not JSON and no replacement is given.
    """
    item = repo.quarantine_item(item_id)
    if item["status"] != "open":
        raise InputError(f"quarantined record {item_id} is {item['status']}, not open")
    resource = replacement
    if resource is None:
        try:
            resource = orjson.loads(item["content"] or "")
        except orjson.JSONDecodeError as exc:
            raise InputError(
                f"quarantined record {item_id} is not JSON ({exc.msg}); give a corrected file with --file"
            ) from exc
    entry = Entry(file=f"quarantine #{item_id} ({item['file']})", position=item["position"] or "", resource=resource)
    outcome = prepare(entry, concept_map())
    if isinstance(outcome, Rejected):
        return RetryResult(item_id, False, f"{outcome.problem.code}: {outcome.problem.message}")
    if not isinstance(outcome, Prepared):
        return RetryResult(item_id, False, "a delete cannot be retried")
    summary = IngestSummary(source=item["source"])
    Ingestor(repo, item["source"]).ingest_items([outcome], summary)
    repo.set_quarantine_status(item_id, "resolved")
    return RetryResult(item_id, True, None)
