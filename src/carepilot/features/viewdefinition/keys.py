"""Resource and reference keys (``getResourceKey()`` / ``getReferenceKey([type])``), on plain FHIR JSON.

A resource's key is its logical id. A reference's key is the id part of ``Type/id``, of an absolute URL
ending in ``Type/id`` (``_history`` ignored) or of a bundle reference ``urn:uuid:``/``urn:oid:``, so that
``getResourceKey() = subject.getReferenceKey(Patient)`` joins across tables whichever form a feed uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_HISTORY = re.compile(r"/_history/[^/]+$")


def resource_keys(items: Iterable[Any]) -> list[str]:
    """Keys of the resources among ``items`` (plain dicts)."""
    return [
        str(item["id"])
        for item in items
        if isinstance(item, Mapping) and "resourceType" in item and item.get("id") is not None
    ]


def reference_key(reference: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """(type or None, key) of a Reference element, or None when it has no resolvable literal reference."""
    literal = reference.get("reference")
    declared = reference.get("type")
    if not isinstance(literal, str) or not literal or literal.startswith("#"):
        return None
    for prefix in ("urn:uuid:", "urn:oid:"):
        if literal.startswith(prefix):
            return (declared if isinstance(declared, str) else None, literal[len(prefix) :])
    parts = [p for p in _HISTORY.sub("", literal.split("?", 1)[0]).split("/") if p]
    if not parts:
        return None
    if len(parts) >= 2:
        return (parts[-2], parts[-1])
    return (declared if isinstance(declared, str) else None, parts[-1])


def reference_keys(items: Iterable[Any], wanted: str | None = None) -> list[str]:
    """Keys of the references among ``items``; with ``wanted``, references known to name another type drop.

    A ``urn:uuid:`` reference without ``Reference.type`` names no type and is kept.
    """
    keys = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        parsed = reference_key(item)
        if parsed is None:
            continue
        ref_type, key = parsed
        if wanted is not None and ref_type is not None and ref_type != wanted:
            continue
        keys.append(key)
    return keys
