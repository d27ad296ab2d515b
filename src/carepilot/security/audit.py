"""The audit trail's interface and rules: what an auditable action records, how the hash chain links entries.

Writers take an ``AuditSink``; the store's append-only, hash-chained implementation lives in ``store/audit.py``.
Entries carry ids, never names or other identifiers of a patient.

The chain: each stored entry's ``hash`` is SHA-256 over its canonical JSON (sorted keys, no whitespace, UTF-8; for
the strings, integers, booleans and nulls an entry holds this is the RFC 8785 canonical form) followed by the
previous entry's hash. Changing, deleting or reordering any entry breaks every hash from that point on. The
canonical JSON and the check are hand-written (a few lines) because the chain must be verifiable by anyone with
``sha256sum`` and a JSON tool; a library would hide the exact bytes hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

GENESIS = "0" * 64  # prev_hash of the first entry
CHAIN_FIELDS = ("seq", "recorded_at", "actor", "action", "entity", "patient_id", "reason", "outcome", "flagged")
OUTCOMES = ("success", "denied", "failed")


@dataclass(frozen=True)
class AuditEntry:
    actor: str  # Principal.actor, e.g. "clinician:dr-1" or "system:scheduler"
    action: str  # read | write | export | hook | view | approve | rollback | train | ...
    entity: str  # what was touched, e.g. "Patient/123", "model/readmission@3"
    outcome: str = "success"  # success | denied | failed
    patient_id: str | None = None
    reason: str | None = None  # purpose of use, break-glass reason, approval reason
    flagged: bool = False  # break-glass and other entries a privacy officer must review


class AuditSink(Protocol):
    def record(self, entry: AuditEntry) -> None: ...


class MemoryAuditSink:
    """Keeps entries in a list: for unit tests of code that records through an ``AuditSink``."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


def actor_of(principal: Any, fallback: str = "anonymous") -> str:
    """The audit name of a request's principal (anything with ``.actor``), or ``fallback`` when there is none."""
    actor = getattr(principal, "actor", None)
    return str(actor) if actor else fallback


def break_glass_of(principal: Any) -> str | None:
    """The stated break-glass reason of a principal, if emergency access was invoked."""
    reason = getattr(principal, "break_glass", None)
    return str(reason) if reason else None


def entry_for(
    principal: Any,
    action: str,
    entity: str,
    *,
    patient_id: str | None = None,
    reason: str | None = None,
    outcome: str = "success",
    fallback_actor: str = "anonymous",
) -> AuditEntry:
    """An entry for ``principal``; break-glass access is flagged and its stated reason recorded."""
    glass = break_glass_of(principal)
    return AuditEntry(
        actor=actor_of(principal, fallback_actor),
        action=action,
        entity=entity,
        outcome=outcome,
        patient_id=patient_id,
        reason=f"break-glass: {glass}" if glass else reason,
        flagged=glass is not None,
    )


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """Canonical JSON of the chained fields of an entry (sorted keys, no whitespace, UTF-8)."""
    return orjson.dumps({k: fields.get(k) for k in CHAIN_FIELDS}, option=orjson.OPT_SORT_KEYS)


def entry_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) over the entry's canonical JSON followed by the previous entry's hash."""
    return hashlib.sha256(canonical_json(fields) + prev_hash.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: ``first_bad`` is the first sequence number that does not verify."""

    entries: int
    head_seq: int
    head_hash: str
    first_bad: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_bad is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad,
            "problem": self.problem,
        }


def verify_chain(
    rows: Iterable[Mapping[str, Any]], head: tuple[int, str] | None = None, start: tuple[int, str] = (0, GENESIS)
) -> ChainReport:
    """Walk entries in stored order and check sequence, links and hashes; ``head`` is the recorded chain head.

    A deleted entry shows as a gap (the missing number is reported), an altered one as a hash mismatch, a reordered
    one as an out-of-order number or a broken link; a cut-off tail shows against the recorded head.
    """
    expected_seq, prev = start[0] + 1, start[1]
    n = 0
    for row in rows:
        seq = int(row["seq"])
        n += 1
        if seq != expected_seq:
            return ChainReport(n, expected_seq - 1, prev, expected_seq, f"expected entry {expected_seq}, found {seq}")
        if row["prev_hash"] != prev:
            return ChainReport(n, seq - 1, prev, seq, "prev_hash does not match the hash of the entry before")
        digest = entry_hash(row, prev)
        if digest != row["hash"]:
            return ChainReport(n, seq - 1, prev, seq, "hash does not match the entry's content")
        prev, expected_seq = digest, seq + 1
    last = expected_seq - 1
    if head is not None and (head[0] != last or head[1] != prev):
        bad = min(head[0], last) + 1 if head[0] != last else last
        return ChainReport(n, last, prev, bad, f"chain ends at {last} but the recorded head is {head[0]}")
    return ChainReport(n, last, prev)


# -- FHIR R4 AuditEvent ------------------------------------------------------------------------------------------

CHAIN_EXTENSION = "http://carepilot.example.org/fhir/StructureDefinition/audit-chain"
_ACTION_CODE = {"read": "R", "view": "R", "export": "R", "write": "C", "create": "C", "update": "U", "delete": "D"}
_OUTCOME_CODE = {"success": "0", "denied": "4", "failed": "8"}
_REST = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful"}
_EXPORT = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110106", "display": "Export"}
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def audit_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """One stored entry as a FHIR R4 AuditEvent (chain position and hashes in an extension)."""
    action = str(row["action"])
    purpose = (
        {"system": _ACT_REASON, "code": "ETREAT", "display": "Emergency Treatment"}
        if row.get("flagged")
        else {"system": _ACT_REASON, "code": "TREAT", "display": "treatment"}
    )
    entities: list[dict[str, Any]] = []
    if row.get("patient_id"):
        entities.append(
            {
                "what": {"reference": f"Patient/{row['patient_id']}"},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
            }
        )
    entities.append({"what": {"identifier": {"value": str(row["entity"])}}, "description": action})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{row['seq']}",
        "extension": [
            {
                "url": CHAIN_EXTENSION,
                "extension": [
                    {"url": "seq", "valueInteger": int(row["seq"])},
                    {"url": "prevHash", "valueString": str(row["prev_hash"])},
                    {"url": "hash", "valueString": str(row["hash"])},
                ],
            }
        ],
        "type": _EXPORT if action == "export" else _REST,
        "subtype": [{"system": "http://carepilot.example.org/fhir/CodeSystem/audit-action", "code": action}],
        "action": _ACTION_CODE.get(action, "E"),
        "recorded": str(row["recorded_at"]),
        "outcome": _OUTCOME_CODE.get(str(row["outcome"]), "8"),
        "purposeOfEvent": [{"coding": [purpose], **({"text": str(row["reason"])[:1000]} if row.get("reason") else {})}],
        "agent": [{"who": {"identifier": {"value": str(row["actor"])}}, "requestor": True}],
        "source": {"observer": {"display": "CarePilot"}},
        "entity": entities,
    }
    return event
