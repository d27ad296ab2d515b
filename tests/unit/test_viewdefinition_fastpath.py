"""The quick evaluator agrees with the FHIRPath engine, and hands over whenever it cannot be sure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from carepilot.features.viewdefinition.fastpath import compile_steps
from carepilot.features.viewdefinition.fhirpath import compile_path, constant_value

RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "category": [{"coding": [{"system": "cat", "code": "vital-signs"}, {"system": "other", "code": "x"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Height"}]},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2020-01-01", "end": "2020-01-02"},
        "valueAge": {"value": Decimal("42.0"), "code": "a"},
        "component": [{"code": {"text": "c"}, "valueString": "s"}],
        "identifier": [
            {"system": "s", "value": "id-1"},
            {"value": None, "_value": {"extension": [{"url": "u"}]}},
        ],
    },
    {
        "resourceType": "Observation",
        "id": "o2",
        "status": "entered-in-error",
        "code": {"text": "t", "coding": [{"code": "1"}, {"code": "2"}]},
        "subject": {"reference": "urn:uuid:p2"},
        "effectiveDateTime": "2021-05",
        "valueQuantity": {"value": 3, "code": "mg"},
        "_status": {"extension": [{"url": "u", "valueString": "why"}]},
    },
    {
        "resourceType": "Observation",
        "id": "o3",
        "code": {"coding": []},
        "valueCodeableConcept": {"coding": [{"code": "neg"}]},
        "valueString": "two value[x] keys: malformed on purpose",
    },
    {
        "resourceType": "Patient",
        "id": "p1",
        "birthDate": "1970-06-01",
        "_birthDate": {"extension": [{"url": "u", "valueString": "approximate"}]},
        "name": [{"given": ["A", None], "_given": [None, {"extension": [{"url": "u"}]}], "family": "F"}],
        "extension": [
            {"url": "race", "extension": [{"url": "ombCategory", "valueCoding": {"code": "2106-3"}}]},
            {"url": "race", "valueString": "second"},
            {"valueString": "no url"},
        ],
        "deceasedBoolean": False,
    },
]

EXPRESSIONS = [
    "id",
    "status",
    "code.coding.first().code",
    "code.coding[1].code",
    "code.coding.code",
    "code.coding.exists()",
    "code.coding.empty()",
    "code.coding.count()",
    "category.coding.where(system = 'cat').code.first()",
    "category.coding.where(system = %sys).code",
    "subject.getReferenceKey()",
    "subject.getReferenceKey(Patient)",
    "subject.getReferenceKey(Group)",
    "getResourceKey()",
    "value.ofType(Quantity).value",
    "value.ofType(Quantity).code",
    "value.ofType(CodeableConcept).coding.first().code",
    "value.ofType(string)",
    "value",
    "effective.ofType(dateTime)",
    "(effective.ofType(dateTime) | effective.ofType(Period).start).first()",
    "(code.text | code.coding.first().display).first()",
    "component.value.ofType(string)",
    "identifier.value",
    "identifier.value.ofType(string)",
    "name.given",
    "name.given.first()",
    "name.family",
    "birthDate",
    "birthDate.extension('u').value.ofType(string)",
    "status.extension('u').value.ofType(string)",
    "deceased.ofType(boolean)",
    "extension('race').extension('ombCategory').value.ofType(Coding).code.first()",
    "extension(%race).value.ofType(string)",
    "extension('race').count()",
    "name.where(family = %born).family",
    "%rowIndex",
    "%resource.id",
    "'literal'",
    "true",
    "$this.id",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_quick_and_engine_evaluation_agree(expression: str) -> None:
    variables = {
        "sys": "cat",
        "race": "race",
        "born": constant_value("date", "1970-06-01"),
        "rowIndex": 0,
    }
    quick = compile_path(expression)
    engine = compile_path(expression, quick=False)
    assert engine.steps is None
    for resource in RESOURCES:
        scope = {**variables, "resource": resource}
        assert quick.values([resource], scope) == engine.values([resource], scope), resource["id"]


@pytest.mark.parametrize(
    "expression",
    [
        "Observation.id",
        "status != 'final'",
        "a or b",
        "name.given.join(',')",
        "(a | b)",
        "name.where(family.startsWith('F'))",
        "value.length",
    ],
)
def test_shapes_outside_the_quick_subset_go_to_the_engine(expression: str) -> None:
    assert compile_path(expression).steps is None


def test_the_plain_shapes_are_compiled_for_the_quick_path() -> None:
    assert compile_steps(compile_path("meta.versionId.first()").tree) == (
        ("member", "meta"),
        ("member", "versionId"),
        ("first",),
    )
    assert compile_path("code.coding.first().code").steps is not None
    assert compile_path("value.ofType(Quantity).value").steps is not None
