"""Reading FHIR files (JSON, Bundle, NDJSON, gzip, folders), writing CSV/Parquet/NDJSON, the CLI."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from carepilot.cli.app import app
from carepilot.errors import UnreadableInputError
from carepilot.features.viewdefinition import parse_view, run_view
from carepilot.features.viewdefinition.sources import iter_resources
from carepilot.features.viewdefinition.tables import write_rows

P1 = {"resourceType": "Patient", "id": "p1", "gender": "female", "name": [{"given": ["A", "B"]}]}
P2 = {"resourceType": "Patient", "id": "p2", "gender": "male"}
OBS = {"resourceType": "Observation", "id": "o1", "status": "final", "valueQuantity": {"value": 1.50}}
VIEW: dict[str, Any] = {
    "resourceType": "ViewDefinition",
    "name": "people",
    "resource": "Patient",
    "select": [
        {
            "column": [
                {"name": "id", "path": "id", "type": "id"},
                {"name": "female", "path": "gender = 'female'", "type": "boolean"},
                {"name": "n_given", "path": "name.given.count()", "type": "integer"},
                {"name": "given", "path": "name.given", "type": "string", "collection": True},
            ]
        }
    ],
}


def test_bundles_ndjson_gzip_arrays_and_folders_are_all_read(tmp_path: Path) -> None:
    (tmp_path / "bundle.json").write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": P1}]}))
    (tmp_path / "more.ndjson").write_text(json.dumps(P2) + "\n\n" + json.dumps(OBS) + "\n")
    with gzip.open(tmp_path / "list.json.gz", "wt") as handle:
        json.dump([P2], handle)
    (tmp_path / "notes.txt").write_text("ignored")
    ids = [r["id"] for r in iter_resources([tmp_path])]
    assert ids == ["p1", "p2", "p2", "o1"]


def test_decimals_keep_their_written_precision(tmp_path: Path) -> None:
    (tmp_path / "obs.json").write_text('{"resourceType": "Observation", "valueQuantity": {"value": 1.50}}')
    view = {
        "resource": "Observation",
        "select": [{"column": [{"name": "low", "path": "value.ofType(Quantity).value.lowBoundary()"}]}],
    }
    assert run_view(view, iter_resources([tmp_path / "obs.json"])) == [{"low": 1.495}]


def test_unreadable_input_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(P1) + "\n{not json\n")
    with pytest.raises(UnreadableInputError, match=r"bad\.ndjson:2"):
        list(iter_resources([bad]))
    with pytest.raises(UnreadableInputError, match="no such file"):
        list(iter_resources([tmp_path / "missing.json"]))
    (tmp_path / "plain.json").write_text('{"hello": 1}')
    with pytest.raises(UnreadableInputError, match="resourceType"):
        list(iter_resources([tmp_path / "plain.json"]))


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".ndjson"])
def test_rows_are_written_with_every_column_in_each_format(tmp_path: Path, suffix: str) -> None:
    compiled = parse_view(VIEW)
    out = tmp_path / f"people{suffix}"
    written = write_rows(run_view(compiled, [P1, P2]), compiled.columns, out)
    assert written == 2
    if suffix == ".csv":
        with out.open() as handle:
            rows = list(csv.DictReader(handle))
        assert rows[0] == {"id": "p1", "female": "true", "n_given": "2", "given": '["A","B"]'}
    elif suffix == ".parquet":
        table = pq.read_table(out)
        assert str(table.schema.field("n_given").type) == "int64"
        assert table.to_pylist()[1] == {"id": "p2", "female": False, "n_given": 0, "given": []}
    else:
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert lines[0]["given"] == ["A", "B"]


def test_views_run_prints_a_summary_and_writes_the_output(tmp_path: Path) -> None:
    view_file = tmp_path / "view.json"
    view_file.write_text(json.dumps(VIEW))
    data = tmp_path / "data.ndjson"
    data.write_text("\n".join(json.dumps(r) for r in (P1, P2, OBS)))
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app, ["views", "run", str(view_file), "--input", str(data), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["row_count"] == 2 and summary["resources_read"] == 3
    assert [c["name"] for c in summary["columns"]] == ["id", "female", "n_given", "given"]
    assert out.read_text().splitlines()[0] == "id,female,n_given,given"


def test_views_run_refuses_an_invalid_view_with_an_input_error(tmp_path: Path) -> None:
    view_file = tmp_path / "view.json"
    view_file.write_text(json.dumps({"select": []}))
    result = CliRunner().invoke(app, ["views", "run", str(view_file), "--input", str(tmp_path)])
    assert result.exit_code == 2
    assert "resource" in result.stderr


def test_views_list_and_validate_describe_the_bundled_views() -> None:
    listed = CliRunner().invoke(app, ["views", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {v["name"]: v for v in json.loads(listed.output)}
    assert names["observations"]["resource"] == "Observation"
    checked = CliRunner().invoke(app, ["views", "validate", "conditions", "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["columns"][0]["name"] == "condition_id"
