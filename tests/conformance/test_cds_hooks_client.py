"""A CDS Hooks 2.0.1 conformance client run against the service over real HTTP (uvicorn on a loopback port)."""

from __future__ import annotations

import base64
import time
import uuid

import httpx
import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from carepilot.api.app import create_app
from carepilot.api.cds_models import CdsResponse, DiscoveryResponse
from carepilot.config import Settings
from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer, mint_token
from tests import cds_support as cs

HOOKS = {
    "carepilot-patient-view": ("patient-view", {}),
    "carepilot-order-select": (
        "order-select",
        {
            "selections": ["MedicationRequest/d1"],
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []},
        },
    ),
    "carepilot-order-sign": (
        "order-sign",
        {"draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []}},
    ),
    "carepilot-encounter-discharge": ("encounter-discharge", {"encounterId": "enc-1"}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("conformance") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    with cs.live_server(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield settings, base, http


def endpoint(base: str, service: str) -> str:
    return f"{base}/cds-services/{service}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def good(settings: Settings, base: str, service: str) -> dict[str, str]:
    return bearer(mint_token(ensure_dev_issuer(settings.home), iss=DEV_ISSUER, aud=endpoint(base, service)))


def test_discovery(server):
    _, _, http = server
    response = http.get("/cds-services")
    assert response.status_code == 200
    services = DiscoveryResponse.model_validate(response.json()).services
    assert {s.id for s in services} == set(HOOKS)


@pytest.mark.parametrize("service", list(HOOKS))
@pytest.mark.parametrize("with_prefetch", [False, True], ids=["store", "prefetch"])
def test_every_hook_with_and_without_prefetch(server, service, with_prefetch):
    settings, base, http = server
    hook, context = HOOKS[service]
    patient = cs.DIABETIC
    prefetch = None
    if with_prefetch:  # a patient the store does not know, sent with everything the templates ask for
        resources = orjson.loads(orjson.dumps(cs.population()).decode().replace(cs.DIABETIC, "cp-guest"))
        patient, prefetch = "cp-guest", cs.prefetch_for(resources, "cp-guest")
    body = cs.hook_body(hook, patient, context=context, **({"prefetch": prefetch} if prefetch else {}))
    response = http.post(f"/cds-services/{service}", json=body, headers=good(settings, base, service))
    assert response.status_code == 200, response.text
    cards = CdsResponse.model_validate(response.json()).cards
    if hook in ("patient-view", "encounter-discharge"):
        assert "Diabetes: HbA1c above 9%" in {c.summary for c in cards}
    else:
        assert cards == []  # no engine here speaks to an empty order


def _unsigned(header: dict, claims: dict, signature: str = "") -> str:
    enc = lambda d: base64.urlsafe_b64encode(orjson.dumps(d)).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header)}.{enc(claims)}.{signature}"


def bad_tokens(settings: Settings, base: str, service: str) -> dict[str, str | None]:
    aud = endpoint(base, service)
    dev = ensure_dev_issuer(settings.home)
    stranger = ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
    now = int(time.time())
    claims = {"iss": DEV_ISSUER, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    hs = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(b"0" * 32), algorithms=["HS256"])
    forged_sig = mint_token(stranger, iss=DEV_ISSUER, aud=aud)
    return {
        "missing": None,
        "forged signature": forged_sig,
        "expired": mint_token(dev, iss=DEV_ISSUER, aud=aud, now=now - 3600),
        "wrong aud": mint_token(dev, iss=DEV_ISSUER, aud=endpoint(base, "another-service")),
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, claims),
        "HS256": hs,
        "unknown issuer": mint_token(stranger, iss="https://unknown.example", aud=aud),
        "garbage": "abc.def",
    }


@pytest.mark.parametrize(
    "case", ["missing", "forged signature", "expired", "wrong aud", "alg none", "HS256", "unknown issuer", "garbage"]
)
def test_bad_tokens_are_401(server, case):
    settings, base, http = server
    service = cs.PATIENT_VIEW
    token = bad_tokens(settings, base, service)[case]
    headers = bearer(token) if token else {}
    response = http.post(f"/cds-services/{service}", json=cs.hook_body("patient-view", cs.DIABETIC), headers=headers)
    assert response.status_code == 401, (case, response.text)


def test_replayed_jti_is_401(server):
    settings, base, http = server
    headers = good(settings, base, cs.PATIENT_VIEW)
    body = cs.hook_body("patient-view", cs.DIABETIC)
    assert http.post(f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers=headers).status_code == 200
    replay = http.post(f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["message"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"null",
        b"{",
        b'"text"',
        b'{"hook": 5, "hookInstance": "x", "context": {}}',
        b'{"hook": "patient-view", "context": {}}',
        b'{"hook": "patient-view", "hookInstance": "x", "context": {"userId": "u", "patientId": ""}}',
        b'{"hook": "patient-view", "hookInstance": "x", "context": {"userId": "u", "patientId": "p"}, "prefetch": []}',
        b'{"hook": "patient-view", "hookInstance": "x", "fhirAuthorization": {"access_token": "t"}, "context": {}}',
    ],
)
def test_malformed_bodies_are_400(server, content):
    settings, base, http = server
    headers = {**good(settings, base, cs.PATIENT_VIEW), "Content-Type": "application/json"}
    response = http.post(f"/cds-services/{cs.PATIENT_VIEW}", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["message"]


def test_feedback_round_trip(server):
    settings, base, http = server
    body = cs.hook_body("patient-view", cs.DIABETIC)
    cards = http.post(
        f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers=good(settings, base, cs.PATIENT_VIEW)
    ).json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": cards[0]["overrideReasons"][1], "userComment": "seen by nephrology"},
                "outcomeTimestamp": "2026-11-27T09:00:00Z",
            }
        ]
    }
    response = http.post(
        f"/cds-services/{cs.PATIENT_VIEW}/feedback", json=feedback, headers=good(settings, base, cs.PATIENT_VIEW)
    )
    assert response.status_code == 200 and response.json() == {"stored": 1}
    malformed = http.post(
        f"/cds-services/{cs.PATIENT_VIEW}/feedback",
        json={"feedback": [{"card": "x"}]},
        headers=good(settings, base, cs.PATIENT_VIEW),
    )
    assert malformed.status_code == 400
