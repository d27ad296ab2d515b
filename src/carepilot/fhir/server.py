"""Pure builders for the read-only FHIR API: CapabilityStatement, searchset Bundles, OperationOutcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from carepilot import __version__

FHIR_JSON = "application/fhir+json"
# Types the API always declares; others appear in the CapabilityStatement once stored.
DECLARED_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationDispense",
    "AllergyIntolerance",
    "Encounter",
    "RiskAssessment",
    "DetectedIssue",
    "GuidanceResponse",
    "Provenance",
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def capability_statement(base_url: str, stored_types: Sequence[str]) -> dict[str, Any]:
    """The server's CapabilityStatement: read and search-by-patient for every type, $everything on Patient."""
    types = sorted(set(DECLARED_TYPES) | set(stored_types))
    resources = []
    for rtype in types:
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": "_id", "type": "token"} if rtype == "Patient" else {"name": "patient", "type": "reference"}
            ],
        }
        if rtype == "Patient":
            entry["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _now(),
        "kind": "instance",
        "software": {"name": "CarePilot", "version": __version__},
        "implementation": {"description": "CarePilot read-only FHIR API", "url": f"{base_url.rstrip('/')}/fhir"},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "rest": [{"mode": "server", "resource": resources}],
    }


def searchset(resources: Sequence[dict[str, Any]], base_url: str, self_link: str) -> dict[str, Any]:
    """A searchset Bundle of the given resources."""
    base = base_url.rstrip("/") + "/fhir"
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "timestamp": _now(),
        "total": len(resources),
        "link": [{"relation": "self", "url": self_link}],
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r.get('id')}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue (``code`` from the FHIR issue-type value set, e.g. not-found)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
