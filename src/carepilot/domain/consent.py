"""Patients' consent choices (FHIR Consent) as the engines see them: may this patient's data be used for this purpose?

Every engine that scores, trains or shares asks a ``ConsentDirectory``; the store implements it from the FHIR Consent
resources it holds, and ``StaticConsent`` serves fixed choices (tests, simulations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Protocol

CONSENT_PURPOSE_SYSTEM = "http://carepilot.example.org/fhir/CodeSystem/consent-purpose"
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


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


# HL7 v3 ActReason HRESCH (healthcare research) is the standard purpose for training use; decision support and
# cross-site sharing have codes of their own in the project code system.
_ACT_REASON_SCOPE = {"HRESCH": ConsentScope.TRAINING}


def denied_scopes(consent: dict[str, Any]) -> tuple[str | None, str, frozenset[ConsentScope], frozenset[ConsentScope]]:
    """Read one FHIR R4 Consent: (patient id, dateTime, scopes it denies, scopes it permits).

    Only ``status: active`` counts. A top-level ``provision.type`` of ``deny`` with purposes denies those purposes
    (no purpose: every purpose); nested provisions of the other type carve exceptions out of it.
    """
    ref = (consent.get("patient") or {}).get("reference") or ""
    patient = ref.split("/", 1)[1] if ref.startswith("Patient/") else None
    when = str(consent.get("dateTime") or "")
    if consent.get("status") != "active":
        return patient, when, frozenset(), frozenset()
    deny: set[ConsentScope] = set()
    permit: set[ConsentScope] = set()

    def purposes(provision: dict[str, Any]) -> set[ConsentScope]:
        found: set[ConsentScope] = set()
        for coding in provision.get("purpose") or []:
            code = coding.get("code")
            if coding.get("system") == CONSENT_PURPOSE_SYSTEM and code in ConsentScope._value2member_map_:
                found.add(ConsentScope(code))
            elif coding.get("system") == ACT_REASON_SYSTEM and code in _ACT_REASON_SCOPE:
                found.add(_ACT_REASON_SCOPE[code])
        return found

    def walk(provision: dict[str, Any], inherited: str) -> None:
        kind = provision.get("type", inherited)
        named = purposes(provision)
        target = deny if kind == "deny" else permit
        if named:
            target.update(named)
        elif kind == "deny" and provision is top:
            target.update(ConsentScope)
        for child in provision.get("provision") or []:
            walk(child, "permit" if kind == "deny" else "deny")

    top = consent.get("provision") or {}
    if top:
        walk(top, "permit")
    return patient, when, frozenset(deny - permit), frozenset(permit)


def consent_choices(consents: Iterable[dict[str, Any]]) -> dict[ConsentScope, frozenset[str]]:
    """Opt-outs per scope from a patient population's Consent resources; for each patient and scope the latest wins."""
    latest: dict[tuple[str, ConsentScope], tuple[str, bool]] = {}
    for consent in consents:
        patient, when, denied, permitted = denied_scopes(consent)
        if patient is None:
            continue
        for scope, out in [(s, True) for s in denied] + [(s, False) for s in permitted]:
            key = (patient, scope)
            if key not in latest or when >= latest[key][0]:
                latest[key] = (when, out)
    result: dict[ConsentScope, set[str]] = {scope: set() for scope in ConsentScope}
    for (patient, scope), (_, out) in latest.items():
        if out:
            result[scope].add(patient)
    return {scope: frozenset(ids) for scope, ids in result.items()}
