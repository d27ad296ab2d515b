"""Safe Harbor de-identification on synthetic identifiers: each of the 18 categories, date shifts, ages over 89."""

from __future__ import annotations

from datetime import date, datetime

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from carepilot.security.deid import (
    AGE_GROUP_URL,
    DeidOptions,
    date_offset,
    deidentify_resource,
    generalise_zip,
    pseudonym,
    shift_date,
)

KEY = b"unit-test-key-0123456789abcdef"
OPTS = DeidOptions(as_of=date(2026, 11, 27))
SSN, MRN, PLAN, ACCOUNT, LICENCE = "123-45-6789", "MRN-998877", "HP-55501", "ACCT-4411", "LIC-7788"


def patient(pid: str = "deid-p1", birth: str = "1961-03-14") -> dict:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"lastUpdated": "2026-01-02T03:04:05Z", "source": "http://ehr.example.org/42"},
        "text": {"status": "generated", "div": "<div>Zephyrine Quillfeather</div>"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": "Marblethorpe"}
        ],
        "identifier": [
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": SSN},
            {"system": "urn:mrn", "value": MRN},
            {"system": "urn:plan", "value": PLAN},
            {"system": "urn:account", "value": ACCOUNT},
            {"system": "urn:licence", "value": LICENCE},
        ],
        "name": [{"family": "Quillfeather", "given": ["Zephyrine"]}],
        "telecom": [
            {"system": "phone", "value": "617-555-0142"},
            {"system": "fax", "value": "617-555-0199"},
            {"system": "email", "value": "zq@example.org"},
            {"system": "url", "value": "https://zq.example.org"},
        ],
        "gender": "female",
        "birthDate": birth,
        "address": [
            {"line": ["12 Orchard Lane"], "city": "Cambridge", "district": "Middlesex", "state": "MA",
             "postalCode": "02139", "country": "US"}
        ],
        "photo": [{"contentType": "image/jpeg", "data": "aGVsbG8="}],
        "contact": [{"name": {"family": "Quillfeather", "given": ["Orrin"]}, "telecom": [{"value": "617-555-0100"}]}],
        "managingOrganization": {"reference": "Organization/org-1", "display": "Dr Halloway's practice"},
    }  # fmt: skip


def observation(oid: str, when: str, pid: str = "deid-p1") -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "subject": {"reference": f"Patient/{pid}", "display": "Zephyrine Quillfeather"},
        "effectiveDateTime": when,
        "issued": when,
        "valueQuantity": {"value": 7.1, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
        "note": [{"text": "called 617-555-0142"}],
    }


def text_of(resource: dict) -> str:
    return orjson.dumps(resource).decode()


def test_direct_identifiers_of_the_patient_are_gone():
    out = deidentify_resource(patient(), KEY, OPTS)
    text = text_of(out)
    for value in ("Quillfeather", "Zephyrine", "Marblethorpe", "Orrin", "Orchard", "Cambridge", "Middlesex", "Halloway",
                  "617-555", "zq@example.org", "zq.example.org", "ehr.example.org", SSN, MRN, PLAN, ACCOUNT, LICENCE,
                  "aGVsbG8=", "deid-p1", "org-1"):  # fmt: skip
        assert value not in text, value
    assert out["address"] == [{"state": "MA", "postalCode": "021", "country": "US"}]
    assert out["gender"] == "female"
    get_fhir_model_class("Patient").model_validate(out)


@pytest.mark.parametrize(
    ("zip_code", "expected"), [("02139", "021"), ("03601-1234", "000"), ("89301", "000"), ("9", "000")]
)
def test_zip_codes_keep_three_digits_only_where_more_than_20000_people_live(zip_code, expected):
    assert generalise_zip(zip_code) == expected


def test_ids_become_keyed_pseudonyms_and_references_still_line_up():
    p = deidentify_resource(patient(), KEY, OPTS)
    o = deidentify_resource(observation("deid-o1", "2024-01-10T09:00:00Z"), KEY, OPTS)
    assert p["id"] == pseudonym(KEY, "Patient/deid-p1") and len(p["id"]) == 32
    assert o["subject"] == {"reference": f"Patient/{p['id']}"}
    assert p["managingOrganization"] == {"reference": f"Organization/{pseudonym(KEY, 'Organization/org-1')}"}
    other = deidentify_resource(patient(), b"another-key-0123456789abcdef", OPTS)
    assert other["id"] != p["id"]


