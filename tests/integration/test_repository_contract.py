"""The record repository contract, run against SQLite and PostgreSQL alike."""

from datetime import UTC, datetime

import pytest

from carepilot.errors import NotFoundError
from carepilot.store.repository import WriteBatch

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _current(rtype, rid, version, digest, patient="p1", content='{"resourceType": "X"}'):
    return {
        "resource_type": rtype,
        "resource_id": rid,
        "patient_id": patient,
        "version": version,
        "content_hash": digest,
        "last_updated": None,
        "source": "ehr",
        "ingested_at": NOW,
        "content": content,
    }


def _history(rtype, rid, version, digest):
    return {
        "resource_type": rtype,
        "resource_id": rid,
        "version": version,
        "source": "ehr",
        "received_at": NOW,
        "last_updated": None,
        "content_hash": digest,
        "content": "{}",
        "file": "f.json",
        "position": "entry 0",
    }


def _patient_row(pid="p1"):
    return {
        "patient_id": pid,
        "family": "Testperson",
        "given": "Alex",
        "birth_date": datetime(1960, 1, 1).date(),
        "sex": "female",
        "deceased": None,
        "race": None,
        "ethnicity": None,
        "language": None,
        "site": None,
        "source": "ehr",
        "identifiers": "[]",
    }


def test_a_written_resource_can_be_read_back_with_its_version(repo):
    batch = WriteBatch(
        history=[_history("Patient", "p1", 1, "h1")],
        inserts=[_current("Patient", "p1", 1, "h1", content='{"resourceType": "Patient", "id": "p1"}')],
        normalised={"patients": [_patient_row()]},
    )
    repo.write(batch)
    assert repo.get_resource("Patient", "p1") == {"resourceType": "Patient", "id": "p1"}
    assert repo.current_versions([("Patient", "p1"), ("Patient", "nope")])[("Patient", "p1")].version == 1
    assert [p["patient_id"] for p in repo.list_patients()] == ["p1"]


def test_a_replacement_supersedes_the_current_row_and_history_keeps_both(repo):
    repo.write(
        WriteBatch(
            history=[_history("Patient", "p1", 1, "h1")],
            inserts=[_current("Patient", "p1", 1, "h1")],
            normalised={"patients": [_patient_row()]},
        )
    )
    repo.write(
        WriteBatch(
            history=[_history("Patient", "p1", 2, "h2")],
            replaces=[_current("Patient", "p1", 2, "h2")],
            normalised={"patients": [_patient_row()]},
        )
    )
    assert repo.current_versions([("Patient", "p1")])[("Patient", "p1")].content_hash == "h2"
    assert [h["version"] for h in repo.history("Patient", "p1")] == [1, 2]
    assert len(repo.list_patients()) == 1


def test_a_delete_removes_the_current_row_and_its_normalised_rows_but_not_history(repo):
    repo.write(
        WriteBatch(
            history=[_history("Patient", "p1", 1, "h1")],
            inserts=[_current("Patient", "p1", 1, "h1")],
            normalised={"patients": [_patient_row()]},
        )
    )
    repo.write(WriteBatch(deletes=[("Patient", "p1")]))
    assert repo.get_resource("Patient", "p1") is None
    assert repo.list_patients() == []
    assert len(repo.history("Patient", "p1")) == 1


def test_a_failed_batch_writes_nothing(repo):
    duplicate = _history("Patient", "p1", 1, "h1")
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError type differs per backend
        repo.write(WriteBatch(history=[duplicate, dict(duplicate)], inserts=[_current("Patient", "p1", 1, "h1")]))
    assert repo.get_resource("Patient", "p1") is None
    assert repo.history("Patient", "p1") == []


def test_quarantine_items_can_be_listed_shown_and_resolved(repo):
    row = {
        "run_id": "r",
        "source": "lab",
        "file": "x.ndjson",
        "position": "line 3",
        "resource_type": "Observation",
        "resource_id": "o9",
        "reason_code": "validation_failed",
        "reason": "Observation.status: Field required",
        "content": "{}",
        "created_at": NOW,
        "status": "open",
    }
    repo.write(WriteBatch(quarantine=[row]))
    (listed,) = repo.quarantined("open")
    assert listed["reason_code"] == "validation_failed" and listed["position"] == "line 3"
    repo.set_quarantine_status(listed["id"], "resolved")
    assert repo.quarantined("open") == []
    assert repo.quarantine_item(listed["id"])["status"] == "resolved"
    with pytest.raises(NotFoundError):
        repo.quarantine_item(10_000)


def test_profile_rows_of_an_unknown_patient_raise_not_found(repo):
    with pytest.raises(NotFoundError, match="no patient"):
        repo.profile_rows("nobody")


def test_migrating_twice_is_harmless(database):
    database.migrate()
    assert "resources" in database.table_names()
