"""A synthetic depression-care patient (PHQ-9 course, item 9, sertraline with refill gaps) for the engagement tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carepilot.knowledge.concepts import RXNORM
from tests import cds_support as cs
from tests import samples as s

DEPRESSED = "cp-dep-1"


def _ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT10:00:00Z")


def _score(oid: str, loinc: str, value: float, days: int) -> dict[str, Any]:
    return s.observation(oid, DEPRESSED, loinc=loinc, value=value, unit="{score}", when=_ago(days))


def _dispense(did: str, days: int, supply: int) -> dict[str, Any]:
    return {
        "resourceType": "MedicationDispense",
        "id": did,
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "36437", "display": "sertraline"}]},
        "subject": {"reference": f"Patient/{DEPRESSED}"},
        "whenHandedOver": _ago(days),
        "daysSupply": {"value": supply, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
    }


def depression_patient() -> list[dict[str, Any]]:
    """Depression on sertraline for 10 weeks, PHQ-9 18 -> 16 -> 15 (no response), item 9 = 1, refill gaps."""
    order = s.medication_request("cp-dep-m1", DEPRESSED, rxnorm="36437", authored=_ago(70))
    order["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "36437", "display": "sertraline"}]}
    order["dosageInstruction"] = [{"text": "50 mg once a day"}]
    return [
        s.patient(DEPRESSED, family="Dunmore", birth="1984-05-17"),
        s.condition("cp-dep-c1", DEPRESSED, snomed="35489007", onset="2023-02-01"),
        order,
        _score("cp-dep-o1", "44261-6", 18, 72),
        _score("cp-dep-o2", "44260-8", 0, 72),
        _score("cp-dep-o3", "44261-6", 16, 40),
        _score("cp-dep-o4", "44261-6", 15, 5),
        _score("cp-dep-o5", "44260-8", 1, 5),
        _score("cp-dep-o6", "70274-6", 12, 5),
        _dispense("cp-dep-d1", 70, 30),
        _dispense("cp-dep-d2", 25, 30),
    ]


def population() -> list[dict[str, Any]]:
    """The dashboard test population plus the depression-care patient."""
    return cs.population() + depression_patient()
