"""Read-only FHIR API under /fhir: metadata, read, Patient/$everything, search by patient. application/fhir+json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carepilot.api.audit import audit_access
from carepilot.api.auth import visible_patients
from carepilot.api.deps import BaseUrlDep, FhirReadsDep
from carepilot.errors import InputError, NotFoundError
from carepilot.fhir.server import FHIR_JSON, capability_statement, searchset

router = APIRouter(prefix="/fhir", tags=["fhir"])


def _fhir(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def _owner(resource: dict[str, Any]) -> str | None:
    """The patient a resource belongs to (itself for a Patient), for the audit record."""
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    for field in ("subject", "patient", "beneficiary"):
        ref = resource.get(field)
        if isinstance(ref, dict) and str(ref.get("reference", "")).startswith("Patient/"):
            return str(ref["reference"]).split("/", 1)[1]
    return None


def _patient_param(value: str | None) -> str | None:
    if value is None:
        return None
    return value.split("/", 1)[1] if value.startswith("Patient/") else value


@router.get("/metadata")
def metadata(reads: FhirReadsDep, base: BaseUrlDep) -> JSONResponse:
    """The CapabilityStatement."""
    return _fhir(capability_statement(base, reads.types()))


@router.get("/Patient/{patient_id}/$everything")
def everything(patient_id: str, reads: FhirReadsDep, base: BaseUrlDep, request: Request) -> JSONResponse:
    """Every resource of one patient, as a searchset Bundle."""
    patient = reads.read("Patient", patient_id)
    if patient is None:
        raise NotFoundError(f"Patient/{patient_id} is not known")
    others = [r for r in reads.search(None, patient_id) if r.get("resourceType") != "Patient"]
    audit_access(request, "read", f"Patient/{patient_id}/$everything", patient_id=patient_id)
    return _fhir(searchset([patient, *others], base, str(request.url)))


@router.get("/{resource_type}/{resource_id}")
def read(resource_type: str, resource_id: str, reads: FhirReadsDep, request: Request) -> JSONResponse:
    """One resource by type and id."""
    found = reads.read(resource_type, resource_id)
    if found is None:
        raise NotFoundError(f"{resource_type}/{resource_id} is not known")
    audit_access(request, "read", f"{resource_type}/{resource_id}", patient_id=_owner(found))
    return _fhir(found)


@router.get("/{resource_type}")
def search(
    resource_type: str,
    reads: FhirReadsDep,
    base: BaseUrlDep,
    request: Request,
    patient: str | None = None,
    subject: str | None = None,
    _id: str | None = None,
) -> JSONResponse:
    """Search one type by patient (``patient`` or ``subject``); Patient also by ``_id``."""
    if not resource_type[:1].isupper() or not resource_type.isalpha():
        raise InputError(f"{resource_type!r} is not a FHIR resource type")
    if resource_type == "Patient":
        pid = _id or _patient_param(patient)
        if pid:
            found = [p for p in [reads.read("Patient", pid)] if p]
        else:  # a listing shows only the patients the caller may see (never through break-glass)
            listed = reads.patients()
            allowed = set(visible_patients(request, [str(p.get("id")) for p in listed]))
            found = [p for p in listed if str(p.get("id")) in allowed]
        audit_access(request, "read", "Patient?search", patient_id=pid, reason=f"{len(found)} returned")
        return _fhir(searchset(found, base, str(request.url)))
    pid = _patient_param(patient or subject)
    if pid is None:
        raise InputError(f"search {resource_type} needs a patient parameter (e.g. ?patient=123)")
    found = reads.search(resource_type, pid)
    audit_access(request, "read", f"{resource_type}?patient", patient_id=pid, reason=f"{len(found)} returned")
    return _fhir(searchset(found, base, str(request.url)))