def test_dates_shift_by_one_offset_per_patient_so_intervals_are_kept():
    a = deidentify_resource(observation("o-a", "2024-01-10T09:00:00Z"), KEY, OPTS)
    b = deidentify_resource(observation("o-b", "2024-03-01T09:00:00Z"), KEY, OPTS)
    p = deidentify_resource(patient(), KEY, OPTS)
    shifted = [datetime.fromisoformat(x["effectiveDateTime"].replace("Z", "+00:00")) for x in (a, b)]
    assert (shifted[1] - shifted[0]).days == 51
    offset = date_offset(KEY, "Patient/deid-p1")
    assert offset != 0 and abs(offset) <= 182
    assert a["effectiveDateTime"] != "2024-01-10T09:00:00Z" and a["issued"] == a["effectiveDateTime"]
    assert (date.fromisoformat(p["birthDate"]) - date(1961, 3, 14)).days == offset
    other = deidentify_resource(observation("o-c", "2024-01-10T09:00:00Z", pid="deid-p2"), KEY, OPTS)
    assert date_offset(KEY, "Patient/deid-p2") != offset or other["effectiveDateTime"] == a["effectiveDateTime"]


def test_date_precision_is_kept_and_year_mode_keeps_only_the_year():
    assert shift_date("2024-01-10", 3) == "2024-01-13"
    assert shift_date("2024-01", 30) == "2024-02"
    assert shift_date("2024", 100) == "2024"
    assert shift_date("2024-12-30T23:00:00+02:00", 5) == "2025-01-04T23:00:00+02:00"
    out = deidentify_resource(observation("o-y", "2024-01-10T09:00:00Z"), KEY, DeidOptions(dates="year"))
    assert out["effectiveDateTime"] == "2024"


def test_ages_over_89_are_grouped_as_90_or_older():
    old = deidentify_resource(patient("deid-old", birth="1930-05-01"), KEY, OPTS)
    assert "birthDate" not in old
    assert {"url": AGE_GROUP_URL, "valueString": "90+"} in old["extension"]
    young = deidentify_resource(patient("deid-young", birth="1937-12-01"), KEY, OPTS)  # 88 on the as-of day
    assert "birthDate" in young
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/deid-old"},
        "onsetAge": {"value": 93, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
    }
    assert deidentify_resource(condition, KEY, OPTS)["onsetAge"]["value"] == 90
    assert deidentify_resource(condition, KEY, OPTS)["onsetAge"]["comparator"] == ">="


def test_device_ids_urls_ip_addresses_and_biometrics_are_removed():
    device = {
        "resourceType": "Device",
        "id": "dev-1",
        "identifier": [{"value": "DEV-ID-42"}],
        "udiCarrier": [{"deviceIdentifier": "UDI-0001"}],
        "serialNumber": "SN-99-12",
        "lotNumber": "LOT-5",
        "patient": {"reference": "Patient/deid-p1"},
    }
    provenance = {
        "resourceType": "Provenance",
        "id": "prov-1",
        "recorded": "2024-01-10T09:00:00Z",
        "target": [{"reference": "http://ehr.example.org/fhir/Patient/deid-p1/_history/3"}],
        "agent": [{"who": {"reference": "Practitioner/pr-1"}, "network": {"address": "10.1.2.3", "type": "2"}}],
    }
    fingerprint = {
        "resourceType": "Observation",
        "id": "bio-1",
        "status": "final",
        "code": {"text": "fingerprint"},
        "subject": {"reference": "Patient/deid-p1"},
        "valueAttachment": {"contentType": "image/png", "data": "ZmluZ2VycHJpbnQ=", "url": "http://img.example.org/f"},
        "valueString": "seen at 192.168.0.7 ssn 123-45-6789 mail zq@example.org",
    }
    text = text_of([deidentify_resource(r, KEY, OPTS) for r in (device, provenance, fingerprint)])
    for value in ("DEV-ID-42", "UDI-0001", "SN-99-12", "LOT-5", "10.1.2.3", "ehr.example.org", "ZmluZ2VycHJpbnQ=",
                  "img.example.org", "192.168.0.7", SSN, "zq@example.org", "deid-p1", "pr-1"):  # fmt: skip
        assert value not in text, value
    assert f"Patient/{pseudonym(KEY, 'Patient/deid-p1')}" in text


def test_a_bundle_is_de_identified_entry_by_entry_with_consistent_references():
    bundle = {
        "resourceType": "Bundle",
        "id": "b1",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:11111111-2222-3333-4444-555555555555", "resource": patient(),
             "request": {"method": "PUT", "url": "Patient/deid-p1"}},
            {"resource": observation("deid-o9", "2024-02-02T10:00:00Z"),
             "request": {"method": "POST", "url": "Observation", "ifNoneExist": "identifier=MRN-998877"}},
        ],
    }  # fmt: skip
    out = deidentify_resource(bundle, KEY, OPTS)
    pid = out["entry"][0]["resource"]["id"]
    assert out["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    assert out["entry"][0]["request"]["url"] == f"Patient/{pid}"
    assert out["entry"][0]["fullUrl"].startswith("urn:uuid:") and "1111" not in out["entry"][0]["fullUrl"]
    assert MRN not in text_of(out) and "Quillfeather" not in text_of(out)
    get_fhir_model_class("Bundle").model_validate(out)
