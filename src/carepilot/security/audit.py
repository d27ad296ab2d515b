"""The audit trail's interface: what an auditable action records (who, what, when, why, outcome).

Writers take an ``AuditSink``; the store's append-only, hash-chained implementation lives in ``store/audit.py``.
Entries carry ids, never names or other identifiers of a patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
