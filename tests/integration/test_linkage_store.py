"""``carepilot link`` on a store holding both synthetic sources: links match the truth, review decisions stick,
the profile shows the golden record with each source's identifiers and observations."""

import pandas as pd
import pytest

from tests.cli import run, run_json


@pytest.fixture(scope="module")
def linked_home(tmp_path_factory):
    base = tmp_path_factory.mktemp("linkage")
    out, home = base / "population", base / "home"
    run_json(home, "synth", "--patients", "300", "--seed", "5", "--out", str(out), "--format", "ndjson", "--no-streams")
    run_json(home, "ingest", str(out / "fhir" / "ehr"), "--source", "ehr")
    run_json(home, "ingest", str(out / "fhir" / "lab"), "--source", "lab")
    summary = run_json(home, "link")
    return home, out, summary


def truth_pairs(out):
    persons = pd.read_parquet(out / "truth" / "persons.parquet")
    groups = persons.groupby("person_id")["patient_id"].apply(sorted)
    return {tuple(ids) for ids in groups if len(ids) == 2}


@pytest.mark.slow
def test_links_on_the_store_recover_the_synthetic_truth(linked_home):
    home, out, summary = linked_home
    truth = truth_pairs(out)
    assert summary["sources"] == ["ehr", "lab"]
    from carepilot.config import Settings
    from carepilot.store.db import open_database
    from carepilot.store.links import LinkRepository

    db = open_database(Settings(home=home).resolved_database_url)
    rows = LinkRepository(db).links()
    by_person: dict[str, list[str]] = {}
    for r in rows:
        by_person.setdefault(r["golden_id"], []).append(r["patient_id"])
    found = {tuple(sorted(ids)) for ids in by_person.values()}
    correct = len(found & truth)
    assert correct / len(found) >= 0.97  # precision
    assert correct / len(truth) >= 0.9  # recall on a small population
    db.dispose()


@pytest.mark.slow
def test_a_rejected_pair_is_unlinked_on_the_next_run_and_stays_rejected(linked_home):
    home, out, _ = linked_home
    pair = sorted(truth_pairs(out))[0]
    decided = run_json(home, "link", "review", "--reject", f"{pair[1]}:{pair[0]}")
    assert decided == {"pair": f"{pair[0]}:{pair[1]}", "status": "rejected"}
    run_json(home, "link")
    profile = run_json(home, "profile", pair[0])
    assert "person" not in profile
    run_json(home, "link", "review", "--accept", f"{pair[0]}:{pair[1]}")
    run_json(home, "link")
    person = run_json(home, "profile", pair[0])["person"]
    statuses = {r["patient_id"]: r["status"] for r in person["records"]}
    assert statuses == {pair[0]: "reviewed", pair[1]: "reviewed"}


@pytest.mark.slow
def test_the_profile_merges_identifiers_and_observations_with_their_source(linked_home):
    home, out, _ = linked_home
    pair = sorted(truth_pairs(out))[-1]
    profile = run_json(home, "profile", pair[0])
    person = profile["person"]
    assert {r["source"] for r in person["records"]} == {"ehr", "lab"}
    assert {i["source"] for i in person["identifiers"]} == {"ehr", "lab"}
    lab_obs = [o for o in person["observations"] if o["source"] == "lab"]
    assert lab_obs and all(o["patient_id"] in pair for o in person["observations"])
    text = run(home, "profile", pair[0]).stdout
    assert "records linked across sources" in text


def test_review_refuses_a_malformed_pair_or_an_unknown_patient(tmp_path):
    home = tmp_path / "home"
    bad = run(home, "link", "review", "--accept", "only-one-id")
    assert bad.exit_code == 2 and "not two patient ids" in bad.stderr
    unknown = run(home, "link", "review", "--reject", "a:b")
    assert unknown.exit_code == 3


def test_linking_an_empty_store_says_what_is_missing(tmp_path):
    result = run(tmp_path / "home", "link")
    assert result.exit_code == 2 and "no Patient resources" in result.stderr
