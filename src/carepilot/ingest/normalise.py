"""Map a validated, reference-resolved FHIR resource to rows of the normalised tables.

Codes become canonical concept keys (``carepilot.knowledge.concepts``); quantities are converted to the concept's
canonical UCUM unit with the original value and unit kept. Pure functions: dict in, rows out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from carepilot.domain.units import UnitConversionError, canonical_unit_code, to_canonical
from carepilot.ingest.times import parse_date, parse_datetime
from carepilot.knowledge.concepts import ConceptMap, concept_map

Row = dict[str, Any]

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding", []) if isinstance(c, dict)]


def _text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    for coding in _codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    return None


def _first_code(
    concept: Any, cmap: ConceptMap, drug: bool = False
) -> tuple[str | None, str | None, str | None, str | None]:
    """(concept key, system, code, display) preferring a coding the concept map knows."""
    codings = _codings(concept)
    for coding in codings:
        hit = cmap.lookup(coding.get("system"), coding.get("code"))
        if hit is not None:
            return hit.key, coding.get("system"), coding.get("code"), coding.get("display") or _text(concept)
    first = codings[0] if codings else {}
    key = None
    if drug:
        hit = cmap.lookup_drug_text(_text(concept))
        key = hit.key if hit else None
    return key, first.get("system"), first.get("code"), first.get("display") or _text(concept)


def _status(concept: Any) -> str | None:
    for coding in _codings(concept):
        if coding.get("code"):
            return str(coding["code"])
    return None


def _patient_ref(resource: dict[str, Any], *fields: str) -> str | None:
    for field in fields or ("subject", "patient"):
        ref = resource.get(field)
        if isinstance(ref, dict):
            value = ref.get("reference")
            if isinstance(value, str) and value.startswith("Patient/"):
                return value[len("Patient/") :]
    return None


def _omb(resource: dict[str, Any], url: str) -> str | None:
    for ext in resource.get("extension", []) or []:
        if ext.get("url") != url:
            continue
        text = None
        for sub in ext.get("extension", []) or []:
            if sub.get("url") == "text" and sub.get("valueString"):
                text = sub["valueString"]
            if sub.get("url") == "ombCategory" and isinstance(sub.get("valueCoding"), dict):
                display = sub["valueCoding"].get("display")
                if display:
                    return str(display)
        return text
    return None


def patient_rows(resource: dict[str, Any], cmap: ConceptMap) -> list[Row]:
    names = resource.get("name") or []
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    deceased = parse_datetime(resource.get("deceasedDateTime"))
    language = None
    for comm in resource.get("communication", []) or []:
        language = _status(comm.get("language")) or _text(comm.get("language"))
        if language:
            break
    site = None
    org = resource.get("managingOrganization")
    if isinstance(org, dict):
        site = org.get("display") or org.get("reference")
    identifiers = [
        {"system": i.get("system"), "value": i.get("value")}
        for i in resource.get("identifier", []) or []
        if i.get("value")
    ]
    return [
        {
            "patient_id": resource["id"],
            "family": name.get("family"),
            "given": " ".join(name.get("given", []) or []) or None,
            "birth_date": parse_date(resource.get("birthDate")),
            "sex": resource.get("gender"),
            "deceased": deceased,
            "race": _omb(resource, US_CORE_RACE),
            "ethnicity": _omb(resource, US_CORE_ETHNICITY),
            "language": language,
            "site": site,
            "identifiers": orjson.dumps(identifiers).decode(),
        }
    ]


def _quantity_row(base: Row, concept: str | None, quantity: dict[str, Any], cmap: ConceptMap) -> Row:
    row = dict(base)
    value = quantity.get("value")
    unit = quantity.get("code") or quantity.get("unit")
    row["original_value"] = float(value) if isinstance(value, (int, float)) else None
    row["original_unit"] = unit
    row["value"] = row["original_value"]
    row["unit"] = canonical_unit_code(unit)
    row["unit_issue"] = None
    if concept is not None and row["original_value"] is not None:
        canonical = cmap.get(concept).unit
        try:
            converted = to_canonical(concept, row["original_value"], unit, canonical)
            row["value"], row["unit"] = converted.value, converted.unit
        except UnitConversionError as exc:
            row["value"], row["unit"], row["unit_issue"] = None, None, str(exc)
    return row


def observation_rows(resource: dict[str, Any], cmap: ConceptMap) -> list[Row]:
    rid = resource["id"]
    effective = parse_datetime(
        resource.get("effectiveDateTime")
        or (resource.get("effectivePeriod") or {}).get("start")
        or resource.get("effectiveInstant")
        or resource.get("issued")
    )
    category = None
    for cat in resource.get("category", []) or []:
        category = _status(cat)
        if category:
            break
    common = {
        "resource_id": rid,
        "patient_id": _patient_ref(resource),
        "category": category,
        "status": resource.get("status"),
        "effective": effective,
    }
    rows: list[Row] = []

    def one(row_id: str, code_concept: Any, holder: dict[str, Any]) -> None:
        key, system, code, display = _first_code(code_concept, cmap)
        base = {
            **common,
            "row_id": row_id,
            "concept": key,
            "system": system,
            "code": code,
            "display": display,
        }
        base.update(value=None, unit=None, original_value=None, original_unit=None, text_value=None, unit_issue=None)
        if isinstance(holder.get("valueQuantity"), dict):
            rows.append(_quantity_row(base, key, holder["valueQuantity"], cmap))
            return
        for field in ("valueInteger", "valueDecimal"):
            if isinstance(holder.get(field), (int, float)) and not isinstance(holder.get(field), bool):
                num = float(holder[field])
                canonical = cmap.get(key).unit if key else None
                rows.append({**base, "value": num, "original_value": num, "unit": canonical})
                return
        if isinstance(holder.get("valueCodeableConcept"), dict):
            rows.append({**base, "text_value": _text(holder["valueCodeableConcept"])})
            return
        for field in ("valueString", "valueBoolean", "valueDateTime"):
            if field in holder:
                rows.append({**base, "text_value": str(holder[field])[:400]})
                return
        if not holder.get("component"):
            rows.append(base)

    one(rid, resource.get("code"), resource)
    for index, component in enumerate(resource.get("component", []) or []):
        one(f"{rid}#{index}", component.get("code"), component)
    return rows


def condition_rows(resource: dict[str, Any], cmap: ConceptMap) -> list[Row]:
    key, system, code, display = _first_code(resource.get("code"), cmap)
    return [
        {
            "resource_id": resource["id"],
            "patient_id": _patient_ref(resource),
            "concept": key,
            "system": system,
            "code": code,
            "display": display,
            "clinical_status": _status(resource.get("clinicalStatus")),
            "onset": parse_datetime(resource.get("onsetDateTime") or (resource.get("onsetPeriod") or {}).get("start")),
            "abatement": parse_datetime(
                resource.get("abatementDateTime") or (resource.get("abatementPeriod") or {}).get("start")
            ),
            "recorded": parse_datetime(resource.get("recordedDate")),
        }
    ]


def medication_rows(resource: dict[str, Any], cmap: ConceptMap) -> list[Row]:
    rtype = resource["resourceType"]
    med = resource.get("medicationCodeableConcept")
    if med is None and isinstance(resource.get("medicationReference"), dict):
        med = {"text": resource["medicationReference"].get("display")}
    key, system, code, display = _first_code(med, cmap, drug=True)
    dosage = None
    for dose in resource.get("dosageInstruction", resource.get("dosage", [])) or []:
        if isinstance(dose, dict) and dose.get("text"):
            dosage = str(dose["text"])[:400]
            break
    authored = ended = None
    days_supply = None
    if rtype == "MedicationRequest":
        authored = parse_datetime(resource.get("authoredOn"))
        period = ((resource.get("dispenseRequest") or {}).get("validityPeriod")) or {}
        ended = parse_datetime(period.get("end"))
        supply = (resource.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}
        days_supply = supply.get("value")
    elif rtype == "MedicationDispense":
        authored = parse_datetime(resource.get("whenHandedOver") or resource.get("whenPrepared"))
        days_supply = (resource.get("daysSupply") or {}).get("value")
    else:  # MedicationStatement
        period = resource.get("effectivePeriod") or {}
        authored = parse_datetime(
            resource.get("effectiveDateTime") or period.get("start") or resource.get("dateAsserted")
        )
        ended = parse_datetime(period.get("end"))
    return [
        {
            "resource_type": rtype,
            "resource_id": resource["id"],
            "patient_id": _patient_ref(resource, "subject", "patient"),
            "concept": key,
            "system": system,
            "code": code,
            "display": display,
            "status": resource.get("status"),
            "authored": authored,
            "ended": ended,
            "dosage": dosage,
            "days_supply": float(days_supply) if isinstance(days_supply, (int, float)) else None,
        }
    ]


def allergy_rows(resource: dict[str, Any], cmap: ConceptMap) -> list[Row]:
    key, system, code, display = _first_code(resource.get("code"), cmap, drug=True)
    return [
        {
            "resource_id": resource["id"],
            "patient_id": _patient_ref(resource, "patient"),
            "concept": key,
            "system": system,
            "code": code,
            "display": display,
            "clinical_status": _status(resource.get("clinicalStatus")),
            "criticality": resource.get("criticality"),
            "recorded": parse_datetime(resource.get("recordedDate") or resource.get("onsetDateTime")),
        }
    ]


def encounter_rows(resource: dict[str, Any], cmap: ConceptMap) -> list[Row]:
    period = resource.get("period") or {}
    klass = resource.get("class")
    types = resource.get("type") or []
    reasons = resource.get("reasonCode") or []
    disposition = (resource.get("hospitalization") or {}).get("dischargeDisposition")
    return [
        {
            "resource_id": resource["id"],
            "patient_id": _patient_ref(resource),
            "encounter_class": klass.get("code") if isinstance(klass, dict) else None,
            "type": _text(types[0]) if types else None,
            "status": resource.get("status"),
            "start": parse_datetime(period.get("start")),
            "end": parse_datetime(period.get("end")),
            "discharge_disposition": _status(disposition) or _text(disposition),
            "reason": _text(reasons[0]) if reasons else None,
        }
    ]


EXTRACTORS: dict[str, Callable[[dict[str, Any], ConceptMap], list[Row]]] = {
    "Patient": patient_rows,
    "Observation": observation_rows,
    "Condition": condition_rows,
    "MedicationRequest": medication_rows,
    "MedicationStatement": medication_rows,
    "MedicationDispense": medication_rows,
    "AllergyIntolerance": allergy_rows,
    "Encounter": encounter_rows,
}


def normalised_rows(resource: dict[str, Any], cmap: ConceptMap | None = None) -> list[Row]:
    """Rows for the normalised table of this resource type (empty for types kept only as raw resources)."""
    extractor = EXTRACTORS.get(resource.get("resourceType", ""))
    if extractor is None:
        return []
    return extractor(resource, cmap or concept_map())
