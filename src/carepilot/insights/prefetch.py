"""The data a hook call needs when the patient is not in the store: prefetched resources, or a fetch from the client's
FHIR server, turned into a transient PatientProfile through the same validation and normalisation as ingest.

Prefetch templates use only ``{{context.X}}`` tokens, so rendering them is a plain substitution (the full FHIRPath
template syntax of CDS Hooks 2.0 is not needed for the queries this service declares).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from carepilot.domain.profile import PatientProfile
from carepilot.errors import CarePilotError, InputError
from carepilot.fhir.validation import validate_resource
from carepilot.ingest.normalise import normalised_rows
from carepilot.store.profiles import profile_from_rows
from carepilot.store.repository import ProfileRows
from carepilot.store.tables import NORMALISED_BY_TYPE

log = logging.getLogger(__name__)

PREFETCH_TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
}

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


class DataUnavailable(CarePilotError):
    """The data a hook call needs was neither prefetched nor retrievable (HTTP 412)."""


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """Fill ``{{context.X}}`` tokens; raises DataUnavailable when the context lacks one."""

    def fill(match: re.Match[str]) -> str:
        value = context.get(match.group(1))
        if not isinstance(value, str) or not value:
            raise DataUnavailable(f"prefetch token context.{match.group(1)} is not in the hook context")
        return value

    return _TOKEN.sub(fill, template)


def prefetched_resources(value: Any) -> list[dict[str, Any]] | None:
    """Resources in one prefetch value; None when the client could not prefetch it (null or OperationOutcome)."""
    if not isinstance(value, dict) or value.get("resourceType") in (None, "OperationOutcome"):
        return None
    if value.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in value.get("entry", []) or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [value]


def gather_resources(
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    fetch: Callable[[str], list[dict[str, Any]]] | None,
    templates: Mapping[str, str] = PREFETCH_TEMPLATES,
) -> list[dict[str, Any]]:
    """Every resource the templates ask for: from the prefetch where given, else fetched; DataUnavailable if neither."""
    found: list[dict[str, Any]] = []
    for key, template in templates.items():
        given = prefetched_resources((prefetch or {}).get(key))
        if given is None:
            if fetch is None:
                raise DataUnavailable(
                    f"prefetch '{key}' is missing and the request names no fhirServer to fetch it from"
                )
            given = fetch(render_template(template, context))
        found += given
    return found


def transient_profile(
    resources: list[dict[str, Any]], patient_id: str, as_of: datetime | None = None
) -> PatientProfile:
    """A PatientProfile built in memory from FHIR resources (validated and normalised exactly as ingest does)."""
    tables: dict[str, list[dict[str, Any]]] = {
        name: [] for name in ("patients", "observations", "conditions", "medications", "allergies", "encounters")
    }
    rejected = 0
    for resource in resources:
        if validate_resource(resource) is not None or not resource.get("id"):
            rejected += 1
            continue
        table = NORMALISED_BY_TYPE.get(resource["resourceType"])
        if table is None:
            continue
        try:
            rows = normalised_rows(resource)
        except (KeyError, TypeError, ValueError, AttributeError):
            rejected += 1
            continue
        for row in rows:
            owner = row.get("patient_id")
            if owner is not None and owner != patient_id:
                raise InputError(
                    f"a prefetched {resource['resourceType']} belongs to another patient than context.patientId"
                )
            tables[table.name].append(row)
    if rejected:
        log.warning("prefetch: %d resources failed validation and were left out", rejected)
    patient = next((row for row in tables["patients"] if row["patient_id"] == patient_id), None)
    if patient is None:
        raise DataUnavailable("no valid Patient resource for context.patientId was prefetched or fetched")
    profile_rows = ProfileRows(
        patient=patient,
        observations=tables["observations"],
        conditions=tables["conditions"],
        medications=tables["medications"],
        allergies=tables["allergies"],
        encounters=tables["encounters"],
        sources=["cds-hooks-prefetch"],
    )
    return profile_from_rows(profile_rows, patient_id, as_of)
