"""POST /streams/{patient_id}: JSON and FHIR batches, duplicates, order, partial rejection, alerts as CDS cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from carepilot.api.app import create_app
from carepilot.api.cds_models import CdsResponse
from carepilot.config import Settings
from carepilot.store import tables as t
from tests import cds_support as cs
from tests.api import client_for

LOINC = "http://loinc.org"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("streams") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    return settings


@pytest.fixture(scope="module")
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return client_for(app, role="clinician")


def start() -> datetime:
    """Two days ago on the hour: recent enough to pass the future check whenever the suite runs."""
    return (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def reading(kind: str, value: float, unit: str, when: datetime, **extra) -> dict:
    return {"type": kind, "value": value, "unit": unit, "time": when.isoformat(), "device": "watch-1", **extra}


def hr_batch(at: datetime, n: int = 12) -> list[dict]:
    return [reading("heart_rate", 70 + i % 3, "/min", at + timedelta(minutes=5 * i)) for i in range(n)]


def stored(settings: Settings, patient_id: str) -> list[tuple]:
    from carepilot.store.db import Database

    db = Database(settings.resolved_database_url)
    try:
        with db.read() as conn:
            r = t.readings
            return list(
                conn.execute(select(r.c.type, r.c.time, r.c.value, r.c.unit).where(r.c.patient_id == patient_id))
            )
    finally:
        db.dispose()


def observation(loinc: str, value: float, unit: str, when: datetime, patient: str = cs.WELL) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def test_a_json_batch_is_stored_compactly_and_counted(client, settings):
    at = start() - timedelta(days=10)
    response = client.post(f"/streams/{cs.DIABETIC}", json={"readings": hr_batch(at)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["duplicate"], body["rejected"]) == (12, 12, 0, 0)
    rows = [r for r in stored(settings, cs.DIABETIC) if r[0] == "heart_rate"]
    assert len(rows) == 12
    assert rows[0][1] == int(at.timestamp() * 1000) and rows[0][3] == "/min"


def test_reposting_the_same_batch_is_idempotent(client, settings):
    at = start() - timedelta(days=9)
    batch = {"readings": hr_batch(at, 6)}
    first = client.post(f"/streams/{cs.DIABETIC}", json=batch).json()
    again = client.post(f"/streams/{cs.DIABETIC}", json=batch).json()
    assert (first["accepted"], first["duplicate"]) == (6, 0)
    assert (again["accepted"], again["duplicate"]) == (0, 6)
    keys = [(r[0], r[1]) for r in stored(settings, cs.DIABETIC)]
    assert len(keys) == len(set(keys))


def test_duplicates_inside_one_batch_keep_the_first_value(client, settings):
    at = start() - timedelta(days=8)
    batch = [reading("weight", 80.0, "kg", at), reading("weight", 95.0, "kg", at)]
    body = client.post(f"/streams/{cs.WELL}", json={"readings": batch}).json()
    assert (body["accepted"], body["duplicate"]) == (1, 1)
    weights = [r for r in stored(settings, cs.WELL) if r[0] == "weight" and r[1] == int(at.timestamp() * 1000)]
    assert [w[2] for w in weights] == [80.0]


def test_out_of_order_readings_are_all_accepted(client, settings):
    at = start() - timedelta(days=7)
    batch = hr_batch(at, 10)[::-1]
    body = client.post(f"/streams/{cs.HEART}", json={"readings": batch}).json()
    assert body["accepted"] == 10 and body["late"] == 0 and body["rejected"] == 0


def test_bad_readings_are_rejected_with_index_and_field_while_good_ones_are_kept(client, settings):
    at = start() - timedelta(days=6)
    batch = [
        reading("heart_rate", 72, "/min", at),
        reading("heart_rate", 900, "/min", at + timedelta(minutes=5)),
        reading("glucose_meter", 5.5, "mmol/L", at + timedelta(minutes=10)),
        {"type": "spo2", "value": 97, "unit": "%", "time": "2026-01-01T08:00:00"},
        reading("weight", 180, "[lb_av]", at + timedelta(minutes=15)),
        reading("steps", "many", "1", at + timedelta(minutes=20)),
        reading("cgm_glucose", 6.0, "furlongs", at + timedelta(minutes=25)),
    ]
    response = client.post(f"/streams/{cs.WELL}", json={"readings": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["rejected"] == 5
    got = {(r["index"], r["field"], r["reason"]) for r in body["reasons"]}
    assert got == {
        (1, "value", "implausible_value"),
        (2, "type", "unknown_type"),
        (3, "time", "naive_timestamp"),
        (5, "value", "bad_value"),
        (6, "unit", "bad_unit"),
    }
    pounds = [r for r in stored(settings, cs.WELL) if r[1] == int((at + timedelta(minutes=15)).timestamp() * 1000)]
    assert pounds and pounds[0][2] == pytest.approx(81.65, abs=0.01) and pounds[0][3] == "kg"


def test_a_batch_with_no_valid_reading_is_a_400_with_the_reasons(client):
    bad = [{"type": "heart_rate", "value": None, "unit": "/min", "time": start().isoformat()}]
    response = client.post(f"/streams/{cs.WELL}", json={"readings": bad})
    assert response.status_code == 400
    assert response.json()["reasons"][0]["field"] == "value"


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b'{"readings": 3}', b"[1, 2]", b'{"resourceType": "Patient", "id": "x"}']
)
def test_an_unreadable_body_is_a_400_never_a_500(client, body):
    response = client.post(f"/streams/{cs.WELL}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text


def test_an_unknown_patient_is_a_404(client):
    response = client.post("/streams/nobody-here", json={"readings": hr_batch(start(), 2)})
    assert response.status_code == 404


def test_a_fhir_bundle_of_observations_is_accepted_with_bp_panels_split(client, settings):
    at = start() - timedelta(days=5)
    panel = observation("85354-9", 0, "mm[Hg]", at)
    del panel["valueQuantity"]
    panel["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": {"value": 128, "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": {"value": 82, "code": "mm[Hg]"}},
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": observation("8867-4", 64, "/min", at)},
            {"resource": panel},
            {"resource": observation("99504-3", 6.1, "mmol/L", at + timedelta(minutes=5))},
            {"resource": observation("8310-5", 37.0, "Cel", at)},  # temperature: not a monitored stream
            {"resource": {"resourceType": "Observation", "code": {"text": "hr"}, "valueQuantity": {"value": "lots"}}},
            {"resource": observation("8867-4", 66, "/min", at, patient=cs.HEART)},
        ],
    }
    response = client.post(
        f"/streams/{cs.WELL}", content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] == 6 and body["accepted"] == 4
    reasons = {(r["index"], r["reason"]): r["field"] for r in body["reasons"]}
    assert reasons[(3, "unknown_type")] == "code"
    assert (4, "invalid_resource") in reasons and reasons[(4, "invalid_resource")].startswith("Observation.")
    assert reasons[(5, "wrong_patient")] == "subject"
    glucose = [r for r in stored(settings, cs.WELL) if r[0] == "cgm_glucose"]
    assert glucose[0][2] == pytest.approx(6.1 * 18.016, rel=1e-3)


def test_a_list_of_fhir_observations_is_accepted(client):
    at = start() - timedelta(days=4)
    items = [observation("59408-5", 97, "%", at + timedelta(minutes=i)) for i in range(3)]
    response = client.post(
        f"/streams/{cs.WELL}", content=orjson.dumps(items), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200 and response.json()["accepted"] == 3


def test_an_alert_is_returned_then_shown_as_a_patient_view_card_until_acknowledged(client, app, settings):
    at = start()
    lows = [reading("cgm_glucose", 48 - i, "mg/dL", at + timedelta(minutes=5 * i)) for i in range(4)]
    response = client.post(f"/streams/{cs.DIABETIC}", json={"readings": lows})
    assert response.status_code == 200, response.text
    alerts = response.json()["alerts"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["rule_id"] == "monitor.cgm-level2-hypoglycaemia" and alert["severity"] == "critical"
    insight = alert["insight"]
    assert insight["kind"] == "monitoring_alert" and insight["explanation"] and insight["evidence"]
    assert insight["source"]["id"] == "monitor.cgm-level2-hypoglycaemia" and insight["source"]["version"]
    assert insight["confidence"]["statement"]

    # Re-posting the same readings raises nothing new.
    assert client.post(f"/streams/{cs.DIABETIC}", json={"readings": lows}).json()["alerts"] == []

    hook = cs.hook_body("patient-view", cs.DIABETIC)
    cards = client.post(f"/cds-services/{cs.PATIENT_VIEW}", json=hook, headers=cs.auth(settings, BASE))
    assert cards.status_code == 200, cards.text
    parsed = CdsResponse.model_validate(cards.json()).cards
    mine = [c for c in parsed if c.uuid == alert["id"]]
    assert mine and mine[0].indicator == "critical"

    page = client.get(f"/dashboard/patients/{cs.DIABETIC}")
    assert page.status_code == 200 and alert["id"] in page.text

    ack = client.post(f"/streams/{cs.DIABETIC}/alerts/{alert['id']}/ack")
    assert ack.status_code == 200 and ack.json()["acknowledged"] == [alert["id"]]
    listed = client.get(f"/streams/{cs.DIABETIC}/alerts").json()["alerts"]
    assert [a["status"] for a in listed if a["id"] == alert["id"]] == ["acknowledged"]
    again = client.post(
        f"/cds-services/{cs.PATIENT_VIEW}",
        json=cs.hook_body("patient-view", cs.DIABETIC),
        headers=cs.auth(settings, BASE),
    )
    assert alert["id"] not in {c["uuid"] for c in again.json()["cards"]}


def test_acknowledging_an_unknown_alert_is_a_404(client):
    assert client.post(f"/streams/{cs.WELL}/alerts/no-such-alert/ack").status_code == 404


def test_the_patient_page_shows_the_agp_for_a_patient_with_cgm(client):
    at = start() - timedelta(days=3)
    cgm = [reading("cgm_glucose", 110 + (i % 12) * 5, "mg/dL", at + timedelta(minutes=5 * i)) for i in range(600)]
    assert client.post(f"/streams/{cs.HEART}", json={"readings": cgm}).json()["accepted"] == 600
    page = client.get(f"/dashboard/patients/{cs.HEART}")
    assert page.status_code == 200
    assert 'id="monitoring"' in page.text and 'class="chart agp"' in page.text and "Time in range" in page.text


def test_lists_and_objects_where_strings_belong_are_rejected_not_crashing(client):
    at = start() - timedelta(days=1)
    batch = [
        reading("heart_rate", 70, "/min", at),
        {"type": ["heart_rate"], "value": 70, "unit": "/min", "time": at.isoformat()},
        {"type": "heart_rate", "value": 70, "unit": {"code": "/min"}, "time": (at + timedelta(minutes=1)).isoformat()},
        {"type": "heart_rate", "value": [70], "unit": "/min", "time": (at + timedelta(minutes=2)).isoformat()},
        {"type": "heart_rate", "value": 70, "unit": "/min", "time": {"t": 1}},
        "not an object",
    ]
    response = client.post(f"/streams/{cs.WELL}", json={"readings": batch})
    assert response.status_code == 200, response.text
    got = {(r["index"], r["field"]) for r in response.json()["reasons"]}
    assert got == {(1, "type"), (2, "unit"), (3, "value"), (4, "time"), (5, "reading")}


def test_the_dashboard_acknowledge_button_acknowledges_and_returns_to_the_patient_page(client):
    at = start() + timedelta(hours=3)
    crisis = [reading("systolic_bp", 196 + i, "mm[Hg]", at + timedelta(minutes=10 * i)) for i in range(2)]
    alerts = client.post(f"/streams/{cs.HEART}", json={"readings": crisis}).json()["alerts"]
    assert [a["rule_id"] for a in alerts] == ["monitor.bp-extreme"]
    alert_id = alerts[0]["id"]
    page = client.get(f"/dashboard/patients/{cs.HEART}").text
    action = f"/streams/{cs.HEART}/alerts/{alert_id}/ack"
    assert f'action="{action}"' in page
    response = client.post(action, data={"source": "dashboard"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith(f"/patients/{cs.HEART}#monitoring")
    assert f'action="{action}"' not in client.get(f"/dashboard/patients/{cs.HEART}").text
    listed = client.get(f"/streams/{cs.HEART}/alerts").json()["alerts"]
    assert [a["acknowledged_by"] for a in listed if a["id"] == alert_id] == ["clinician:test-clinician"]
