"""Judge the runner against the SQL on FHIR v2 test-case format (pure: documents in, results out).

A test document holds ``resources`` and ``tests``; each test has a ``view`` and one of ``expect`` (rows),
``expectCount`` or ``expectError``, optionally ``expectColumns``. Rows are compared as the reference runner
does: as a multiset (order ignored), each row with exactly the expected keys and equal values; numbers compare
by value (``5`` equals ``5.0``) but never equal booleans.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from carepilot.errors import InputError
from carepilot.features.viewdefinition.model import parse_view
from carepilot.features.viewdefinition.runner import run_view


@dataclass(frozen=True)
class CaseResult:
    """Outcome of one test of the suite."""

    file: str
    name: str
    passed: bool
    reason: str = ""

    def report_entry(self) -> dict[str, Any]:
        """The entry of the suite's ``test_report.json`` format."""
        result: dict[str, Any] = {"passed": self.passed}
        if not self.passed:
            result["error"] = self.reason
        return {"name": self.name, "result": result}


def iter_cases(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The tests of one suite document (nothing for files that are not test documents)."""
    tests = document.get("tests") if isinstance(document, Mapping) else None
    if isinstance(tests, list):
        yield from (t for t in tests if isinstance(t, Mapping))


def run_case(file: str, resources: list[Any], test: Mapping[str, Any]) -> CaseResult:
    """Run one test of the suite and judge it."""
    name = str(test.get("title", "?"))
    if test.get("expectError"):
        try:
            run_view(test.get("view", {}), resources)
        except InputError:
            return CaseResult(file, name, True)
        except Exception as exc:  # a crash is a failure of this runner, never an expected error
            return CaseResult(file, name, False, f"crashed instead of raising InputError: {exc!r}")
        return CaseResult(file, name, False, "expected an error, the view ran")
    try:
        view = parse_view(test.get("view", {}))
        rows = run_view(view, resources)
    except InputError as exc:
        return CaseResult(file, name, False, f"unexpected error: {exc}")
    except Exception as exc:  # reported, not raised, so one bad case cannot hide the others
        return CaseResult(file, name, False, f"crashed: {exc!r}")
    expected_columns = test.get("expectColumns")
    if expected_columns is not None:
        got = [c.name for c in view.columns]
        if got != list(expected_columns):
            return CaseResult(file, name, False, f"columns {got}, expected {list(expected_columns)}")
    if "expectCount" in test:
        if len(rows) != test["expectCount"]:
            return CaseResult(file, name, False, f"{len(rows)} rows, expected {test['expectCount']}")
        return CaseResult(file, name, True)
    return _compare(file, name, rows, list(test.get("expect") or []))


def _compare(file: str, name: str, rows: list[dict[str, Any]], expected: list[Any]) -> CaseResult:
    if len(rows) != len(expected):
        return CaseResult(file, name, False, f"{len(rows)} rows, expected {len(expected)}")
    got = Counter(_canonical(r) for r in rows)
    want = Counter(_canonical(r) for r in expected)
    if got == want:
        return CaseResult(file, name, True)
    missing = list((want - got).elements())[:2]
    extra = list((got - want).elements())[:2]
    return CaseResult(file, name, False, f"rows differ: missing {missing}, unexpected {extra}")


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ("row", tuple(sorted((str(k), _canonical(v)) for k, v in value.items())))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float, Decimal)):
        return ("num", round(float(value), 9))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_canonical(v) for v in value))
    if value is None:
        return ("null", None)
    return ("str", str(value))
