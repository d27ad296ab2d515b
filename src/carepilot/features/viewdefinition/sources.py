"""Read FHIR resources and ViewDefinitions from files: the one module of this package that touches disk.

Accepts single-resource JSON, Bundles (``entry[].resource``), JSON arrays of resources and Bulk Data NDJSON,
each optionally gzip-compressed, and folders of those. Numbers are read as ``Decimal`` so that a value's
written precision (``1.0`` versus ``1``) survives; ``lowBoundary``/``highBoundary`` depend on it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from carepilot.errors import UnreadableInputError

SUFFIXES = (".json", ".ndjson", ".jsonl", ".json.gz", ".ndjson.gz", ".jsonl.gz")


def loads(text: str | bytes) -> Any:
    """JSON text to Python, decimals kept exact."""
    return json.loads(text, parse_float=Decimal)


def read_json(path: Path) -> Any:
    """One JSON document (gzip allowed); UnreadableInputError names the file when it cannot be read."""
    try:
        with _open(path) as handle:
            return json.load(handle, parse_float=Decimal)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(f"{path}: not readable as JSON ({exc})") from exc


def read_view(path: Path) -> Mapping[str, Any]:
    """A ViewDefinition JSON file."""
    document = read_json(path)
    if not isinstance(document, Mapping):
        raise UnreadableInputError(f"{path}: a ViewDefinition must be a JSON object")
    return document


def iter_resources(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every resource in the given files and folders, in file order, one at a time."""
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
            for file in files:
                yield from _file_resources(file)
        elif path.is_file():
            yield from _file_resources(path)
        else:
            raise UnreadableInputError(f"{path}: no such file or folder")


def _file_resources(path: Path) -> Iterator[dict[str, Any]]:
    name = path.name.removesuffix(".gz")
    if name.endswith((".ndjson", ".jsonl")):
        yield from _ndjson(path)
        return
    yield from _unpack(read_json(path), path)


def _ndjson(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    document = json.loads(line, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    raise UnreadableInputError(f"{path}:{number}: not JSON ({exc.msg})") from exc
                yield from _unpack(document, path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableInputError(f"{path}: not readable ({exc})") from exc


def _unpack(document: Any, path: Path) -> Iterator[dict[str, Any]]:
    if isinstance(document, list):
        for item in document:
            yield from _unpack(item, path)
        return
    if not isinstance(document, dict) or "resourceType" not in document:
        raise UnreadableInputError(f"{path}: expected FHIR resources, found JSON without resourceType")
    if document["resourceType"] == "Bundle":
        for entry in document.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                yield resource
        return
    yield document


def _open(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")
