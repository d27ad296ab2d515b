"""The runner on small hand-written views and synthetic resources."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from carepilot.errors import InputError
from carepilot.features.viewdefinition import ViewEvaluationError, iter_rows, parse_view, run_view

PATIENTS: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1970-06-15",
        "name": [{"use": "official", "family": "Alpha", "given": ["A1", "A2"]}, {"family": "Beta"}],
        "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@x"}],
    },
    {"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1940-01-01"},
    {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}},
]


def ids(rows: list[dict[str, Any]]) -> list[Any]:
    return [r.get("id") for r in rows]


def test_only_resources_of_the_view_type_produce_rows() -> None:
    rows = run_view({"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}, PATIENTS)
    assert rows == [{"id": "p1"}, {"id": "p2"}]


def test_for_each_unnests_and_for_each_or_null_keeps_resources_without_elements() -> None:
    for_each = {
        "resource": "Patient",
        "select": [
            {"column": [{"name": "id", "path": "id"}]},
            {
                "forEach": "name",
                "column": [{"name": "family", "path": "family"}, {"name": "i", "path": "%rowIndex"}],
            },
        ],
    }
    assert run_view(for_each, PATIENTS) == [
        {"id": "p1", "family": "Alpha", "i": 0},
        {"id": "p1", "family": "Beta", "i": 1},
    ]
    or_null = {
        **for_each,
        "select": [for_each["select"][0], {**for_each["select"][1], "forEachOrNull": "name"}],
    }
    del or_null["select"][1]["forEach"]
    assert run_view(or_null, PATIENTS)[-1] == {"id": "p2", "family": None, "i": 0}


def test_union_all_concatenates_branches_and_crosses_with_sibling_columns() -> None:
    definition = {
        "resource": "Patient",
        "select": [
            {"column": [{"name": "id", "path": "id"}]},
            {
                "unionAll": [
                    {"forEach": "telecom", "column": [{"name": "v", "path": "value"}]},
                    {"forEach": "name", "column": [{"name": "v", "path": "family"}]},
                ]
            },
        ],
    }
    assert run_view(definition, PATIENTS) == [
        {"id": "p1", "v": "1"},
        {"id": "p1", "v": "a@x"},
        {"id": "p1", "v": "Alpha"},
        {"id": "p1", "v": "Beta"},
    ]


def test_where_filters_and_a_non_boolean_where_is_an_error() -> None:
    definition = {
        "resource": "Patient",
        "select": [{"column": [{"name": "id", "path": "id"}]}],
        "where": [{"path": "gender = 'male'"}],
    }
    assert ids(run_view(definition, PATIENTS)) == ["p2"]
    with pytest.raises(ViewEvaluationError, match="boolean"):
        run_view({**definition, "where": [{"path": "gender"}]}, PATIENTS)


def test_a_scalar_column_with_several_values_is_an_error_unless_it_is_a_collection() -> None:
    scalar = {"resource": "Patient", "select": [{"column": [{"name": "given", "path": "name.given"}]}]}
    with pytest.raises(ViewEvaluationError, match="collection"):
        run_view(scalar, PATIENTS)
    scalar["select"][0]["column"][0]["collection"] = True
    assert run_view(scalar, PATIENTS) == [{"given": ["A1", "A2"]}, {"given": []}]


def test_repeat_walks_nested_items_depth_first() -> None:
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": "q",
        "item": [
            {"linkId": "1", "item": [{"linkId": "1.1", "item": [{"linkId": "1.1.1"}]}]},
            {"linkId": "2"},
        ],
    }
    definition = {
        "resource": "QuestionnaireResponse",
        "select": [
            {
                "repeat": ["item"],
                "column": [{"name": "link", "path": "linkId"}, {"name": "i", "path": "%rowIndex"}],
            },
        ],
    }
    assert run_view(definition, [response]) == [
        {"link": "1", "i": 0},
        {"link": "1.1", "i": 1},
        {"link": "1.1.1", "i": 2},
        {"link": "2", "i": 3},
    ]


def test_date_constants_compare_as_dates_and_integers_as_indexes() -> None:
    definition = {
        "resource": "Patient",
        "constant": [{"name": "cut", "valueDate": "1950-01-01"}, {"name": "k", "valueInteger": 1}],
        "select": [{"column": [{"name": "id", "path": "id"}, {"name": "second", "path": "name[%k].family"}]}],
        "where": [{"path": "birthDate > %cut"}],
    }
    assert run_view(definition, PATIENTS) == [{"id": "p1", "second": "Beta"}]


def test_rows_stream_one_resource_at_a_time() -> None:
    def feed() -> Iterator[Any]:
        yield PATIENTS[0]
        raise RuntimeError("the second resource was read before the first row was used")

    rows = iter_rows({"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}, feed())
    assert next(rows) == {"id": "p1"}


def test_a_non_object_resource_is_an_input_error_naming_its_position() -> None:
    with pytest.raises(InputError, match="#1"):
        run_view({"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]}, [PATIENTS[0], 7])


def test_a_compiled_view_pickles_for_use_in_worker_processes() -> None:
    compiled = parse_view(
        {
            "resource": "Patient",
            "constant": [{"name": "d", "valueDate": "1950-01-01"}],
            "select": [{"column": [{"name": "old", "path": "birthDate < %d"}]}],
        }
    )
    clone = pickle.loads(pickle.dumps(compiled))
    assert run_view(clone, PATIENTS) == run_view(compiled, PATIENTS) == [{"old": False}, {"old": True}]


def test_primitive_extensions_without_values_add_no_nulls_to_collections() -> None:
    patient = {
        "resourceType": "Patient",
        "_birthDate": {"extension": [{"url": "u", "valueString": "unknown"}]},
        "name": [{"given": ["A", None], "_given": [None, {"extension": [{"url": "u"}]}]}],
    }
    definition = {
        "resource": "Patient",
        "select": [
            {
                "column": [
                    {"name": "born", "path": "birthDate"},
                    {"name": "given", "path": "name.given", "collection": True},
                    {"name": "why", "path": "birthDate.extension('u').value.ofType(string)"},
                ]
            }
        ],
    }
    assert run_view(definition, [patient]) == [{"born": None, "given": ["A"], "why": "unknown"}]
