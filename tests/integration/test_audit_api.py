"""Every HTTP response that carries patient data has its committed audit record; refusals are recorded too."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from carepilot.api.app import create_app
from carepilot.api.audit import PATIENT_ROUTES
from carepilot.config import Settings
from carepilot.insights.care_gaps import CareGapProvider
from carepilot.store import audit
from tests import cds_support as cs
from tests.api import client_for

BASE = "http://testserver"
PV = cs.PATIENT_VIEW
# Routes that never return patient data (discovery, capability statement, model cards, static files, health).
NO_PATIENT_DATA = {
    "/fhir/metadata",
    "/cds-services",
    "/dashboard/models",
    "/dashboard/models/{model_id:path}",
    "/dashboard/launch",
    "/",
    "/healthz",
    "/static",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/.well-known/smart-configuration",
    "/auth/jwks",
    "/auth/token",
    "/dashboard/login",
    "/dashboard/logout",
    "/dashboard/calibration/{model_id}.png",
    "/dashboard/models/{name}/approval",
    "/dashboard/models/{name}/monitoring",
}


@pytest.fixture
def settings_db(tmp_path) -> Settings:
    settings = Settings(home=tmp_path / "home", dev=True, cds_budget_ms=2000)
    settings.ensure_home()
    cs.ingest_population(settings)
    return settings


@pytest.fixture
def client(settings_db):
    return client_for(create_app(settings_db, providers=[CareGapProvider()]), role="clinician")


def newest(client) -> dict:
    return audit.entries(client.app.state.services.db, limit=1)[0]


def route_paths(routes, prefix: str = "") -> set[str]:
    """Every route template of the app, descending into included routers."""
    paths: set[str] = set()
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included-router wrapper
            inner = prefix + str(getattr(route.include_context, "prefix", "") or "")
            paths |= route_paths(route.original_router.routes, inner)
        elif isinstance(route, (APIRoute, Mount)) or hasattr(route, "path"):
            paths.add(prefix + route.path)
    return paths


def test_every_route_is_classified_as_carrying_patient_data_or_not(client):
    paths = route_paths(client.app.routes)
    unclassified = paths - set(PATIENT_ROUTES) - NO_PATIENT_DATA
    assert not unclassified, f"say whether these routes carry patient data (api/audit.py): {sorted(unclassified)}"
    assert set(PATIENT_ROUTES) <= paths


@pytest.mark.parametrize(
    ("url", "entity", "patient"),
    [
        (f"/fhir/Patient/{cs.DIABETIC}", f"Patient/{cs.DIABETIC}", cs.DIABETIC),
        ("/fhir/Observation/cp-o3", "Observation/cp-o3", cs.DIABETIC),
        (f"/fhir/Observation?patient=Patient/{cs.HEART}", "Observation?patient", cs.HEART),
        (f"/fhir/Patient?_id={cs.WELL}", "Patient?search", cs.WELL),
        ("/fhir/Patient", "Patient?search", None),
        (f"/fhir/Patient/{cs.HEART}/$everything", f"Patient/{cs.HEART}/$everything", cs.HEART),
        ("/dashboard", "dashboard/patients", None),
        (f"/dashboard/patients/{cs.HEART}", f"dashboard/patients/{cs.HEART}", cs.HEART),
    ],
)
def test_each_read_of_patient_data_has_its_audit_record(client, url, entity, patient):
    before = audit.count(client.app.state.services.db)
    response = client.get(url)
    assert response.status_code == 200, response.text
    entry = newest(client)
    assert audit.count(client.app.state.services.db) == before + 1
    assert (entry["entity"], entry["patient_id"], entry["outcome"], entry["actor"]) == (
        entity,
        patient,
        "success",
        "clinician:test-clinician",
    )


def test_hook_calls_and_feedback_are_audited_in_the_same_transaction_as_what_they_store(client, settings_db):
    response = client.post(
        f"/cds-services/{PV}",
        json=cs.hook_body("patient-view", cs.DIABETIC),
        headers=cs.auth(settings_db, BASE, PV),
    )
    assert response.status_code == 200 and response.json()["cards"]
    hook = newest(client)
    assert (hook["action"], hook["patient_id"], hook["actor"]) == (
        "hook",
        cs.DIABETIC,
        "cds-client:urn:carepilot:dev-cds-client",
    )
    card = response.json()["cards"][0]["uuid"]
    body = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-27T10:05:31Z"}]}
    stored = client.post(f"/cds-services/{PV}/feedback", json=body, headers=cs.auth(settings_db, BASE, PV))
    assert stored.status_code == 200, stored.text
    fb = newest(client)
    assert (fb["action"], fb["patient_id"], fb["entity"]) == ("write", cs.DIABETIC, f"cds-services/{PV}/feedback")
    assert audit.verify(client.app.state.services.db).intact


def test_dashboard_feedback_is_audited(client):
    page = client.get(f"/dashboard/patients/{cs.HEART}").text
    insight_id = page.split('id="insight-', 1)[1].split('"', 1)[0]
    done = client.post(
        f"/dashboard/insights/{insight_id}/feedback", data={"outcome": "accepted"}, follow_redirects=False
    )
    assert done.status_code == 303
    entry = newest(client)
    assert (entry["action"], entry["patient_id"], entry["entity"]) == (
        "write",
        cs.HEART,
        f"Insight/{insight_id}/feedback",
    )


def test_refused_and_failed_requests_to_patient_routes_are_recorded(client):
    unauthorised = client.post(f"/cds-services/{PV}", json=cs.hook_body("patient-view", cs.DIABETIC))
    assert unauthorised.status_code == 401
    assert newest(client)["outcome"] == "denied"
    missing = client.get("/fhir/Patient/cp-nobody")
    assert missing.status_code == 404
    entry = newest(client)
    assert (entry["outcome"], entry["patient_id"], entry["reason"]) == ("failed", "cp-nobody", "HTTP 404")


def test_a_patient_data_route_that_does_not_audit_itself_gets_its_record_before_the_response(client, monkeypatch):
    monkeypatch.setitem(PATIENT_ROUTES, "/dashboard/models", "view")  # a route that does not audit
    before = audit.count(client.app.state.services.db)
    response = client.get("/dashboard/models")
    assert response.status_code == 200
    entry = newest(client)
    assert audit.count(client.app.state.services.db) == before + 1
    assert (entry["entity"], entry["outcome"], entry["action"]) == ("/dashboard/models", "success", "view")


def test_break_glass_reads_are_flagged_with_the_stated_reason(settings_db):
    app = create_app(settings_db, providers=[CareGapProvider()])
    elsewhere = client_for(app, role="clinician", sites=("site-that-is-not-theirs",))
    assert elsewhere.get(f"/fhir/Patient/{cs.WELL}").status_code == 403
    opened = elsewhere.get(f"/fhir/Patient/{cs.WELL}", headers={"X-Break-Glass-Reason": "cardiac arrest"})
    assert opened.status_code == 200
    entry = newest(elsewhere)
    assert entry["flagged"] is True and entry["actor"] == "clinician:test-clinician"
    assert entry["reason"] == "break-glass: cardiac arrest"
