"""Small synthetic FHIR R4 resources for tests (no real person's data)."""

from __future__ import annotations

from typing import Any


def patient(pid: str = "pat-1", family: str = "Testperson", birth: str = "1960-05-01", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"use": "official", "family": family, "given": ["Alex"]}],
        "gender": "female",
        "birthDate": birth,
        "identifier": [{"system": "urn:test:mrn", "value": f"MRN-{pid}"}],
        **extra,
    }


def observation(
    oid: str,
    pid: str = "pat-1",
    loinc: str = "4548-4",
    value: float = 7.1,
    unit: str = "%",
    when: str = "2024-01-10T09:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        **extra,
    }


def condition(cid: str, pid: str = "pat-1", snomed: str = "44054006", onset: str = "2015-03-01") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": snomed, "display": "Diabetes"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": onset,
    }


def medication_request(mid: str, pid: str = "pat-1", rxnorm: str = "6809", authored: str = "2016-01-01") -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm, "display": "metformin"}
            ]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": authored,
    }


def bundle(resources: list[dict[str, Any]], kind: str = "transaction", urn: bool = True) -> dict[str, Any]:
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"resource": r}
        if urn:
            entry["fullUrl"] = f"urn:uuid:{r.get('id')}"
        if kind in ("transaction", "batch"):
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r.get('id')}"}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": kind, "entry": entries}
