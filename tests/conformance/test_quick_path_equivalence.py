"""The quick evaluator changes no row: views give identical output with and without it on real test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carepilot.errors import InputError
from carepilot.features.viewdefinition import parse_view, run_view
from carepilot.features.viewdefinition.conformance import iter_cases
from carepilot.features.viewdefinition.sources import iter_resources, read_json
from carepilot.features.views import available_views, view_definition
from tests.conftest import reference


def _rows_or_error(view: dict[str, Any], resources: list[Any], quick: bool) -> Any:
    try:
        return run_view(parse_view(view, quick=quick), resources)
    except InputError as exc:
        return type(exc).__name__


def test_every_suite_view_gives_the_same_rows_with_and_without_the_quick_path() -> None:
    folder: Path = reference("sql_on_fhir_v2")
    compared = 0
    for path in sorted(folder.glob("*.json")):
        document = read_json(path)
        if not isinstance(document, dict):
            continue
        resources = list(document.get("resources") or [])
        for test in iter_cases(document):
            view = test.get("view", {})
            engine = _rows_or_error(view, resources, quick=False)
            assert _rows_or_error(view, resources, quick=True) == engine, f"{path.name}: {test.get('title')}"
            compared += 1
    assert compared == 134


@pytest.mark.parametrize("name", available_views())
def test_bundled_views_give_the_same_rows_on_synthea_with_and_without_the_quick_path(name: str) -> None:
    folder: Path = reference("synthea_fhir_r4")
    resources = list(iter_resources(sorted(folder.glob("*.json"))[:3]))
    view = view_definition(name)
    quick_rows = run_view(parse_view(view), resources)
    assert quick_rows
    assert quick_rows == run_view(parse_view(view, quick=False), resources)
