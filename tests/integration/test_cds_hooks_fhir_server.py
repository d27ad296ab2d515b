"""Prefetch missing: the service fetches from the client's FHIR server, here a real CarePilot /fhir API over HTTP."""

from __future__ import annotations

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests.api import DevTokenAuth, client_for, token_claims


def test_cards_from_data_fetched_over_http_from_a_live_fhir_endpoint(tmp_path):
    # The CDS service makes several reads with the one token the client hands it: that EHR accepts reuse.
    ehr_settings = Settings(home=tmp_path / "ehr", dev=True, single_use_tokens=False)
    ehr_settings.ensure_home()
    cs.ingest_population(ehr_settings)
    cds_settings = Settings(home=tmp_path / "cds", dev=True)  # an empty store: it knows no patient
    ehr = create_app(ehr_settings)
    with cs.live_server(ehr) as ehr_base:
        access = DevTokenAuth(ehr, token_claims("clinician", scopes=["user/*.read"])).token(ehr_base)
        client = client_for(create_app(cds_settings), role="clinician")
        body = cs.hook_body(
            "patient-view",
            cs.HEART,
            fhirServer=f"{ehr_base}/fhir",
            fhirAuthorization={
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "user/*.read",
                "subject": "cds",
            },
        )
        response = client.post(
            f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers=cs.auth(cds_settings, "http://testserver")
        )
    assert response.status_code == 200, response.text
    assert {c["summary"] for c in response.json()["cards"]} == {
        "Heart failure: consider an SGLT2 inhibitor",
        "LDL cholesterol 190 mg/dL or higher without a statin",
    }


def test_an_unreachable_fhir_server_is_412(tmp_path):
    settings = Settings(home=tmp_path / "cds", dev=True)
    client = client_for(create_app(settings), role="clinician")
    body = cs.hook_body("patient-view", cs.HEART, fhirServer=f"http://127.0.0.1:{cs.free_port()}/fhir")
    response = client.post(
        f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers=cs.auth(settings, "http://testserver")
    )
    assert response.status_code == 412
