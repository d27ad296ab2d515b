"""FHIR Observations (a Bundle, a list, or one resource) turned into stream readings, with a reason per refusal.

Each Observation is validated against the FHIR R4 (R4B) model at the boundary (``carepilot.fhir.validation``)
and mapped by its LOINC code through the concept table (``knowledge/data/concepts.toml``) to a reading type. A
blood-pressure panel (LOINC 85354-9) gives one reading per systolic / diastolic component. What cannot be mapped
is refused with the Observation's position and the FHIR element at fault; the others are kept. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carepilot.errors import InputError
from carepilot.fhir.validation import validate_resource
from carepilot.knowledge.concepts import concept_map
from carepilot.monitoring.readings import SPECS, Reason

TYPE_BY_CONCEPT = {spec.concept: spec.type.value for spec in SPECS.values()}
WITHDRAWN = frozenset({"entered-in-error", "cancelled"})
# Where each reading field came from in an Observation, to name the element at fault in a refusal.
FHIR_FIELD = {
    "type": "code",
    "value": "valueQuantity.value",
    "unit": "valueQuantity.code",
    "time": "effectiveDateTime",
    "patient_id": "subject",
    "device": "device",
}


@dataclass(frozen=True)
class Refusal:
    """An Observation (by position) that gave no reading, with the element at fault."""

    index: int
    field: str
    reason: Reason
    message: str


@dataclass
class Mapped:
    """Readings as JSON-like records, the Observation each came from, and the Observations refused."""

    records: list[dict[str, Any]] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    observations: int = 0


def observations_of(payload: Any) -> list[Any]:
    """The Observations of a Bundle, a JSON list, or a single resource.

    Raises:
        InputError: the payload is none of these.
    """
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        kind = payload.get("resourceType")
        if kind == "Bundle":
            entries = payload.get("entry") or []
            if not isinstance(entries, list):
                raise InputError("Bundle.entry must be a list")
            return [e.get("resource") if isinstance(e, Mapping) else e for e in entries]
        if kind == "Observation":
            return [payload]
    raise InputError("a FHIR body must be a Bundle of Observations, a list of Observations or one Observation")


def _time(obs: Mapping[str, Any]) -> Any:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if obs.get(key) is not None:
            return obs[key]
    period = obs.get("effectivePeriod")
    if isinstance(period, Mapping):
        return period.get("start")
    return None


def _device(obs: Mapping[str, Any]) -> str | None:
    ref = obs.get("device")
    if not isinstance(ref, Mapping):
        return None
    found = ref.get("display") or ref.get("reference")
    return str(found)[:100] if found else None


def _patient(obs: Mapping[str, Any]) -> str | None:
    ref = obs.get("subject")
    if isinstance(ref, Mapping):
        text = str(ref.get("reference") or "")
        if text.startswith("Patient/"):
            return text[len("Patient/") :]
        if text:
            return text
    return None


def _reading_type(code: Any) -> str | None:
    cmap = concept_map()
    codings = code.get("coding") if isinstance(code, Mapping) else None
    for coding in codings or []:
        if not isinstance(coding, Mapping):
            continue
        concept = cmap.lookup(coding.get("system"), coding.get("code"))
        if concept is not None and concept.key in TYPE_BY_CONCEPT:
            return TYPE_BY_CONCEPT[concept.key]
    return None


def _quantity(holder: Mapping[str, Any]) -> tuple[Any, Any]:
    q = holder.get("valueQuantity")
    if not isinstance(q, Mapping):
        return None, None
    return q.get("value"), q.get("code") or q.get("unit")


def map_observations(resources: list[Any]) -> Mapped:
    """Readings from Observations; each refusal names the Observation's index and the element at fault."""
    out = Mapped(observations=len(resources))
    for i, obs in enumerate(resources):
        problem = validate_resource(obs)
        if problem is not None:
            where = problem.message.split(":", 1)[0]
            out.refused.append(Refusal(i, where, Reason.INVALID_RESOURCE, problem.message))
            continue
        if obs.get("resourceType") != "Observation":
            out.refused.append(
                Refusal(i, "resourceType", Reason.NOT_A_READING, f"{obs.get('resourceType')} is not an Observation")
            )
            continue
        if obs.get("status") in WITHDRAWN:
            out.refused.append(Refusal(i, "status", Reason.NOT_A_READING, f"status is {obs.get('status')}"))
            continue
        base = {"time": _time(obs), "device": _device(obs)}
        patient = _patient(obs)
        if patient is not None:
            base["patient_id"] = patient
        parts: list[Mapping[str, Any]] = [
            c for c in obs.get("component") or [] if isinstance(c, Mapping) and _reading_type(c.get("code"))
        ]
        if not parts:
            parts = [obs]
        for part in parts:
            kind = _reading_type(part.get("code"))
            if kind is None:
                out.refused.append(Refusal(i, "code", Reason.UNKNOWN_TYPE, "no LOINC code of a monitored reading type"))
                continue
            value, unit = _quantity(part)
            out.records.append({**base, "type": kind, "value": value, "unit": unit})
            out.origin.append(i)
    return out
