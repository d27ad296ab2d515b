"""FHIR Observations mapped to stream readings; refusals name the Observation and the element at fault."""

from __future__ import annotations

import pytest

from carepilot.errors import InputError
from carepilot.monitoring.observations import map_observations, observations_of
from carepilot.monitoring.readings import Reason

LOINC = "http://loinc.org"


def obs(code: str, value: float, unit: str, **extra) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-03-01T08:00:00+00:00",
        "valueQuantity": {"value": value, "code": unit},
        **extra,
    }


def test_each_monitored_loinc_code_maps_to_its_reading_type():
    codes = {
        "8867-4": "heart_rate",
        "41950-7": "steps",
        "59408-5": "spo2",
        "29463-7": "weight",
        "99504-3": "cgm_glucose",
        "8480-6": "systolic_bp",
        "8462-4": "diastolic_bp",
    }
    mapped = map_observations([obs(c, 1.0, "1") for c in codes])
    assert [r["type"] for r in mapped.records] == list(codes.values())
    assert mapped.refused == []
    assert all(r["patient_id"] == "p1" for r in mapped.records)


def test_a_blood_pressure_panel_gives_two_readings_from_one_observation():
    panel = obs("85354-9", 0, "mm[Hg]", device={"display": "cuff-3"})
    del panel["valueQuantity"]
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": 141, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": {"value": 88, "code": "mm[Hg]"}},
    ]
    mapped = map_observations([obs("8867-4", 60, "/min"), panel])
    assert [(r["type"], r["value"]) for r in mapped.records] == [
        ("heart_rate", 60),
        ("systolic_bp", 141),
        ("diastolic_bp", 88),
    ]
    assert mapped.origin == [0, 1, 1] and mapped.records[1]["device"] == "cuff-3"


def test_refusals_name_the_position_the_element_and_the_reason():
    withdrawn = obs("8867-4", 60, "/min", status="entered-in-error")
    invalid = {"resourceType": "Observation", "code": {"text": "x"}}  # no status
    mapped = map_observations([obs("8310-5", 37, "Cel"), withdrawn, invalid, {"resourceType": "Patient"}, "text"])
    got = [(r.index, r.field, r.reason) for r in mapped.refused]
    assert got[0] == (0, "code", Reason.UNKNOWN_TYPE)
    assert got[1] == (1, "status", Reason.NOT_A_READING)
    assert got[2][0] == 2 and got[2][2] is Reason.INVALID_RESOURCE and got[2][1].startswith("Observation.")
    assert got[3] == (3, "resourceType", Reason.NOT_A_READING)
    assert got[4][0] == 4 and got[4][2] is Reason.INVALID_RESOURCE
    assert mapped.records == []


def test_effective_period_and_instant_give_the_time():
    a = obs("8867-4", 60, "/min")
    del a["effectiveDateTime"]
    a["effectivePeriod"] = {"start": "2026-03-01T09:00:00Z"}
    b = obs("8867-4", 61, "/min")
    del b["effectiveDateTime"]
    b["effectiveInstant"] = "2026-03-01T10:00:00Z"
    assert [r["time"] for r in map_observations([a, b]).records] == ["2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z"]


def test_bundles_lists_and_single_observations_are_read_and_anything_else_refused():
    one = obs("8867-4", 60, "/min")
    assert observations_of({"resourceType": "Bundle", "entry": [{"resource": one}]}) == [one]
    assert observations_of([one, one]) == [one, one]
    assert observations_of(one) == [one]
    with pytest.raises(InputError):
        observations_of({"resourceType": "Patient"})
    with pytest.raises(InputError):
        observations_of({"resourceType": "Bundle", "entry": "x"})
