"""View outputs load into a SQL engine (DuckDB) with the declared types and join on resource keys."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from carepilot.errors import InputError
from carepilot.features.viewdefinition import parse_view, run_view
from carepilot.features.viewdefinition.sql import create_table_sql, sql_type
from carepilot.features.viewdefinition.tables import to_arrow
from carepilot.features.views import view_definition

RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-06"},
    {"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1950-01-02"},
    {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "valueQuantity": {"value": 5.4, "code": "mmol/L"},
    },
    {
        "resourceType": "Observation",
        "id": "o2",
        "status": "final",
        "subject": {"reference": "urn:uuid:p2"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "valueQuantity": {"value": 7.1, "code": "mmol/L"},
    },
]


def test_column_types_follow_fhir_types_and_ansi_tags() -> None:
    view = parse_view(
        {
            "resource": "Patient",
            "select": [
                {
                    "column": [
                        {"name": "active", "path": "active", "type": "boolean"},
                        {"name": "born", "path": "birthDate", "type": "date"},
                        {
                            "name": "born_day",
                            "path": "birthDate",
                            "tag": [{"name": "ansi/type", "value": "DATE"}],
                        },
                        {"name": "given", "path": "name.given", "type": "string", "collection": True},
                    ]
                }
            ],
        }
    )
    assert [sql_type(c) for c in view.columns] == ["BOOLEAN", "VARCHAR", "DATE", "VARCHAR[]"]


def test_bundled_views_load_into_duckdb_and_join_on_patient_keys() -> None:
    con = duckdb.connect()
    for name in ("patient_demographics", "observations"):
        view = parse_view(view_definition(name))
        con.execute(create_table_sql(view))
        arrow = to_arrow(run_view(view, RESOURCES), view.columns)
        con.register("incoming", arrow)
        con.execute(f'INSERT INTO "{name}" SELECT * FROM incoming')
        con.unregister("incoming")
    joined = con.execute(
        "SELECT d.gender, o.value FROM observations o JOIN patient_demographics d USING (patient_id) ORDER BY 1"
    ).fetchall()
    assert joined == [("female", 5.4), ("male", 7.1)]


def test_unsafe_table_names_and_type_tags_are_refused() -> None:
    with pytest.raises(InputError):
        create_table_sql(view_definition("conditions"), table='x"; DROP TABLE y; --')
    view = parse_view(
        {
            "resource": "Patient",
            "select": [{"column": [{"name": "a", "path": "id", "tag": [{"name": "ansi/type", "value": "INT); --"}]}]}],
        }
    )
    with pytest.raises(InputError):
        sql_type(view.columns[0])
