import pytest

from carepilot.ingest.normalise import normalised_rows
from tests import samples


def test_a_lab_in_alternative_units_is_converted_and_the_original_kept():
    obs = samples.observation("o1", loinc="14682-9", value=106.1, unit="umol/L")
    (row,) = normalised_rows(obs)
    assert row["concept"] == "creatinine"
    assert row["value"] == pytest.approx(1.2, abs=1e-3)
    assert row["unit"] == "mg/dL"
    assert (row["original_value"], row["original_unit"]) == (106.1, "umol/L")


def test_an_unconvertible_unit_keeps_the_original_and_records_the_issue():
    (row,) = normalised_rows(samples.observation("o1", loinc="2345-7", value=5.0, unit="g/mol"))
    assert row["value"] is None
    assert row["original_value"] == 5.0
    assert "cannot convert glucose" in row["unit_issue"]


def test_a_blood_pressure_panel_becomes_one_row_per_component():
    panel = {
        "resourceType": "Observation",
        "id": "bp1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2024-02-01T10:00:00Z",
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 142, "unit": "mmHg", "code": "mm[Hg]"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": 88, "unit": "mmHg", "code": "mm[Hg]"},
            },
        ],
    }
    rows = normalised_rows(panel)
    assert {r["concept"]: r["value"] for r in rows} == {"systolic_bp": 142.0, "diastolic_bp": 88.0}
    assert {r["row_id"] for r in rows} == {"bp1#0", "bp1#1"}


def test_an_unmapped_code_is_kept_without_a_concept():
    (row,) = normalised_rows(samples.observation("o1", loinc="99999-9"))
    assert row["concept"] is None and row["code"] == "99999-9"


def test_a_drug_is_mapped_by_code_or_else_by_ingredient_name():
    (row,) = normalised_rows(samples.medication_request("m1", rxnorm="6809"))
    assert row["concept"] == "metformin"
    scd = samples.medication_request("m2", rxnorm="860975000")
    scd["medicationCodeableConcept"]["coding"][0]["display"] = "24 HR Metformin hydrochloride 500 MG Tablet"
    (row,) = normalised_rows(scd)
    assert row["concept"] == "metformin"


def test_icd10_codes_map_by_prefix():
    cond = samples.condition("c1")
    cond["code"]["coding"] = [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "N18.4"}]
    (row,) = normalised_rows(cond)
    assert row["concept"] == "ckd"
