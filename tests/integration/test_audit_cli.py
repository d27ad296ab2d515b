"""``carepilot audit verify|list|export`` and the audit records of command-line reads."""

from __future__ import annotations

import sqlite3

import orjson
from fhir.resources.R4B.auditevent import AuditEvent

from tests import samples
from tests.cli import run, run_json


def ingested(tmp_path):
    home = tmp_path / "home"
    data = tmp_path / "p.json"
    data.write_bytes(orjson.dumps(samples.bundle([samples.patient("cli-p1"), samples.observation("cli-o1", "cli-p1")])))
    run_json(home, "ingest", str(data))
    return home


def test_profile_insights_and_patients_are_audited_and_the_chain_verifies(tmp_path):
    home = ingested(tmp_path)
    run_json(home, "profile", "cli-p1")
    run_json(home, "insights", "cli-p1")
    run_json(home, "patients")
    rows = run_json(home, "audit", "list", "--patient", "cli-p1")
    assert [(r["entity"], r["action"]) for r in rows] == [
        ("Patient/cli-p1", "read"),
        ("Patient/cli-p1/insights", "read"),
    ]
    assert all(r["actor"].startswith("cli:") for r in rows)
    everything = run_json(home, "audit", "list")
    assert everything[-1]["entity"] == "Patient?list" and everything[-1]["patient_id"] is None
    report = run_json(home, "audit", "verify")
    assert report["intact"] and report["entries"] == 3
    assert run(home, "audit", "verify").exit_code == 0


def test_verify_fails_naming_the_first_altered_record(tmp_path):
    home = ingested(tmp_path)
    for _ in range(3):
        run_json(home, "profile", "cli-p1")
    with sqlite3.connect(home / "carepilot.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'cli:nobody' WHERE seq = 2")
    result = run(home, "audit", "verify", "--json")
    assert result.exit_code == 1
    assert orjson.loads(result.stdout)["first_bad_seq"] == 2
    plain = run(home, "audit", "verify")
    assert plain.exit_code == 1 and "entry 2" in plain.stderr


def test_export_writes_valid_fhir_audit_events(tmp_path):
    home = ingested(tmp_path)
    run_json(home, "profile", "cli-p1")
    run_json(home, "insights", "cli-p1")
    out = tmp_path / "audit.ndjson"
    summary = run_json(home, "audit", "export", "--out", str(out))
    lines = out.read_bytes().splitlines()
    assert summary["events"] == len(lines) == 2
    events = [AuditEvent.model_validate_json(line) for line in lines]
    assert all(e.entity[0].what.reference == "Patient/cli-p1" for e in events)
    assert [e.action for e in events] == ["R", "R"]
