import gzip

import orjson
import pytest

from carepilot.errors import UnreadableInputError
from carepilot.ingest.readers import discover, read_entries
from tests import samples


def test_a_transaction_bundle_yields_entries_with_positions_and_a_urn_map(tmp_path):
    path = tmp_path / "b.json"
    b = samples.bundle([samples.patient(), samples.observation("o1")])
    path.write_bytes(orjson.dumps(b))
    entries = list(read_entries(path))
    assert [e.position for e in entries] == ["entry 0", "entry 1"]
    assert entries[1].local_refs["urn:uuid:o1"] == "Observation/o1"


def test_an_entry_without_id_takes_the_id_of_its_urn_uuid(tmp_path):
    obs = samples.observation("o1")
    del obs["id"]
    b = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"fullUrl": "urn:uuid:1234", "resource": obs, "request": {"method": "POST", "url": "Observation"}}],
    }
    path = tmp_path / "b.json"
    path.write_bytes(orjson.dumps(b))
    assert next(iter(read_entries(path))).resource["id"] == "1234"


def test_ndjson_is_read_line_by_line_and_a_bad_line_is_reported_not_fatal(tmp_path):
    path = tmp_path / "Observation.ndjson.gz"
    lines = [orjson.dumps(samples.observation("o1")), b"{not json", orjson.dumps(samples.observation("o2"))]
    with gzip.open(path, "wb") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    entries = list(read_entries(path))
    assert len(entries) == 3
    assert entries[1].problem is not None and entries[1].problem.code == "invalid_json"
    assert entries[1].position == "line 2"
    assert entries[2].resource["id"] == "o2"


def test_a_file_that_is_not_json_names_the_file_and_the_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Patient",\n  "id": }')
    with pytest.raises(UnreadableInputError, match=r"broken\.json: not valid JSON at line 2"):
        list(read_entries(path))


def test_operation_outcomes_in_search_bundles_are_skipped(tmp_path):
    b = samples.bundle(
        [samples.patient(), {"resourceType": "OperationOutcome", "id": "oo", "issue": []}], kind="searchset"
    )
    path = tmp_path / "s.json"
    path.write_bytes(orjson.dumps(b))
    assert [e.resource["resourceType"] for e in read_entries(path)] == ["Patient"]


def test_discover_finds_fhir_files_recursively_and_refuses_a_missing_path(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text("{}")
    (tmp_path / "a" / "y.ndjson.gz").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("x")
    assert [p.name for p in discover([tmp_path])] == ["x.json", "y.ndjson.gz"]
    with pytest.raises(UnreadableInputError, match="no such file"):
        discover([tmp_path / "missing"])
