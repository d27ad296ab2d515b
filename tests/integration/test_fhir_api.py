"""Read-only FHIR API: metadata, read, $everything, search by patient, 404 OperationOutcome, write-back served."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests.api import client_for

FHIR_JSON = "application/fhir+json"


def valid(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.fixture
def settings_db(tmp_path, database) -> Settings:
    settings = Settings(home=tmp_path / "home", database_url=database.url, dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    return settings


@pytest.fixture
def client(settings_db) -> TestClient:
    return client_for(create_app(settings_db), role="clinician")


def test_metadata_is_a_valid_capability_statement(client):
    response = client.get("/fhir/metadata")
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    valid(body)
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Observation", "RiskAssessment", "GuidanceResponse", "Provenance"} <= types


def test_patient_read_returns_the_stored_resource(client):
    response = client.get(f"/fhir/Patient/{cs.DIABETIC}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(FHIR_JSON)
    assert response.json()["name"][0]["family"] == "Ardent"
    valid(response.json())


def test_unknown_ids_are_404_operation_outcomes(client):
    for path in ("/fhir/Patient/nobody", "/fhir/Observation/none", "/fhir/Patient/nobody/$everything"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith(FHIR_JSON)
        body = response.json()
        valid(body)
        assert body["issue"][0]["code"] == "not-found"


def test_everything_bundles_all_of_one_patients_resources(client):
    body = client.get(f"/fhir/Patient/{cs.HEART}/$everything").json()
    valid(body)
    assert body["type"] == "searchset"
    kinds = [e["resource"]["resourceType"] for e in body["entry"]]
    assert kinds[0] == "Patient"
    assert sorted(kinds[1:]) == ["Condition", "MedicationRequest", "Observation", "Observation"]
    assert all(cs._owner(e["resource"]) in (None, cs.HEART) for e in body["entry"])


@pytest.mark.parametrize(("rtype", "count"), [("Observation", 8), ("Condition", 2), ("MedicationRequest", 2)])
def test_search_by_patient_returns_a_searchset(client, rtype, count):
    for query in (f"patient={cs.DIABETIC}", f"patient=Patient/{cs.DIABETIC}", f"subject=Patient/{cs.DIABETIC}"):
        body = client.get(f"/fhir/{rtype}?{query}").json()
        valid(body)
        assert body["total"] == count
        assert {e["resource"]["resourceType"] for e in body["entry"]} == {rtype}


def test_search_without_patient_is_a_400_outcome(client):
    response = client.get("/fhir/Observation")
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"


def test_patient_search_by_id(client):
    assert client.get(f"/fhir/Patient?_id={cs.WELL}").json()["total"] == 1
    assert client.get("/fhir/Patient").json()["total"] == 3


def test_write_back_is_served_and_valid(client, settings_db):
    base = "http://testserver"
    response = client.post(
        f"/cds-services/{cs.PATIENT_VIEW}",
        json=cs.hook_body("patient-view", cs.DIABETIC),
        headers=cs.auth(settings_db, base),
    )
    assert response.status_code == 200
    for rtype in ("GuidanceResponse", "Provenance"):
        body = client.get(f"/fhir/{rtype}?patient={cs.DIABETIC}").json()
        assert body["total"] == 1, rtype
        valid(body["entry"][0]["resource"])
    guidance = client.get(f"/fhir/GuidanceResponse?patient={cs.DIABETIC}").json()["entry"][0]["resource"]
    assert guidance["moduleUri"] == f"{base}/cds-services/{cs.PATIENT_VIEW}"
    assert client.get(f"/fhir/GuidanceResponse/{guidance['id']}").status_code == 200
