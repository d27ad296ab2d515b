"""Shared pieces for the CDS Hooks, FHIR API and dashboard tests: a synthetic population, tokens, a live server."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from carepilot.bootstrap import open_store
from carepilot.config import Settings
from carepilot.ingest.pipeline import Ingestor
from carepilot.knowledge.concepts import RXNORM
from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer, mint_token
from tests import samples as s

PATIENT_VIEW = "carepilot-patient-view"
DIABETIC = "cp-diab-1"  # diabetes + hypertension, old HbA1c 10.4, BP 152/94, no eGFR
HEART = "cp-hf-1"  # heart failure without SGLT2 inhibitor, LDL 210 without statin
WELL = "cp-well-1"  # no conditions: no care gaps


def _ago(days: int) -> str:
    """A timestamp ``days`` before now, so the care-gap windows hold whenever the suite runs."""
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT09:00:00Z")


def _med(mid: str, pid: str, rxnorm: str, display: str, authored: str) -> dict[str, Any]:
    med = s.medication_request(mid, pid, rxnorm=rxnorm, authored=authored)
    med["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": rxnorm, "display": display}]}
    return med


def population() -> list[dict[str, Any]]:
    """A small synthetic population (no real person) covering every care-gap rule."""
    return [
        s.patient(DIABETIC, family="Ardent", birth="1958-02-11"),
        s.condition("cp-c1", DIABETIC, snomed="44054006", onset="2012-04-01"),
        s.condition("cp-c2", DIABETIC, snomed="38341003", onset="2010-09-01"),
        s.observation("cp-o1", DIABETIC, value=8.1, when=_ago(600)),
        s.observation("cp-o2", DIABETIC, value=9.2, when=_ago(400)),
        s.observation("cp-o3", DIABETIC, value=10.4, when=_ago(220)),
        s.observation("cp-o4", DIABETIC, loinc="8480-6", value=148, unit="mm[Hg]", when=_ago(300)),
        s.observation("cp-o5", DIABETIC, loinc="8480-6", value=152, unit="mm[Hg]", when=_ago(220)),
        s.observation("cp-o6", DIABETIC, loinc="8462-4", value=94, unit="mm[Hg]", when=_ago(220)),
        s.observation("cp-o7", DIABETIC, loinc="29463-7", value=94.0, unit="kg", when=_ago(400)),
        s.observation("cp-o10", DIABETIC, loinc="29463-7", value=92.5, unit="kg", when=_ago(220)),
        _med("cp-m1", DIABETIC, "6809", "metformin", "2013-01-01"),
        _med("cp-m3", DIABETIC, "29046", "lisinopril", "2015-06-01"),
        s.patient(HEART, family="Brightwater", birth="1949-07-30"),
        s.condition("cp-c3", HEART, snomed="84114007", onset="2019-03-01"),
        s.observation("cp-o8", HEART, loinc="18262-6", value=210, unit="mg/dL", when=_ago(90)),
        s.observation("cp-o9", HEART, loinc="33914-3", value=52, unit="mL/min/{1.73_m2}", when=_ago(90)),
        _med("cp-m2", HEART, "29046", "lisinopril", "2019-03-02"),
        s.patient(WELL, family="Calloway", birth="1990-12-01"),
    ]


def ingest_population(settings: Settings, resources: list[dict[str, Any]] | None = None) -> None:
    """Write the population as one bundle and ingest it into the settings' store."""
    _, repo = open_store(settings)
    path = settings.home / "population.json"
    path.write_bytes(orjson.dumps(s.bundle(resources or population())))
    Ingestor(repo, "test").ingest([path])


def token(settings: Settings, audience: str, **kwargs: Any) -> str:
    """A dev-issuer ES384 JWT for ``audience``."""
    return mint_token(ensure_dev_issuer(settings.home), iss=DEV_ISSUER, aud=audience, **kwargs)


def auth(settings: Settings, base: str, service: str = PATIENT_VIEW, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + token(settings, f"{base}/cds-services/{service}", **kwargs)}


def hook_body(hook: str, patient_id: str, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    context.update(extra.pop("context", {}))
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context, **extra}


def prefetch_for(resources: list[dict[str, Any]], patient_id: str) -> dict[str, Any]:
    """The prefetch a CDS client would send for the declared templates."""

    def bundle(rtype: str) -> dict[str, Any]:
        entries = [{"resource": r} for r in resources if r["resourceType"] == rtype and _owner(r) == patient_id]
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}

    patient = next(r for r in resources if r["resourceType"] == "Patient" and r["id"] == patient_id)
    return {
        "patient": patient,
        "conditions": bundle("Condition"),
        "medications": bundle("MedicationRequest"),
        "observations": bundle("Observation"),
        "allergies": bundle("AllergyIntolerance"),
    }


def _owner(resource: dict[str, Any]) -> str | None:
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def dump(path: Path, value: Any) -> Path:
    path.write_bytes(orjson.dumps(value))
    return path
