"""The 25 Synthea R4 bundles (FHIR written by another tool) ingest cleanly, profile sensibly and re-ingest idempotently."""

import pytest

from tests.cli import run, run_json
from tests.conftest import reference


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    folder = reference("synthea_fhir_r4")
    home = tmp_path_factory.mktemp("synthea") / "home"
    first = run_json(home, "ingest", str(folder), "--source", "synthea")
    return home, folder, first


def test_every_resource_is_accepted_or_quarantined_with_a_reason(ingested):
    _, _, first = ingested
    assert first["files"] == 25
    assert first["resources_read"] > 3000
    handled = first["accepted"] + first["unchanged"] + first["updated"] + first["stale"] + first["quarantined"]
    assert handled == first["resources_read"]
    assert sum(first["quarantine_reasons"].values()) == first["quarantined"]
    assert first["patients"] == 25


def test_ingesting_them_again_changes_no_counts(ingested):
    home, folder, _ = ingested
    before = run_json(home, "quality")["resources_by_type_and_source"]
    again = run_json(home, "ingest", str(folder), "--source", "synthea")
    assert again["accepted"] == 0 and again["updated"] == 0 and again["quarantined"] == 0
    assert again["unchanged"] == again["resources_read"]
    assert run_json(home, "quality")["resources_by_type_and_source"] == before


def test_every_profile_prints_with_demographics_and_a_timeline(ingested):
    home, _, _ = ingested
    patients = run_json(home, "patients")
    assert len(patients) == 25
    for p in patients:
        profile = run_json(home, "profile", p["patient_id"])
        assert profile["demographics"]["birth_date"] and profile["demographics"]["sex"] in ("male", "female")
        assert profile["encounters"], "every Synthea patient has encounters"
        assert profile["timeline"]
        text = run(home, "profile", p["patient_id"])
        assert text.exit_code == 0 and "active problems" in text.stdout and "timeline" in text.stdout


def test_synthea_vitals_and_labs_are_recognised(ingested):
    home, _, _ = ingested
    completeness = run_json(home, "quality")["completeness"]["share_of_patients_with"]
    assert completeness["systolic_bp"] == 1.0 and completeness["body_weight"] == 1.0
