"""CDS Hooks service end to end through the app (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carepilot.api.app import create_app
from carepilot.api.cds_models import CdsResponse
from carepilot.config import Settings
from carepilot.domain.insight import Confidence, Declined, Insight, InsightKind, Severity, Source
from carepilot.domain.profile import PatientProfile
from carepilot.insights.care_gaps import CareGapProvider
from carepilot.insights.service import InsightContext
from carepilot.store import tables as t
from tests import cds_support as cs
from tests.api import client_for

BASE = "http://testserver"
PV = cs.PATIENT_VIEW


class InteractionProvider:
    """A stand-in engine that flags the ordered drug and records the context it was given."""

    name = "interaction-test"

    def __init__(self) -> None:
        self.contexts: list[InsightContext] = []

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        self.contexts.append(context)
        if "clopidogrel" not in context.ordered_concepts:
            return []
        return [
            Insight(
                patient_id=profile.patient_id,
                as_of=profile.as_of,
                kind=InsightKind.INTERACTION,
                title="Clopidogrel with omeprazole: reduced antiplatelet effect",
                detail="CYP2C19 inhibition.",
                confidence=Confidence("moderate", "FDA label warning"),
                source=Source("interactions-test", "0.1", "rule"),
                severity=Severity.CRITICAL,
            )
        ]


class SlowProvider:
    name = "slow-test"

    def insights(self, profile, context):
        time.sleep(1.0)
        return []


@pytest.fixture
def settings_db(tmp_path, database) -> Settings:
    settings = Settings(home=tmp_path / "home", database_url=database.url, dev=True, cds_budget_ms=400)
    settings.ensure_home()
    cs.ingest_population(settings)
    return settings


@pytest.fixture
def interactions() -> InteractionProvider:
    return InteractionProvider()


@pytest.fixture
def client(settings_db, interactions) -> TestClient:
    return client_for(create_app(settings_db, providers=[CareGapProvider(), interactions]), role="clinician")


def call(client: TestClient, settings: Settings, service: str, body: dict, **kw) -> httpx.Response:
    return client.post(f"/cds-services/{service}", json=body, headers=cs.auth(settings, BASE, service, **kw))


def renamed(resources: list[dict], old: str, new: str) -> list[dict]:
    """The same synthetic patient under an id the store does not know."""
    text = orjson.dumps(resources).decode().replace(old, new)
    return orjson.loads(text)


def test_discovery_lists_the_four_services(client):
    services = client.get("/cds-services").json()["services"]
    assert {s["hook"] for s in services} == {"patient-view", "order-select", "order-sign", "encounter-discharge"}


def test_patient_view_for_a_stored_patient_returns_valid_cards_and_stores_them(client, settings_db, database):
    response = call(client, settings_db, PV, cs.hook_body("patient-view", cs.DIABETIC))
    assert response.status_code == 200, response.text
    cards = CdsResponse.model_validate(response.json()).cards
    summaries = {c.summary for c in cards}
    assert "Diabetes: HbA1c above 9%" in summaries
    assert "Diabetes: no HbA1c in the last 6 months" in summaries
    assert "Hypertension: latest blood pressure at or above 140/90 mmHg" in summaries
    with database.read() as conn:
        stored = set(conn.execute(select(t.insights.c.id)).scalars())
        written = {row.resource_type for row in conn.execute(select(t.writeback.c.resource_type))}
    assert {c.uuid for c in cards} <= stored
    assert written == {"GuidanceResponse", "Provenance"}


def test_a_patient_without_gaps_gets_an_empty_card_list(client, settings_db):
    response = call(client, settings_db, PV, cs.hook_body("patient-view", cs.WELL))
    assert response.status_code == 200 and response.json() == {"cards": []}


def test_patient_view_builds_a_transient_profile_from_prefetch_for_an_unknown_patient(client, settings_db, database):
    resources = renamed(cs.population(), cs.HEART, "cp-visitor")
    body = cs.hook_body("patient-view", "cp-visitor", prefetch=cs.prefetch_for(resources, "cp-visitor"))
    response = call(client, settings_db, PV, body)
    assert response.status_code == 200, response.text
    summaries = {c["summary"] for c in response.json()["cards"]}
    assert summaries == {
        "Heart failure: consider an SGLT2 inhibitor",
        "LDL cholesterol 190 mg/dL or higher without a statin",
    }
    with database.read() as conn:  # prefetch is used, not ingested
        assert (
            conn.execute(select(t.patients.c.patient_id).where(t.patients.c.patient_id == "cp-visitor")).first() is None
        )


def test_unknown_patient_without_prefetch_or_fhir_server_is_412(client, settings_db):
    response = call(client, settings_db, PV, cs.hook_body("patient-view", "cp-nobody"))
    assert response.status_code == 412
    assert "prefetch" in response.json()["message"]


def test_missing_prefetch_is_fetched_from_fhir_server_with_the_given_token(settings_db, tmp_path):
    resources = renamed(cs.population(), cs.DIABETIC, "cp-remote")
    tokens = []

    def handler(request: httpx.Request) -> httpx.Response:
        tokens.append(request.headers.get("authorization"))
        path = request.url.path.removeprefix("/fhir/")
        if path.startswith("Patient/"):
            return httpx.Response(200, json=next(r for r in resources if r["id"] == "cp-remote"))
        entries = [{"resource": r} for r in resources if r["resourceType"] == path and cs._owner(r) == "cp-remote"]
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries})

    client = client_for(create_app(settings_db, transport=httpx.MockTransport(handler)), role="clinician")
    body = cs.hook_body(
        "patient-view",
        "cp-remote",
        fhirServer="https://ehr.example.test/fhir",
        fhirAuthorization={
            "access_token": "ehr-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/*.read",
            "subject": "cds",
        },
    )
    response = call(client, settings_db, PV, body)
    assert response.status_code == 200, response.text
    assert "Diabetes: HbA1c above 9%" in {c["summary"] for c in response.json()["cards"]}
    assert tokens and set(tokens) == {"Bearer ehr-token"}


def test_a_failing_fhir_server_gives_412(settings_db):
    client = client_for(
        create_app(settings_db, transport=httpx.MockTransport(lambda r: httpx.Response(500))), role="clinician"
    )
    body = cs.hook_body("patient-view", "cp-remote", fhirServer="https://ehr.example.test/fhir")
    assert call(client, settings_db, PV, body).status_code == 412


def draft_orders(text: str, rxnorm: str) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "draft-1",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm}],
                        "text": text,
                    },
                    "subject": {"reference": f"Patient/{cs.DIABETIC}"},
                }
            }
        ],
    }


@pytest.mark.parametrize(
    ("service", "hook"), [("carepilot-order-sign", "order-sign"), ("carepilot-order-select", "order-select")]
)
def test_order_hooks_pass_ordered_concepts_and_show_only_order_findings(
    client, settings_db, interactions, service, hook
):
    context = {"draftOrders": draft_orders("clopidogrel 75 MG Oral Tablet", "32968")}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-1"]
    response = call(client, settings_db, service, cs.hook_body(hook, cs.DIABETIC, context=context))
    assert response.status_code == 200, response.text
    assert interactions.contexts[-1].ordered_concepts == ("clopidogrel",)
    assert interactions.contexts[-1].hook == hook
    cards = response.json()["cards"]
    assert [c["indicator"] for c in cards] == ["critical"]  # care gaps stay on patient-view
    assert cards[0]["summary"].startswith("Clopidogrel with omeprazole")


def test_interaction_findings_are_written_back_as_detected_issues(client, settings_db):
    context = {"draftOrders": draft_orders("clopidogrel", "32968")}
    response = call(
        client, settings_db, "carepilot-order-sign", cs.hook_body("order-sign", cs.DIABETIC, context=context)
    )
    card = response.json()["cards"][0]
    issue = client.get(f"/fhir/DetectedIssue/{card['uuid']}")
    assert issue.status_code == 200 and issue.json()["severity"] == "high"


def test_encounter_discharge_needs_an_encounter_id(client, settings_db):
    bad = call(client, settings_db, "carepilot-encounter-discharge", cs.hook_body("encounter-discharge", cs.DIABETIC))
    assert bad.status_code == 400 and "encounterId" in bad.json()["message"]
    body = cs.hook_body("encounter-discharge", cs.DIABETIC, context={"encounterId": "enc-1"})
    ok = call(client, settings_db, "carepilot-encounter-discharge", body)
    assert ok.status_code == 200 and len(ok.json()["cards"]) >= 3


def test_feedback_is_stored_with_the_insight_and_its_rule_version(client, settings_db, database):
    cards = call(client, settings_db, PV, cs.hook_body("patient-view", cs.DIABETIC)).json()["cards"]
    with_suggestion = next(c for c in cards if c.get("suggestions"))
    other = next(c for c in cards if c is not with_suggestion)
    body = {
        "feedback": [
            {
                "card": with_suggestion["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": with_suggestion["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-27T10:05:31Z",
            },
            {
                "card": other["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "patient-declined", "system": other["overrideReasons"][0]["system"]},
                    "userComment": "prefers to wait",
                },
                "outcomeTimestamp": "2026-11-27T10:06:00Z",
            },
        ]
    }
    response = client.post(f"/cds-services/{PV}/feedback", json=body, headers=cs.auth(settings_db, BASE, PV))
    assert response.status_code == 200, response.text
    with database.read() as conn:
        rows = {r.card: r for r in conn.execute(select(t.feedback))}
    accepted, overridden = rows[with_suggestion["uuid"]], rows[other["uuid"]]
    assert accepted.outcome == "accepted" and accepted.source_version == "2026.11.0"
    assert accepted.source_id.startswith("care-gaps/") and accepted.patient_id == cs.DIABETIC
    assert orjson.loads(accepted.accepted_suggestions) == [with_suggestion["suggestions"][0]["uuid"]]
    assert overridden.override_code == "patient-declined" and overridden.override_display == "Patient declined"
    assert overridden.user_comment == "prefers to wait"


def test_feedback_on_an_unknown_card_is_404_and_stores_nothing(client, settings_db, database):
    body = {
        "feedback": [
            {
                "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
                "outcome": "accepted",
                "outcomeTimestamp": "2021-12-11T10:05:31Z",
            }
        ]
    }
    response = client.post(f"/cds-services/{PV}/feedback", json=body, headers=cs.auth(settings_db, BASE, PV))
    assert response.status_code == 404
    with database.read() as conn:
        assert conn.execute(select(t.feedback)).first() is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "JSON decode error"),
        (b"[]", "body"),
        (b'{"hookInstance": "x", "context": {}}', "body.hook"),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": "p1"}', "body.context"),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {"userId": "u"}}', "context.patientId"),
        (b'{"hook": "order-sign", "hookInstance": "x", "context": {"userId": "u", "patientId": "p"}}', "order-sign"),
        (b'{"hook": "medication-prescribe", "hookInstance": "x", "context": {}}', "medication-prescribe"),
    ],
)
def test_malformed_hook_bodies_are_400_with_the_path(client, settings_db, content, expected):
    response = client.post(
        f"/cds-services/{PV}",
        content=content,
        headers={**cs.auth(settings_db, BASE, PV), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert expected in response.json()["message"]


def test_unknown_service_is_404(client, settings_db):
    response = call(client, settings_db, "no-such-service", cs.hook_body("patient-view", cs.DIABETIC))
    assert response.status_code == 404


def test_a_late_engine_is_skipped_and_the_other_cards_still_come(settings_db, caplog):
    settings = settings_db.model_copy(update={"cds_budget_ms": 150})
    client = client_for(create_app(settings, providers=[SlowProvider(), CareGapProvider()]), role="clinician")
    started = time.perf_counter()
    response = call(client, settings, PV, cs.hook_body("patient-view", cs.DIABETIC))
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and len(response.json()["cards"]) >= 3
    assert elapsed < 0.9  # the call did not wait for the 1 s engine
    assert "slow-test skipped" in caplog.text


def test_missing_token_is_401_with_a_bearer_challenge(client):
    response = client.post(f"/cds-services/{PV}", json=cs.hook_body("patient-view", cs.DIABETIC))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_cors_preflight_allows_browser_clients(client):
    response = client.options(
        f"/cds-services/{PV}",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://sandbox.cds-hooks.org")


def test_writeback_can_be_switched_off(settings_db, database):
    settings = settings_db.model_copy(update={"writeback": False})
    client = client_for(create_app(settings), role="clinician")
    assert call(client, settings, PV, cs.hook_body("patient-view", cs.DIABETIC)).status_code == 200
    with database.read() as conn:
        assert conn.execute(select(t.writeback)).first() is None


def test_same_card_twice_stores_the_insight_once(settings_db, database):
    client = client_for(create_app(settings_db), role="clinician")
    body = cs.hook_body("patient-view", cs.DIABETIC)
    first = call(client, settings_db, PV, copy.deepcopy(body)).json()["cards"]
    second = call(client, settings_db, PV, body).json()["cards"]
    assert len(first) == len(second)
    with database.read() as conn:
        count = len(list(conn.execute(select(t.insights.c.id))))
    assert count >= len(first)


def test_a_new_result_is_seen_by_the_next_call(client, settings_db):
    first = {
        c["summary"] for c in call(client, settings_db, PV, cs.hook_body("patient-view", cs.DIABETIC)).json()["cards"]
    }
    assert "Diabetes: HbA1c above 9%" in first
    today = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    cs.ingest_population(settings_db, [cs.s.observation("cp-o-new", cs.DIABETIC, value=6.8, when=today)])
    after = {
        c["summary"] for c in call(client, settings_db, PV, cs.hook_body("patient-view", cs.DIABETIC)).json()["cards"]
    }
    assert "Diabetes: HbA1c above 9%" not in after
    assert "Diabetes: no HbA1c in the last 6 months" not in after
