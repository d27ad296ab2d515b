"""Reference resolution: ``urn:uuid:`` (within a bundle), relative ``Type/id`` and absolute URLs -> ``Type/id``."""

from __future__ import annotations

import re
from typing import Any

_ABSOLUTE = re.compile(r"^https?://.+/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")

PATIENT_FIELDS = ("subject", "patient", "beneficiary")


def resolve(reference: str, local: dict[str, str]) -> str:
    """The canonical ``Type/id`` form of a reference; unresolvable ones (conditional, contained) stay as given."""
    if reference in local:
        return local[reference]
    match = _RELATIVE.match(reference) or _ABSOLUTE.match(reference)
    if match:
        return f"{match.group(1)}/{match.group(2)}"
    return reference


def rewrite_references(node: Any, local: dict[str, str]) -> None:
    """Rewrite every ``reference`` string in a resource in place to its canonical form."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                node[key] = resolve(value, local)
            elif isinstance(value, (dict, list)):
                rewrite_references(value, local)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                rewrite_references(item, local)


def patient_of(resource: dict[str, Any]) -> str | None:
    """The patient a resource belongs to (its own id for a Patient), from canonical references."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    for field in PATIENT_FIELDS:
        ref = resource.get(field)
        if isinstance(ref, dict):
            value = ref.get("reference")
            if isinstance(value, str) and value.startswith("Patient/"):
                return value[len("Patient/") :]
    return None
