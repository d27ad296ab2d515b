"""The stored audit trail on SQLite and PostgreSQL: one chain under concurrency, append-only, tampering detected."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from carepilot.security.audit import AuditEntry
from carepilot.store import audit
from carepilot.store.audit import SqlAuditSink


def entry(i: int, patient: str | None = None) -> AuditEntry:
    return AuditEntry(actor="clinician:dr-1", action="read", entity=f"Patient/p{i}", patient_id=patient or f"p{i}")


def fill(database, n: int) -> None:
    sink = SqlAuditSink(database)
    for i in range(n):
        sink.record(entry(i))


def drop_guards(database) -> None:
    """What someone with database rights could do: switch the append-only triggers off."""
    with database.write() as conn:
        if database.is_sqlite:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


def test_concurrent_writers_build_one_unbroken_chain(database):
    sink = SqlAuditSink(database)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                sink.record(entry(t * 100 + i))
        except BaseException as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    report = audit.verify(database)
    assert report.intact, report.problem
    assert report.entries == 100 and report.head_seq == 100
    assert [r["seq"] for r in audit.entries(database)] == list(range(1, 101))


def test_an_entry_written_in_a_failed_transaction_leaves_no_trace(database):
    fill(database, 2)
    with pytest.raises(RuntimeError), database.write() as conn:
        audit.append(conn, entry(9))
        raise RuntimeError("the work failed")
    assert audit.count(database) == 2 and audit.verify(database).intact
    fill(database, 1)
    assert audit.verify(database).head_seq == 3


def test_the_database_refuses_updates_and_deletes(database):
    fill(database, 3)
    with pytest.raises(DBAPIError), database.write() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 2"))
    with pytest.raises(DBAPIError), database.write() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    assert audit.verify(database).intact


def test_an_altered_record_fails_verification_at_its_number(database):
    fill(database, 5)
    drop_guards(database)
    with database.write() as conn:
        conn.execute(text("UPDATE audit_log SET patient_id = 'someone-else' WHERE seq = 3"))
    report = audit.verify(database)
    assert not report.intact and report.first_bad == 3


def test_a_deleted_record_fails_verification_at_its_number(database):
    fill(database, 5)
    drop_guards(database)
    with database.write() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    assert audit.verify(database).first_bad == 2


def test_reordered_records_fail_verification(database):
    fill(database, 5)
    drop_guards(database)
    with database.write() as conn:
        conn.execute(text("UPDATE audit_log SET seq = -4 WHERE seq = 4"))
        conn.execute(text("UPDATE audit_log SET seq = 4 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = -4"))
    assert audit.verify(database).first_bad == 3


def test_a_deleted_last_record_fails_verification_against_the_head(database):
    fill(database, 4)
    drop_guards(database)
    with database.write() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    assert audit.verify(database).first_bad == 4


def test_list_by_patient_returns_only_that_patients_entries(database):
    sink = SqlAuditSink(database)
    for i in range(6):
        sink.record(entry(i, patient="pa" if i % 2 else "pb"))
    rows = audit.entries(database, "pa")
    assert [r["patient_id"] for r in rows] == ["pa"] * 3
    assert audit.count(database, "pb") == 3
