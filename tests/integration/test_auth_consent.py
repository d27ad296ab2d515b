"""Consent in serving: a patient who opted out of decision support gets no Insight, no CDS card, a notice on the page."""

from __future__ import annotations

import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.domain.consent import CONSENT_PURPOSE_SYSTEM
from tests import cds_support as cs
from tests.api import client_for


def opt_out(patient: str, purpose: str, when: str = "2026-01-01T00:00:00Z", cid: str = "consent-1") -> dict:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": when,
        "provision": {"type": "deny", "purpose": [{"system": CONSENT_PURPOSE_SYSTEM, "code": purpose}]},
    }


@pytest.fixture
def app(tmp_path):
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings, [*cs.population(), opt_out(cs.HEART, "decision_support")])
    return create_app(settings)


def hook(app, patient: str) -> list[dict]:
    client = client_for(app, role="clinician")
    body = cs.hook_body("patient-view", patient)
    response = client.post(
        f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers=cs.auth(app.state.services.settings, "http://testserver")
    )
    assert response.status_code == 200
    return response.json()["cards"]


def test_an_opted_out_patient_gets_no_cards_and_others_still_do(app):
    assert hook(app, cs.HEART) == []
    assert len(hook(app, cs.DIABETIC)) >= 2


def test_the_dashboard_says_decision_support_is_off(app):
    client = client_for(app, role="clinician")
    page = client.get(f"/dashboard/patients/{cs.HEART}").text
    assert 'id="consent-off"' in page and "at the patient's request" in page
    assert 'class="insight' not in page.split('id="alerts"', 1)[1]
    other = client.get(f"/dashboard/patients/{cs.DIABETIC}").text
    assert 'id="consent-off"' not in other and 'article class="insight' in other


def test_an_opt_out_for_training_only_leaves_decision_support_on(tmp_path):
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings, [*cs.population(), opt_out(cs.HEART, "training")])
    app = create_app(settings)
    assert len(hook(app, cs.HEART)) >= 1
