"""Who is asking: the authenticated principal of a request, its role and what it may see.

The authentication layer (``api/auth.py``) builds a ``Principal`` from a verified bearer token or a dashboard session
and puts it on ``request.state.principal``; the audit trail and the access checks read it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    CLINICIAN = "clinician"
    CARE_MANAGER = "care_manager"
    DATA_SCIENTIST = "data_scientist"
    ADMINISTRATOR = "administrator"
    PATIENT = "patient"
    MODEL_OWNER = "model_owner"
    SYSTEM = "system"


@dataclass(frozen=True)
class Principal:
    """An authenticated user or system client.

    ``patient`` is set for the patient role (the only record they may see); ``sites`` and ``care_team`` bound a
    clinician's patients; ``scopes`` are SMART App Launch 2 scopes such as ``user/*.rs``; ``break_glass`` holds the
    stated reason when emergency access was invoked.
    """

    subject: str
    role: Role
    scopes: frozenset[str] = field(default_factory=frozenset)
    patient: str | None = None
    sites: frozenset[str] = field(default_factory=frozenset)
    care_team: frozenset[str] = field(default_factory=frozenset)
    issuer: str | None = None
    break_glass: str | None = None

    @property
    def actor(self) -> str:
        """The audit trail's name for this principal (role and subject id, never a person's name)."""
        return f"{self.role.value}:{self.subject}"
