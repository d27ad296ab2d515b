"""The SQL on FHIR v2 conformance suite: one pytest case per suite test, skipped when the suite is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carepilot.features.viewdefinition.conformance import iter_cases, run_case
from carepilot.features.viewdefinition.sources import read_json
from tests.conftest import REFERENCE_DATA, reference

SUITE = REFERENCE_DATA / "sql_on_fhir_v2"


def _suite_cases() -> list[Any]:
    """(file, resources, test) for every test; one skipping placeholder when the suite is absent."""
    if not SUITE.is_dir():
        return [pytest.param(None, None, None, id="suite-absent")]
    params = []
    for path in sorted(SUITE.glob("*.json")):
        document = read_json(path)
        if not isinstance(document, dict) or "tests" not in document:
            continue
        for test in iter_cases(document):
            test_id = f"{path.stem}: {test.get('title')}"
            params.append(pytest.param(path.name, document.get("resources") or [], test, id=test_id))
    return params


@pytest.mark.parametrize(("file", "resources", "test"), _suite_cases())
def test_view_runner_passes_the_sql_on_fhir_suite_case(
    file: str | None, resources: list[Any] | None, test: dict[str, Any] | None
) -> None:
    reference("sql_on_fhir_v2")
    assert file is not None and resources is not None and test is not None
    result = run_case(file, resources, test)
    assert result.passed, result.reason


def test_the_suite_has_the_expected_number_of_tests() -> None:
    folder: Path = reference("sql_on_fhir_v2")
    total = sum(
        len(list(iter_cases(doc))) for doc in (read_json(p) for p in folder.glob("*.json")) if isinstance(doc, dict)
    )
    assert total == 134
