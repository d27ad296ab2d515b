"""The project's own ViewDefinitions (SQL on FHIR v2 JSON files shipped with the package)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from carepilot.errors import NotFoundError


def available_views() -> list[str]:
    """Names of the bundled views (file stems)."""
    folder = resources.files(__name__)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def view_definition(name: str) -> dict[str, Any]:
    """The bundled ViewDefinition called ``name`` as a dict."""
    if name not in available_views():
        raise NotFoundError(f"no bundled view {name!r}; available: {', '.join(available_views())}")
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document
