"""The patient's own page, patient reports written into the record, the depression-care and nudge sections."""

from __future__ import annotations

import pytest

from carepilot.api.app import create_app
from carepilot.bootstrap import open_store
from carepilot.config import Settings
from carepilot.store.profiles import load_profile
from tests import cds_support as cs
from tests import engagement_support as es
from tests.api import client_for


@pytest.fixture
def app(settings: Settings):
    settings.ensure_home()
    cs.ingest_population(settings, es.population())
    return create_app(settings.model_copy(update={"dev": True}))  # development sign-in for the test tokens


def test_the_patient_page_speaks_plainly_and_shows_plan_medicines_and_crisis_contacts(app):
    client = client_for(app, role="patient", patient=es.DEPRESSED)
    page = client.get(f"/patient/{es.DEPRESSED}")
    assert page.status_code == 200
    text = page.text
    assert "Sertraline" in text and "50 mg once a day" in text
    assert "Depressive disorder" in text
    assert "988" in text  # PHQ-9 item 9 was positive: crisis contacts are shown
    assert "review your depression treatment" in text
    assert "Refill sertraline by" in text
    assert "interval" not in text.lower()  # model numbers stay with the care team


def test_a_reported_side_effect_becomes_a_validated_patient_reported_observation(app, settings: Settings):
    client = client_for(app, role="patient", patient=es.DEPRESSED)
    answer = client.post(
        f"/patient/{es.DEPRESSED}/reports",
        data={
            "kind": "side_effect",
            "text": "Nausea after the morning dose",
            "severity": "4",
            "medication": "sertraline",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    found = app.state.services.reads.search("Observation", es.DEPRESSED)
    reports = [o for o in found if o.get("valueString") == "Nausea after the morning dose"]
    assert len(reports) == 1
    obs = reports[0]
    assert obs["performer"] == [{"reference": f"Patient/{es.DEPRESSED}"}]
    assert obs["code"]["coding"][0]["code"] == "62014003"
    assert {c["code"]["text"] for c in obs["component"]} == {"Severity (0-10), patient-reported", "Suspected medicine"}
    assert "Thank you" in client.get(f"/patient/{es.DEPRESSED}?sent=1").text


def test_a_self_reported_phq9_updates_the_score_and_item9(app, settings: Settings):
    client = client_for(app, role="patient", patient=cs.WELL)
    answers = ["1", "1", "2", "1", "0", "1", "1", "0", "2"]
    data = {"kind": "symptom", "text": "", "phq": answers}
    answer = client.post(f"/patient/{cs.WELL}/reports", data=data, follow_redirects=False)
    assert answer.status_code == 303
    _, repo = open_store(settings)
    profile = load_profile(repo, cs.WELL)
    assert profile.latest_value("phq9") == 9
    assert profile.latest_value("phq9_item9") == 2
    assert "988" in client.get(f"/patient/{cs.WELL}").text


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "symptom", "text": ""},
        {"kind": "symptom", "text": "x", "severity": "11"},
        {"kind": "rumour", "text": "x"},
        {"kind": "symptom", "phq": ["1", "2"]},
    ],
)
def test_a_bad_report_is_refused_with_a_message_and_nothing_is_stored(app, data):
    client = client_for(app, role="patient", patient=es.DEPRESSED)
    before = len(app.state.services.reads.search("Observation", es.DEPRESSED))
    answer = client.post(f"/patient/{es.DEPRESSED}/reports", data=data, follow_redirects=False)
    assert answer.status_code == 400
    assert 'class="error"' in answer.text
    assert len(app.state.services.reads.search("Observation", es.DEPRESSED)) == before


def test_an_unknown_patient_is_404(app):
    client = client_for(app, role="clinician")
    assert client.get("/patient/nobody-here").status_code == 404


def test_the_patient_role_cannot_see_another_patient(app):
    client = client_for(app, role="patient", patient=es.DEPRESSED)
    assert client.get(f"/patient/{es.DEPRESSED}").status_code == 200
    assert client.get(f"/patient/{cs.HEART}").status_code in (403, 404)
    answer = client.post(f"/patient/{cs.HEART}/reports", data={"kind": "symptom", "text": "x"}, follow_redirects=False)
    assert answer.status_code in (403, 404)


def test_the_clinician_page_has_a_depression_care_section_with_the_phq9_chart(app):
    client = client_for(app, role="clinician")
    page = client.get(f"/dashboard/patients/{es.DEPRESSED}")
    assert page.status_code == 200
    text = page.text
    assert 'id="depression"' in text
    assert 'aria-label="PHQ-9 total (score)"' in text
    assert "not improving after an adequate trial" in text
    assert "Self-harm thoughts reported" in text  # the critical item-9 alert
    assert "Low adherence to ssri" in text


def test_a_clinician_switches_nudges_off_and_the_page_says_so(app):
    client = client_for(app, role="clinician")
    answer = client.post(
        f"/dashboard/patients/{es.DEPRESSED}/nudges",
        data={"enabled": "off", "reason": "prefers phone calls"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    page = client.get(f"/dashboard/patients/{es.DEPRESSED}").text
    assert "Nudges are <strong>off</strong> (prefers phone calls)" in page
    assert app.state.nudges.settings(es.DEPRESSED).enabled is False
