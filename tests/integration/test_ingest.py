"""Ingest behaviour end to end through the command line, on a SQLite file."""

import copy

import orjson

from tests import samples
from tests.cli import run, run_json


def _write(path, document):
    path.write_bytes(orjson.dumps(document))
    return path


def _population(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(
        folder / "p1.json",
        samples.bundle(
            [
                samples.patient("p1"),
                samples.observation("o1", "p1", when="2020-01-01T00:00:00Z", value=7.0),
                samples.observation("o2", "p1", when="2024-06-01T00:00:00Z", value=8.4),
                samples.condition("c1", "p1"),
                samples.medication_request("m1", "p1"),
            ]
        ),
    )
    return folder


def test_ingest_reports_the_documented_json_keys(tmp_path):
    out = run_json(tmp_path / "home", "ingest", str(_population(tmp_path)))
    for key in ("resources_read", "accepted", "updated", "quarantined", "patients", "seconds", "quarantine_reasons"):
        assert key in out
    assert (out["resources_read"], out["accepted"], out["quarantined"], out["patients"]) == (5, 5, 0, 1)


def test_reingesting_the_same_bundle_creates_no_duplicates(tmp_path):
    home, folder = tmp_path / "home", _population(tmp_path)
    run_json(home, "ingest", str(folder))
    again = run_json(home, "ingest", str(folder))
    assert (again["accepted"], again["updated"], again["unchanged"]) == (0, 0, 5)
    assert len(run_json(home, "patients")) == 1


def test_a_newer_version_supersedes_the_older_and_history_is_kept(tmp_path):
    home = tmp_path / "home"
    first = samples.observation("o1", value=7.0, meta={"lastUpdated": "2024-01-01T00:00:00Z"})
    second = copy.deepcopy(first) | {
        "valueQuantity": {"value": 9.5, "unit": "%", "code": "%"},
        "meta": {"lastUpdated": "2024-02-01T00:00:00Z"},
    }
    older = copy.deepcopy(first) | {
        "valueQuantity": {"value": 5.0, "unit": "%", "code": "%"},
        "meta": {"lastUpdated": "2023-06-01T00:00:00Z"},
    }
    run_json(home, "ingest", str(_write(tmp_path / "p.json", samples.patient())))
    run_json(home, "ingest", str(_write(tmp_path / "a.json", first)))
    updated = run_json(home, "ingest", str(_write(tmp_path / "b.json", second)))
    stale = run_json(home, "ingest", str(_write(tmp_path / "c.json", older)))
    assert updated["updated"] == 1 and stale["stale"] == 1
    profile = run_json(home, "profile", "pat-1")
    assert profile["latest"]["hba1c"]["value"] == 9.5

    from carepilot.bootstrap import open_store
    from carepilot.config import Settings

    _, repo = open_store(Settings(home=home))
    assert [h["version"] for h in repo.history("Observation", "o1")] == [1, 2, 3]


def test_bad_resources_are_quarantined_with_where_and_why_and_the_rest_is_kept(tmp_path):
    home = tmp_path / "home"
    bad = samples.observation("o-bad")
    del bad["status"]
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "b.json", samples.bundle([samples.patient(), bad, samples.observation("o-good")]))
    (folder / "Observation.ndjson").write_bytes(
        orjson.dumps(samples.observation("o3")) + b"\n{oops\n" + orjson.dumps({"resourceType": "Nope"}) + b"\n"
    )
    out = run_json(home, "ingest", str(folder))
    assert out["accepted"] == 3
    assert out["quarantine_reasons"] == {"validation_failed": 1, "invalid_json": 1, "unknown_resource_type": 1}
    listed = run_json(home, "quarantine", "list")
    where = {(q["position"], q["reason_code"]) for q in listed}
    assert ("entry 1", "validation_failed") in where and ("line 2", "invalid_json") in where
    assert any("Observation.status" in q["reason"] for q in listed)


def test_a_quarantined_record_can_be_fixed_and_retried(tmp_path):
    home = tmp_path / "home"
    bad = samples.observation("o-bad")
    del bad["status"]
    run_json(home, "ingest", str(_write(tmp_path / "b.json", samples.bundle([samples.patient(), bad]))))
    (item,) = run_json(home, "quarantine", "list")
    assert run(home, "quarantine", "retry", str(item["id"])).exit_code == 2  # still invalid as stored
    fixed = _write(tmp_path / "fixed.json", samples.observation("o-bad"))
    result = run(home, "quarantine", "retry", str(item["id"]), "--file", str(fixed))
    assert result.exit_code == 0, result.output
    assert run_json(home, "quarantine", "list") == []
    assert run_json(home, "profile", "pat-1")["latest"]["hba1c"]["value"] == 7.1


def test_a_file_that_is_not_json_gets_one_clear_line_and_a_nonzero_exit_when_nothing_was_read(tmp_path):
    home = tmp_path / "home"
    broken = tmp_path / "broken.json"
    broken.write_text("this is not json")
    result = run(home, "ingest", str(broken))
    assert result.exit_code == 2
    assert "broken.json: not valid JSON at line 1" in result.stderr
    good = _write(tmp_path / "good.json", samples.patient())
    assert run(home, "ingest", str(broken), str(good)).exit_code == 0


def test_as_of_excludes_data_recorded_later(tmp_path):
    home = tmp_path / "home"
    run_json(home, "ingest", str(_population(tmp_path)))
    now = run_json(home, "profile", "p1")
    then = run_json(home, "profile", "p1", "--as-of", "2021-01-01")
    assert now["latest"]["hba1c"]["value"] == 8.4
    assert then["latest"]["hba1c"]["value"] == 7.0
    assert [p["concept"] for p in then["active_problems"]] == ["type2_diabetes"]
    before = run_json(home, "profile", "p1", "--as-of", "2015-01-01")
    assert before["active_problems"] == [] and before["active_medications"] == [] and before["latest"] == {}


def test_an_unknown_patient_and_a_bad_date_give_clear_errors(tmp_path):
    home = tmp_path / "home"
    run_json(home, "ingest", str(_population(tmp_path)))
    assert "no patient" in run(home, "profile", "nobody").stderr
    bad = run(home, "profile", "p1", "--as-of", "yesterday-ish")
    assert bad.exit_code == 2 and "--as-of" in bad.stderr


def test_the_quality_report_follows_the_kahn_framework(tmp_path):
    home = tmp_path / "home"
    folder = _population(tmp_path)
    _write(folder / "odd.json", samples.observation("o-odd", "p1", value=55.0))  # HbA1c 55% is implausible
    run_json(home, "ingest", str(folder))
    report = run_json(home, "quality")
    assert set(report) >= {"conformance", "completeness", "plausibility"}
    implausible = next(c for c in report["plausibility"] if c["check"] == "values outside physiological ranges")
    assert implausible["count"] == 1 and "hba1c" in implausible["detail"]
    assert report["completeness"]["share_of_patients_with"]["hba1c"] == 1.0
