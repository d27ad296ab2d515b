"""A synthetic canary patient driven through the CLI, the API and the CDS hooks leaves no PHI in any log record.

The session-wide collector (tests/conftest.py) sees every record of the whole run; the last test of the run checks
all of them, and this test checks the records written while it drives the canary.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import uuid

import orjson
import uvicorn

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests import samples
from tests.api import DevTokenAuth, client_for, token_claims
from tests.cli import run
from tests.conftest import PHI_CANARY, PHI_LOGS, PHI_NEEDLES, PhiLogCollector

PID = PHI_CANARY["id"]
BASE = "http://testserver"


def canary() -> list[dict]:
    patient = samples.patient(PID, family=PHI_CANARY["family"], birth=PHI_CANARY["birth_date"])
    patient["name"][0]["given"] = [PHI_CANARY["given"]]
    patient["identifier"] = [
        {"system": "urn:canary:mrn", "value": PHI_CANARY["mrn"]},
        {"system": "http://hl7.org/fhir/sid/us-ssn", "value": PHI_CANARY["ssn"]},
    ]
    patient["telecom"] = [{"system": "phone", "value": PHI_CANARY["phone"]}]
    patient["address"] = [{"line": [PHI_CANARY["street"]], "city": "Tern Harbour", "postalCode": "02139"}]
    return [
        patient,
        samples.condition("canary-c1", PID, snomed="44054006", onset="2012-04-01"),
        samples.condition("canary-c2", PID, snomed="38341003", onset="2010-09-01"),
        samples.observation("canary-o1", PID, value=10.4, when="2025-01-10T09:00:00Z"),
        samples.observation("canary-o2", PID, loinc="8480-6", value=152, unit="mm[Hg]", when="2025-01-10T09:00:00Z"),
        samples.medication_request("canary-m1", PID, rxnorm="6809", authored="2013-01-01"),
    ]


def leaks(records: list[tuple[str, str]]) -> list[tuple[str, str]]:
    needles = [n.lower() for n in PHI_NEEDLES]
    return [(name, text[:200]) for name, text in records if any(n in text.lower() for n in needles)]


def test_the_collector_would_see_a_leak():
    probe = PhiLogCollector(PHI_NEEDLES)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "loaded %s", (PHI_CANARY["family"],), None)
    probe.emit(record)
    assert probe.hits and probe.hits[0][1] == PHI_CANARY["family"].lower()


def serve_with_access_log(app) -> tuple[uvicorn.Server, threading.Thread, int]:
    """uvicorn with its access log on and no logging config of its own, so records reach the root logger."""
    port = cs.free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", access_log=True, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return server, thread, port


def test_the_canary_patient_leaves_no_trace_in_logs_through_cli_api_and_hooks(tmp_path):
    start = len(PHI_LOGS.records)
    home = tmp_path / "home"
    data = tmp_path / "canary.json"
    resources = canary()
    broken = samples.observation("canary-bad", PID, when="not a date")
    broken["note"] = [{"text": f"{PHI_CANARY['given']} {PHI_CANARY['family']}"}]
    data.write_bytes(orjson.dumps(samples.bundle([*resources, broken])))
    env = {"CAREPILOT_DEV": "1"}

    # command line
    assert run(home, "ingest", str(data), "--json", extra_env=env).exit_code == 0
    for args in (("profile", PID), ("insights", PID), ("patients",), ("quarantine", "list"), ("audit", "list")):
        result = run(home, *args, extra_env=env)
        assert result.exit_code == 0, (args, result.output)
    assert run(home, "profile", "canary-unknown", extra_env=env).exit_code != 0
    assert run(home, "deidentify", str(tmp_path), "--out", str(tmp_path / "deid"), extra_env=env).exit_code == 0
    assert PHI_CANARY["family"] not in (tmp_path / "deid" / "canary.json").read_text()

    # FHIR API, dashboard, CDS hooks (the test client's URLs hold ids only)
    settings = Settings(home=home, dev=True, cds_budget_ms=2000)
    app = create_app(settings)
    client = client_for(app, role="clinician")
    for url in (
        f"/fhir/Patient/{PID}",
        f"/fhir/Patient/{PID}/$everything",
        f"/fhir/Observation?patient={PID}",
        f"/fhir/Patient?_id={PID}",
        "/dashboard",
        f"/dashboard/patients/{PID}",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/fhir/Patient/canary-nobody").status_code == 404
    pv = cs.PATIENT_VIEW
    cards = client.post(
        f"/cds-services/{pv}", json=cs.hook_body("patient-view", PID), headers=cs.auth(settings, BASE, pv)
    )
    assert cards.status_code == 200 and cards.json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": cards.json()["cards"][0]["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-27T10:00:00Z",
            }
        ]
    }
    assert client.post(f"/cds-services/{pv}/feedback", json=feedback, headers=cs.auth(settings, BASE, pv)).is_success
    visitor = orjson.loads(orjson.dumps(resources).decode().replace(PID, "canary-visitor"))
    prefetch = cs.prefetch_for(visitor, "canary-visitor")
    answered = client.post(
        f"/cds-services/{pv}",
        json=cs.hook_body("patient-view", "canary-visitor", prefetch=prefetch),
        headers=cs.auth(settings, BASE, pv),
    )
    assert answered.status_code == 200
    malformed = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": {"name": PHI_CANARY["family"]}}
    assert client.post(f"/cds-services/{pv}", json=malformed, headers=cs.auth(settings, BASE, pv)).status_code == 400

    # a real server with uvicorn's access log on: a search by name must not reach the log with its query string
    # An earlier server in this run (uvicorn's own logging config, or access_log=False) may have stopped these
    # loggers from propagating to the root logger, where the collector listens.
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access")]
    propagate = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.propagate = True
    server, thread, port = serve_with_access_log(app)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        token = DevTokenAuth(app, token_claims("clinician")).token(f"http://127.0.0.1:{port}")
        conn.request("GET", f"/dashboard?q={PHI_CANARY['family']}", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        page = response.read().decode()
        assert response.status == 200 and PHI_CANARY["family"] in page  # the search found the canary
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for lg, before in zip(loggers, propagate, strict=True):
            lg.propagate = before

    records = PHI_LOGS.records[start:]
    access = [text for name, text in records if name == "uvicorn.access"]
    assert any('"GET /dashboard HTTP/1.1" 200' in text for text in access), access
    assert any(name.startswith("carepilot") for name, _ in records), "no record of the product was collected"
    assert leaks(records) == []


def test_no_log_record_of_the_whole_run_holds_the_canary_patients_identifiers():
    assert PHI_LOGS.records, "the collector saw no log record: it is not attached to the root logger"
    assert PHI_LOGS.hits == [], PHI_LOGS.hits[:5]


def test_sql_logged_at_info_shows_statements_without_their_patient_values(tmp_path, caplog):
    from carepilot.bootstrap import open_store
    from carepilot.ingest.pipeline import Ingestor

    settings = Settings(home=tmp_path / "home")
    _, repo = open_store(settings)
    path = tmp_path / "canary.json"
    path.write_bytes(orjson.dumps(samples.bundle(canary())))
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        Ingestor(repo, "test").ingest([path])
    assert "INSERT INTO patients" in caplog.text
    assert leaks([(r.name, r.getMessage()) for r in caplog.records]) == []
