"""The audit hash chain and its FHIR AuditEvent form, on entries built in memory."""

from __future__ import annotations

import dataclasses

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from carepilot.security.audit import GENESIS, AuditEntry, audit_event, entry_for, entry_hash, verify_chain
from carepilot.security.principal import Principal, Role


def chain(n: int) -> list[dict]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = {
            "seq": seq,
            "recorded_at": f"2026-01-01T00:00:{seq:02d}.000000Z",
            "actor": "clinician:dr-1",
            "action": "read",
            "entity": f"Patient/p{seq}",
            "patient_id": f"p{seq}",
            "reason": None,
            "outcome": "success",
            "flagged": False,
        }
        row["prev_hash"], row["hash"] = prev, entry_hash(row, prev)
        prev = row["hash"]
        rows.append(row)
    return rows


def test_an_untouched_chain_verifies_up_to_its_head():
    rows = chain(6)
    report = verify_chain(rows, (6, rows[-1]["hash"]))
    assert report.intact and report.entries == 6 and report.head_seq == 6


def test_an_altered_entry_is_named():
    rows = chain(6)
    rows[3] = {**rows[3], "actor": "clinician:someone-else"}
    report = verify_chain(rows, (6, rows[-1]["hash"]))
    assert not report.intact and report.first_bad == 4


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link():
    rows = chain(6)
    forged = {**rows[2], "outcome": "denied"}
    forged["hash"] = entry_hash(forged, forged["prev_hash"])
    rows[2] = forged
    assert verify_chain(rows, (6, rows[-1]["hash"])).first_bad == 4


def test_a_deleted_entry_is_named_as_the_missing_number():
    rows = chain(6)
    del rows[2]
    assert verify_chain(rows, (6, rows[-1]["hash"])).first_bad == 3


def test_reordered_entries_are_detected_even_when_renumbered():
    rows = chain(6)
    a, b = rows[1], rows[2]
    rows[1], rows[2] = {**b, "seq": 2}, {**a, "seq": 3}
    assert verify_chain(rows, (6, rows[-1]["hash"])).first_bad == 2


def test_a_cut_off_tail_is_detected_against_the_recorded_head():
    rows = chain(6)
    head = (6, rows[-1]["hash"])
    assert verify_chain(rows[:4], head).first_bad == 5


def test_break_glass_access_is_flagged_with_its_stated_reason():
    doctor = Principal(subject="dr-7", role=Role.CLINICIAN, break_glass="unconscious patient in ED")
    entry = entry_for(doctor, "read", "Patient/p1", patient_id="p1")
    assert entry.flagged and entry.actor == "clinician:dr-7" and "unconscious" in (entry.reason or "")
    assert not entry_for(None, "read", "Patient/p1").flagged
    assert entry_for(None, "read", "Patient/p1").actor == "anonymous"


@pytest.mark.parametrize("action", ["read", "hook", "write", "export"])
def test_every_entry_is_a_valid_fhir_r4_audit_event(action):
    row = chain(1)[0] | {"action": action, "reason": "break-glass: test", "flagged": True}
    event = AuditEvent.model_validate(audit_event(row))
    assert event.entity[0].what.reference == "Patient/p1"
    assert event.purposeOfEvent[0].coding[0].code == "ETREAT"
    assert event.recorded is not None


def test_the_interface_entry_is_unchanged_for_existing_callers():
    entry = AuditEntry(actor="system:scheduler", action="train", entity="model/readmission@3")
    assert dataclasses.asdict(entry)["outcome"] == "success" and entry.flagged is False
