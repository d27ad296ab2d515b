"""Patients' consent choices (FHIR Consent) as the engines see them: may this patient's data be used for this purpose?

Every engine that scores, trains or shares asks a ``ConsentDirectory``; the store implements it from the FHIR Consent
resources it holds, and ``StaticConsent`` serves fixed choices (tests, simulations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Protocol


class ConsentScope(StrEnum):
    """The purposes a patient can opt out of."""

    DECISION_SUPPORT = "decision_support"  # AI decision support about them
    TRAINING = "training"  # use of their data to train or evaluate models
    SHARING = "sharing"  # sharing their data across sites (export, federated learning)


class ConsentDirectory(Protocol):
    def allows(self, patient_id: str, scope: ConsentScope) -> bool: ...
    def opted_out(self, scope: ConsentScope) -> frozenset[str]: ...


class StaticConsent:
    """Fixed opt-outs per scope; everyone else allows every purpose."""

    def __init__(self, opted_out: Mapping[ConsentScope, Iterable[str]] | None = None) -> None:
        self._out = {scope: frozenset(ids) for scope, ids in (opted_out or {}).items()}

    def allows(self, patient_id: str, scope: ConsentScope) -> bool:
        """True unless the patient opted out of ``scope``."""
        return patient_id not in self._out.get(scope, frozenset())

    def opted_out(self, scope: ConsentScope) -> frozenset[str]:
        """The patients who opted out of ``scope``."""
        return self._out.get(scope, frozenset())
