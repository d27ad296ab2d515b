"""ViewDefinition validation: malformed views are refused up front with a message naming the element."""

from __future__ import annotations

from typing import Any

import pytest

from carepilot.errors import InputError
from carepilot.features.viewdefinition import InvalidViewDefinition, parse_view


def view(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}
    base.update(overrides)
    return base


def test_a_minimal_view_compiles_with_its_columns_in_order() -> None:
    compiled = parse_view(
        view(
            select=[
                {
                    "column": [{"name": "a", "path": "id", "type": "id"}],
                    "select": [{"column": [{"name": "b", "path": "id"}]}],
                },
                {"column": [{"name": "c", "path": "name.given", "collection": True}]},
            ]
        )
    )
    assert [c.name for c in compiled.columns] == ["a", "b", "c"]
    assert compiled.columns[0].type == "id"
    assert compiled.columns[2].collection is True


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ({}, "resource"),
        ({"select": [{"column": [{"name": "id", "path": "id"}]}]}, "resource"),
        (view(select=[]), "select"),
        (view(resource="Patinet"), "not a FHIR R4 resource type"),
        (view(select=[{"forEach": 1}]), "forEach"),
        (view(select=[{"forEach": "@@"}]), "invalid FHIRPath"),
        (view(select=[{"forEach": "name", "forEachOrNull": "name"}]), "only one of"),
        (view(select=[{"column": [{"name": "1bad", "path": "id"}]}]), "column name"),
        (
            view(select=[{"column": [{"name": "id", "path": "id"}, {"name": "id", "path": "gender"}]}]),
            "more than once",
        ),
        (view(select=[{"column": [{"name": "x", "path": "name.where(use = %missing)"}]}]), "%missing"),
        (view(constant=[{"name": "c"}]), "value[x]"),
        (view(select=[{"column": [{"name": "x", "path": "name.noSuchFunction()"}]}]), "noSuchFunction"),
        (view(where=[{"path": "name.where("}]), "where[0].path"),
        (view(constant=[{"name": "c", "valueInteger": "1"}]), "valueInteger"),
        (view(constant=[{"name": "c", "valueString": "a", "valueCode": "b"}]), "exactly one"),
        (view(resourceType="Patient"), "ViewDefinition"),
        (view(select=[{"colum": []}]), "colum"),
        (
            view(
                select=[
                    {
                        "unionAll": [
                            {"column": [{"name": "a", "path": "id"}]},
                            {"column": [{"name": "b", "path": "id"}]},
                        ]
                    }
                ]
            ),
            "same columns",
        ),
    ],
)
def test_invalid_views_are_refused_with_a_message_naming_the_problem(definition: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidViewDefinition) as caught:
        parse_view(definition)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, InputError)


def test_a_view_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidViewDefinition):
        parse_view(["not", "a", "view"])  # type: ignore[arg-type]


def test_constants_are_available_to_paths_and_shared_with_unionall_branches() -> None:
    compiled = parse_view(
        view(
            constant=[{"name": "use", "valueCode": "official"}, {"name": "n", "valueInteger": 2}],
            select=[{"unionAll": [{"forEach": "name.where(use = %use)", "column": [{"name": "f", "path": "family"}]}]}],
        )
    )
    assert compiled.constants == {"use": "official", "n": 2}
