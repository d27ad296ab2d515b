"""The FHIRPath functions the spec needs beyond fhirpathpy: keys, boundaries, join, extension, $this."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from carepilot.features.viewdefinition.fhirpath import (
    FhirPathEvaluationError,
    InvalidFhirPath,
    compile_path,
    to_python,
)
from carepilot.features.viewdefinition.keys import reference_key


def ev(resource: Any, expression: str, **variables: Any) -> list[Any]:
    focus = resource if isinstance(resource, list) else [resource]
    return to_python(compile_path(expression).evaluate(focus, variables))


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"reference": "Patient/p1"}, ("Patient", "p1")),
        ({"reference": "http://x.org/fhir/Patient/p1/_history/3"}, ("Patient", "p1")),
        ({"reference": "urn:uuid:abc-1"}, (None, "abc-1")),
        ({"reference": "urn:uuid:abc-1", "type": "Patient"}, ("Patient", "abc-1")),
        ({"reference": "#contained"}, None),
        ({"display": "no literal"}, None),
    ],
)
def test_reference_keys_come_from_relative_absolute_and_bundle_references(
    reference: dict[str, Any], expected: tuple[str | None, str] | None
) -> None:
    assert reference_key(reference) == expected


def test_resource_key_matches_reference_key_of_the_right_type_only() -> None:
    obs = {"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p1"}}
    assert ev(obs, "getResourceKey()") == ["o"]
    assert ev(obs, "subject.getReferenceKey()") == ["p1"]
    assert ev(obs, "subject.getReferenceKey(Patient)") == ["p1"]
    assert ev(obs, "subject.getReferenceKey(Group)") == []


@pytest.mark.parametrize(
    ("resource", "expression", "expected"),
    [
        (
            {"resourceType": "Observation", "valueQuantity": {"value": Decimal("1.0")}},
            "value.ofType(Quantity).value.lowBoundary()",
            [0.95],
        ),
        (
            {"resourceType": "Observation", "valueQuantity": {"value": Decimal("1.0")}},
            "value.ofType(Quantity).value.highBoundary()",
            [1.05],
        ),
        ({"resourceType": "Observation", "valueInteger": 3}, "value.ofType(integer).highBoundary()", [3.5]),
        ({"resourceType": "Patient", "birthDate": "2024-02"}, "birthDate.highBoundary()", ["2024-02-29"]),
        ({"resourceType": "Patient", "birthDate": "1999"}, "birthDate.lowBoundary()", ["1999-01-01"]),
        (
            {"resourceType": "Observation", "valueDateTime": "2010-10-10T10:30Z"},
            "value.ofType(dateTime).highBoundary()",
            ["2010-10-10T10:30:59.999Z"],
        ),
        (
            {"resourceType": "Observation", "valueDateTime": "2010"},
            "value.ofType(dateTime).lowBoundary()",
            ["2010-01-01T00:00:00.000+14:00"],
        ),
        (
            {"resourceType": "Observation", "valueTime": "12:34"},
            "value.ofType(time).highBoundary()",
            ["12:34:59.999"],
        ),
        ({"resourceType": "Observation", "valueString": "12:34"}, "value.ofType(string).lowBoundary()", []),
    ],
)
def test_boundaries_follow_the_precision_of_the_value(
    resource: dict[str, Any], expression: str, expected: list[Any]
) -> None:
    assert ev(resource, expression) == expected


def test_join_of_nothing_is_the_empty_string_and_this_works_at_the_root() -> None:
    patient = {"resourceType": "Patient", "name": [{"given": ["a", "b"]}]}
    assert ev(patient, "name.given.join('-')") == ["a-b"]
    assert ev({"resourceType": "Patient"}, "name.given.join(',')") == [""]
    assert ev(["x"], "$this") == ["x"]


def test_extension_returns_every_match_and_tolerates_extensions_without_url() -> None:
    patient = {
        "resourceType": "Patient",
        "extension": [
            {"url": "u", "valueString": "1"},
            {"valueString": "no url"},
            {"url": "u", "valueString": "2"},
        ],
    }
    assert ev(patient, "extension('u').value.ofType(string)") == ["1", "2"]


def test_ofType_uses_the_fhir_type_hierarchy_whatever_ran_before() -> None:
    observation = {"resourceType": "Observation", "valueCodeableConcept": {"coding": [{"code": "c"}]}}
    assert ev(observation, "value.ofType(CodeableConcept).coding.code") == ["c"]
    assert ev(observation, "value.ofType(Quantity)") == []


def test_bad_expressions_fail_clearly() -> None:
    with pytest.raises(InvalidFhirPath):
        compile_path("name.where(")
    with pytest.raises(InvalidFhirPath):
        compile_path("")
    with pytest.raises(FhirPathEvaluationError, match="undefined"):
        ev({"resourceType": "Patient"}, "%nowhere")
