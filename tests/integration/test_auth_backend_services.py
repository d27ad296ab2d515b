"""SMART Backend Services: client_credentials with a private_key_jwt client assertion, then the API with that token."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.security.clients import ASSERTION_TYPE
from tests import cds_support as cs
from tests.api import client_for

CLIENT = "population-health-batch"
ENDPOINT = "http://testserver/auth/token"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    home = tmp_path_factory.mktemp("backend") / "home"
    key = ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
    home.mkdir(parents=True)
    clients = home / "clients.json"
    clients.write_bytes(
        orjson.dumps(
            {
                "clients": [
                    {"client_id": CLIENT, "jwks": {"keys": [key.as_dict(private=False)]}, "scopes": "system/*.rs"}
                ]
            }
        )
    )
    settings = Settings(home=home, dev=True, system_clients=clients)
    settings.ensure_home()
    cs.ingest_population(settings)
    app = create_app(settings)
    return app, key


def assertion(key: ECKey, **override) -> str:
    now = int(time.time())
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": ENDPOINT, "exp": now + 240, "iat": now, "jti": str(uuid.uuid4())}
    claims.update(override)
    return jwt.encode({"alg": "ES384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["ES384"])


def form(token: str, scope: str = "system/*.rs") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": token,
        "scope": scope,
    }


def test_discovery_names_the_token_endpoint(setup):
    app, _ = setup
    config = client_for(app, role="clinician").get("/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == ENDPOINT
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "none" not in config["token_endpoint_auth_signing_alg_values_supported"]
    assert "HS256" not in config["token_endpoint_auth_signing_alg_values_supported"]


def test_a_registered_client_gets_a_short_lived_token_that_reads_any_patient(setup):
    app, key = setup
    anonymous = client_for(app, role="clinician")
    response = anonymous.post("/auth/token", data=form(assertion(key)), headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] <= 300 and body["scope"] == "system/*.rs"
    assert response.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    read = anonymous.get(f"/fhir/Patient/{cs.DIABETIC}/$everything", headers=bearer)
    assert read.status_code == 200 and read.json()["total"] >= 10
    # Access tokens are single-use by default, so the same one cannot be replayed.
    assert anonymous.get(f"/fhir/Patient/{cs.DIABETIC}", headers=bearer).status_code == 401
    # A system token opens no dashboard page.
    again = anonymous.post("/auth/token", data=form(assertion(key)), headers={"Authorization": ""}).json()
    page = anonymous.get("/dashboard", headers={"Authorization": f"Bearer {again['access_token']}"})
    assert page.status_code == 403


def test_requested_scopes_are_narrowed_to_the_registered_ones(setup):
    app, key = setup
    client = client_for(app, role="clinician")
    narrow = client.post(
        "/auth/token", data=form(assertion(key), "system/Observation.rs"), headers={"Authorization": ""}
    )
    assert narrow.status_code == 200 and narrow.json()["scope"] == "system/Observation.rs"
    bearer = {"Authorization": f"Bearer {narrow.json()['access_token']}"}
    assert client.get(f"/fhir/Patient/{cs.DIABETIC}", headers=bearer).status_code == 403
    wider = client.post("/auth/token", data=form(assertion(key), "system/*.cruds"), headers={"Authorization": ""})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("replayed", "replay"),
        ("wrong audience", {"aud": "http://testserver/fhir"}),
        ("expired", {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}),
        ("sub is not the client", {"sub": "someone-else"}),
        ("lives too long", {"exp": int(time.time()) + 3000}),
        ("unknown client", "stranger"),
    ],
)
def test_bad_client_assertions_are_refused(setup, case, make):
    app, key = setup
    client = client_for(app, role="clinician")
    if make == "replay":
        token = assertion(key)
        assert client.post("/auth/token", data=form(token), headers={"Authorization": ""}).status_code == 200
    elif make == "stranger":
        other = ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
        token = assertion(other, iss="stranger", sub="stranger")
    else:
        token = assertion(key, **make)
    response = client.post("/auth/token", data=form(token), headers={"Authorization": ""})
    assert response.status_code == 401, case
    assert response.json()["error"] == "invalid_client"


def test_other_grant_types_are_refused(setup):
    app, key = setup
    client = client_for(app, role="clinician")
    body = form(assertion(key)) | {"grant_type": "password"}
    response = client.post("/auth/token", data=body, headers={"Authorization": ""})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
