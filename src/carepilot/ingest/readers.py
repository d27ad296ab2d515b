"""Read FHIR R4 JSON from files: Bundles (transaction, batch, collection, searchset, history), single resources
and Bulk Data NDJSON; plain or gzip. NDJSON is streamed line by line, so memory stays flat on large files.
"""

from __future__ import annotations

import gzip
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from carepilot.errors import UnreadableInputError
from carepilot.fhir.validation import Problem

SUFFIXES = (".json", ".ndjson", ".jsonl", ".json.gz", ".ndjson.gz", ".jsonl.gz")


@dataclass
class Entry:
    """One resource as read, with where it came from; ``problem`` is set when it could not even be parsed."""

    file: str
    position: str
    resource: Any = None
    local_refs: dict[str, str] = field(default_factory=dict)
    problem: Problem | None = None
    raw: str | None = None
    method: str | None = None


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every readable file named by ``paths`` (folders are searched recursively), in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise UnreadableInputError(f"{path}: no such file or folder")
    return found


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _is_ndjson(path: Path) -> bool:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.endswith((".ndjson", ".jsonl"))


def read_entries(path: Path) -> Iterator[Entry]:
    """Yield the resources in one file.

    Raises:
        UnreadableInputError: the file is not JSON (or gzip), naming the file and the position.
    """
    try:
        if _is_ndjson(path):
            yield from _read_ndjson(path)
            return
        with _open(path) as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableInputError(f"{path}: cannot read ({exc})") from exc
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if _looks_like_ndjson(data):
            yield from _read_ndjson(path)
            return
        raise UnreadableInputError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    yield from _entries_of(document, str(path))


def _looks_like_ndjson(data: bytes) -> bool:
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        return isinstance(orjson.loads(first), dict) and data.count(b"\n") >= 1
    except orjson.JSONDecodeError:
        return False


def _read_ndjson(path: Path) -> Iterator[Entry]:
    name = str(path)
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    resource = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield Entry(
                        name,
                        f"line {number}",
                        problem=Problem("invalid_json", f"not valid JSON at column {exc.colno}: {exc.msg}"),
                        raw=line.decode("utf-8", "replace")[:100_000],
                    )
                    continue
                yield Entry(name, f"line {number}", resource=resource)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableInputError(f"{path}: cannot read ({exc})") from exc


def _entries_of(document: Any, name: str) -> Iterator[Entry]:
    if not isinstance(document, dict):
        raise UnreadableInputError(f"{name}: expected a FHIR resource or Bundle object, got {type(document).__name__}")
    if document.get("resourceType") != "Bundle":
        yield Entry(name, "", resource=document)
        return
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        raise UnreadableInputError(f"{name}: Bundle.entry is not a list")
    local: dict[str, str] = {}
    for item in entries:
        if not isinstance(item, dict):
            continue
        resource = item.get("resource")
        full_url = item.get("fullUrl")
        request = _request_of(item)
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            _assign_id(resource, full_url, request)
            if isinstance(full_url, str) and resource.get("id"):
                local[full_url] = f"{resource['resourceType']}/{resource['id']}"
    for index, item in enumerate(entries):
        position = f"entry {index}"
        if not isinstance(item, dict):
            yield Entry(
                name,
                position,
                problem=Problem("invalid_entry", "Bundle entry is not an object"),
                raw=str(item)[:1000],
            )
            continue
        request = _request_of(item)
        method = str(request.get("method", "")).upper() or None
        if method == "DELETE":
            yield Entry(name, position, resource={"deleteUrl": request.get("url")}, method="DELETE")
            continue
        resource = item.get("resource")
        if resource is None:
            yield Entry(name, position, problem=Problem("missing_resource", "Bundle entry has no resource"))
            continue
        if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
            continue  # search/transaction responses carry OperationOutcomes about the request, not patient data
        yield Entry(name, position, resource=resource, local_refs=local, method=method)


def _request_of(item: dict[str, Any]) -> dict[str, Any]:
    request = item.get("request")
    return request if isinstance(request, dict) else {}


def _assign_id(resource: dict[str, Any], full_url: Any, request: dict[str, Any]) -> None:
    """Give an id-less resource the id its bundle implies (``urn:uuid:`` fullUrl or a PUT url)."""
    if resource.get("id"):
        return
    if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
        resource["id"] = full_url[len("urn:uuid:") :]
        return
    url = request.get("url")
    if isinstance(url, str) and "/" in url and "?" not in url:
        resource["id"] = url.rsplit("/", 1)[-1]
        return
    if isinstance(full_url, str) and full_url.rstrip("/").rsplit("/", 1)[-1]:
        candidate = full_url.rstrip("/").rsplit("/", 1)[-1]
        if candidate and len(candidate) <= 64 and candidate.replace("-", "").replace(".", "").isalnum():
            resource["id"] = candidate


def content_id(resource: dict[str, Any]) -> str:
    """A stable id for a resource that arrived without one: derived from its content."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, orjson.dumps(resource, option=orjson.OPT_SORT_KEYS).decode()))
