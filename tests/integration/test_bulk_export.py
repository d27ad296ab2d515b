"""``carepilot export``: Bulk Data NDJSON of the unified record round-trips into a fresh store; opted-out
patients (and their linked records) are left out; the manifest lists every file."""

import json

import orjson

from carepilot.domain.consent import CONSENT_PURPOSE_SYSTEM
from tests.cli import run, run_json
from tests.samples import condition, medication_request, observation, patient


def consent(pid, purposes):
    return {
        "resourceType": "Consent",
        "id": f"consent-{pid}",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "dateTime": "2026-01-01",
        "provision": {"type": "deny", "purpose": [{"system": CONSENT_PURPOSE_SYSTEM, "code": p} for p in purposes]},
    }


def write_ndjson(path, resources):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")


def seed_store(tmp_path, consents=()):
    resources = []
    for pid in ("p1", "p2", "p3"):
        resources += [
            patient(pid),
            observation(f"o-{pid}", pid),
            condition(f"c-{pid}", pid),
            medication_request(f"m-{pid}", pid),
        ]
    resources += list(consents)
    source = tmp_path / "in" / "data.ndjson"
    write_ndjson(source, resources)
    home = tmp_path / "home"
    assert run_json(home, "ingest", str(source))["quarantined"] == 0
    return home


def stored(home):
    from sqlalchemy import select

    from carepilot.config import Settings
    from carepilot.store import tables as t
    from carepilot.store.db import open_database

    db = open_database(Settings(home=home).resolved_database_url)
    with db.read() as conn:
        rows = conn.execute(select(t.resources.c.resource_type, t.resources.c.resource_id, t.resources.c.content))
        out = {(r.resource_type, r.resource_id): orjson.loads(r.content) for r in rows}
    db.dispose()
    return out


def test_export_then_ingest_into_a_fresh_store_gives_the_same_resources(tmp_path):
    home = seed_store(tmp_path)
    out = tmp_path / "export"
    manifest = run_json(home, "export", "--out", str(out))
    assert {o["type"] for o in manifest["output"]} == {"Patient", "Observation", "Condition", "MedicationRequest"}
    assert json.loads((out / "manifest.json").read_text())["output"] == manifest["output"]
    for item in manifest["output"]:
        lines = (out / f"{item['type']}.ndjson").read_text().splitlines()
        assert len(lines) == item["count"] and item["url"].startswith("file://")
    fresh = tmp_path / "fresh"
    files = sorted(str(p) for p in out.glob("*.ndjson"))  # the NDJSON the manifest lists, as a Bulk client reads it
    assert run_json(fresh, "ingest", *files)["quarantined"] == 0
    original, copy = stored(home), stored(fresh)
    assert copy.keys() == original.keys()
    for key, resource in original.items():
        assert {k: v for k, v in copy[key].items() if k != "meta"} == {k: v for k, v in resource.items() if k != "meta"}


def test_patients_who_opted_out_of_sharing_are_left_out_with_everything_about_them(tmp_path):
    home = seed_store(tmp_path, consents=[consent("p2", ["sharing"]), consent("p3", ["training"])])
    out = tmp_path / "export"
    manifest = run_json(home, "export", "--out", str(out))
    assert manifest["excluded_patients"] == 1
    text = "".join((out / f"{o['type']}.ndjson").read_text() for o in manifest["output"])
    assert "p2" not in text  # neither the Patient nor its observations, conditions, orders or consent
    assert '"id":"p3"' in text and '"id":"p1"' in text


def test_type_and_since_filters_narrow_the_export(tmp_path):
    home = seed_store(tmp_path)
    only = run_json(home, "export", "--out", str(tmp_path / "a"), "--type", "Patient,Condition")
    assert {o["type"] for o in only["output"]} == {"Patient", "Condition"}
    assert "_type=Condition,Patient" in only["request"]
    later = run_json(home, "export", "--out", str(tmp_path / "b"), "--since", "2999-01-01")
    assert later["output"] == []


def test_a_bad_since_date_or_a_used_folder_is_refused(tmp_path):
    home = seed_store(tmp_path)
    assert run(home, "export", "--out", str(tmp_path / "x"), "--since", "soon").exit_code == 2
    run_json(home, "export", "--out", str(tmp_path / "y"))
    again = run(home, "export", "--out", str(tmp_path / "y"))
    assert again.exit_code == 2 and "empty folder" in again.stderr


def test_a_deidentified_export_carries_no_names_identifiers_or_exact_birth_dates(tmp_path):
    home = seed_store(tmp_path)
    out = tmp_path / "export"
    manifest = run_json(home, "export", "--out", str(out), "--deidentify", "--key-file", str(tmp_path / "k.key"))
    text = "".join((out / f"{o['type']}.ndjson").read_text() for o in manifest["output"])
    assert "Testperson" not in text and "MRN-p1" not in text and "1960-05-01" not in text
    patients = [orjson.loads(line) for line in (out / "Patient.ndjson").read_text().splitlines()]
    observations = [orjson.loads(line) for line in (out / "Observation.ndjson").read_text().splitlines()]
    # References still line up: every observation points at an exported (pseudonymous) patient.
    assert {o["subject"]["reference"] for o in observations} == {f"Patient/{p['id']}" for p in patients}
    assert {p["id"] for p in patients}.isdisjoint({"p1", "p2", "p3"})
