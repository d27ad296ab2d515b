"""Every route of the app, enumerated from ``app.routes``: bad tokens get 401, the wrong role, scope or patient 403.

A route added without an entry in ``security/policy.py`` makes ``test_every_route_has_a_policy`` fail (and is
refused for everyone), so nobody can add a route that these checks would miss.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from carepilot.api.app import create_app
from carepilot.api.auth import route_table
from carepilot.config import Settings
from carepilot.security import policy
from carepilot.security.jwt import DEV_ISSUER, ensure_dev_issuer
from carepilot.security.policy import Access, Rule, rule_for
from carepilot.security.principal import Role
from carepilot.security.tokens import DEV_USER_ISSUER
from tests import cds_support as cs
from tests.api import DevTokenAuth, client_for, token_claims
from tests.auth_support import bad_tokens

BASE = "http://testserver"
SAMPLES = {
    "service_id": cs.PATIENT_VIEW,
    "patient_id": cs.DIABETIC,
    "resource_type": "Observation",
    "resource_id": "cp-o1",  # an Observation of cp-diab-1
    "insight_id": "00000000-0000-0000-0000-000000000000",
    "model_id": "readmission",
}
PUBLIC_ROUTES = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/.well-known/smart-configuration"),
    ("GET", "/auth/jwks"),
    ("POST", "/auth/token"),
    ("GET", "/cds-services"),
    ("GET", "/fhir/metadata"),
    ("GET", "/dashboard/login"),
    ("POST", "/dashboard/login"),
    ("POST", "/dashboard/logout"),
}
BAD = [
    "missing",
    "garbage",
    "forged signature",
    "expired",
    "not yet valid",
    "issued in the future",
    "wrong audience",
    "alg none",
    "HS256",
    "unknown issuer",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> FastAPI:
    settings = Settings(home=tmp_path_factory.mktemp("auth") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    return create_app(settings)


def routes(app: FastAPI) -> Iterator[tuple[str, str, Rule | None]]:
    for method, path, is_api in route_table(app):
        if is_api:
            yield method, path, rule_for(method, path)


def concrete(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), SAMPLES.get(m.group(1), "x1")), path)


def send(client, method: str, path: str, headers: dict[str, str] | None = None, query: str = ""):
    url = concrete(path) + query
    if method == "GET":
        return client.get(url, headers=headers or {}, follow_redirects=False)
    if path.startswith("/dashboard"):
        return client.post(url, data={"outcome": "accepted"}, headers=headers or {}, follow_redirects=False)
    return client.post(url, json={}, headers=headers or {}, follow_redirects=False)


def user_routes(app: FastAPI) -> list[tuple[str, str, Rule]]:
    return [(m, p, r) for m, p, r in routes(app) if r is not None and r.access is Access.USER]


def test_every_route_has_a_policy(app):
    missing = [(m, p) for m, p, r in routes(app) if r is None]
    assert missing == [], f"routes without an access policy in security/policy.py: {missing}"
    # The only other routes: the static files and FastAPI's own OpenAPI document and docs pages (all public).
    others = {path for _, path, is_api in route_table(app) if not is_api}
    assert others <= {"/static", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert len(list(routes(app))) >= 15


def test_only_the_listed_routes_are_public(app):
    public = {(m, p) for m, p, r in routes(app) if r is not None and r.access is Access.PUBLIC}
    assert public == PUBLIC_ROUTES
    client = client_for(app, role="clinician")
    for method, path in PUBLIC_ROUTES - {("POST", "/auth/token"), ("POST", "/dashboard/login")}:
        assert send(client, method, path, {"Authorization": ""}).status_code in (200, 303, 307), (method, path)


@pytest.mark.parametrize("name", BAD)
def test_bad_tokens_are_refused_on_every_user_route(app, name):
    client = client_for(app, role="clinician")
    dev_key = app.state.auth.dev_key
    checked = []
    for method, path, rule in user_routes(app):
        role = sorted(rule.roles)[0]
        claims = token_claims(role.value, patient=cs.DIABETIC if role is Role.PATIENT else None)
        extra = {"sub": claims["sub"], "carepilot_role": claims["role"], "scope": " ".join(claims["scopes"])}
        if claims["patient"]:
            extra["patient"] = claims["patient"]
        extra["carepilot_sites"] = list(claims["sites"])
        token = bad_tokens(dev_key, DEV_USER_ISSUER, f"{BASE}/fhir", extra)[name]()
        response = send(client, method, path, {"Authorization": f"Bearer {token}" if token else ""})
        assert response.status_code == 401, (name, method, path, response.status_code, response.text[:200])
        checked.append((method, path))
    assert len(checked) == len(user_routes(app)) >= 8


@pytest.mark.parametrize("name", BAD)
def test_bad_cds_client_tokens_are_refused_on_every_hook_route(app, name):
    client = client_for(app, role="clinician")
    home = app.state.services.settings.home
    cds = [(m, p) for m, p, r in routes(app) if r is not None and r.access is Access.CDS_CLIENT]
    assert len(cds) >= 2
    for method, path in cds:
        audience = f"{BASE}{concrete(path)}"
        token = bad_tokens(ensure_dev_issuer(home), DEV_ISSUER, audience, {"sub": "ehr"})[name]()
        response = send(client, method, path, {"Authorization": f"Bearer {token}" if token else ""})
        assert response.status_code == 401, (name, method, path, response.status_code)


def test_a_replayed_token_is_refused_on_every_route(app):
    for method, path, rule in user_routes(app):
        role = sorted(rule.roles)[0]
        auth = DevTokenAuth(app, token_claims(role.value, patient=cs.DIABETIC if role is Role.PATIENT else None))
        header = {"Authorization": f"Bearer {auth.token(BASE)}"}
        client = client_for(app, role=role.value)
        first = send(client, method, path, header)
        assert first.status_code not in (401, 403), (method, path, first.status_code, first.text[:200])
        again = send(client, method, path, header)
        assert again.status_code == 401 and "replay" in again.text, (method, path)
    cds = f"/cds-services/{cs.PATIENT_VIEW}"
    header = cs.auth(app.state.services.settings, BASE)
    client = client_for(app, role="clinician")
    assert client.post(cds, json=cs.hook_body("patient-view", cs.WELL), headers=header).status_code == 200
    assert client.post(cds, json=cs.hook_body("patient-view", cs.WELL), headers=header).status_code == 401


def test_a_missing_scope_is_refused(app):
    scoped = [(m, p, r) for m, p, r in user_routes(app) if r.resource is not None]
    assert scoped
    for method, path, rule in scoped:
        role = sorted(rule.roles)[0]
        patient = cs.DIABETIC if role is Role.PATIENT else None
        client = client_for(app, role=role.value, patient=patient, scopes=["openid", "fhirUser"])
        response = send(client, method, path)
        assert response.status_code == 403 and "scope" in response.text, (method, path, response.status_code)
    # A scope for another resource type, or another context, does not count either.
    narrow = client_for(app, role="clinician", scopes=["user/Condition.rs"])
    assert narrow.get("/fhir/Observation/cp-o1").status_code == 403
    assert narrow.get("/fhir/Condition/cp-c1").status_code == 200
    wrong_context = client_for(app, role="clinician", scopes=["patient/*.rs"])
    assert wrong_context.get("/fhir/Observation/cp-o1").status_code == 403


def test_roles_outside_a_routes_policy_are_refused(app):
    refused = 0
    for method, path, rule in user_routes(app):
        for role in Role:
            if role in rule.roles:
                continue
            scopes = ["user/*.cruds", "patient/*.cruds", "system/*.cruds"]
            client = client_for(app, role=role.value, patient=cs.DIABETIC, scopes=scopes)
            response = send(client, method, path)
            assert response.status_code == 403, (role, method, path, response.status_code)
            refused += 1
    assert refused >= 20


def test_a_patient_sees_only_their_own_record(app):
    mine = client_for(app, role="patient", patient=cs.WELL)
    assert mine.get(f"/fhir/Patient/{cs.WELL}").status_code == 200
    assert mine.get(f"/fhir/Patient/{cs.WELL}/$everything").status_code == 200
    other = cs.DIABETIC
    for url in (
        f"/fhir/Patient/{other}",
        f"/fhir/Patient/{other}/$everything",
        "/fhir/Observation/cp-o1",
        f"/fhir/Observation?patient={other}",
        f"/fhir/Observation?subject=Patient/{other}",
        f"/fhir/Patient?_id={other}",
        f"/dashboard/patients/{other}",
    ):
        response = mine.get(url, headers={"X-Break-Glass-Reason": "curious"})
        assert response.status_code == 403, url
    listed = mine.get("/fhir/Patient").json()
    assert [e["resource"]["id"] for e in listed["entry"]] == [cs.WELL]


def test_a_clinician_sees_only_their_sites_and_care_team(app):
    elsewhere = client_for(app, role="clinician", sites=["north"], care_team=[cs.HEART])
    assert elsewhere.get(f"/fhir/Patient/{cs.HEART}").status_code == 200
    assert elsewhere.get(f"/dashboard/patients/{cs.HEART}").status_code == 200
    for url in (f"/fhir/Patient/{cs.DIABETIC}", "/fhir/Observation/cp-o1", f"/dashboard/patients/{cs.DIABETIC}"):
        assert elsewhere.get(url).status_code == 403, url
    listed = elsewhere.get("/fhir/Patient").json()
    assert [e["resource"]["id"] for e in listed["entry"]] == [cs.HEART]
    page = elsewhere.get("/dashboard").text
    assert "Brightwater" in page and "Ardent" not in page


def test_break_glass_opens_one_record_and_keeps_the_reason(app):
    seen: dict[str, Any] = {}

    def endpoint(patient_id: str, request: Request) -> dict[str, str]:
        seen["principal"] = request.state.principal
        return {"patient": patient_id}

    app.add_api_route("/probe/{patient_id}", endpoint, methods=["GET"])
    try:
        admin = client_for(app, role="administrator", scopes=["user/*.cruds"])
        assert admin.get(f"/probe/{cs.DIABETIC}").status_code == 403  # no policy yet: refused for everyone
        policy.POLICY[("GET", "/probe/{patient_id}")] = Rule(Access.USER, policy.TREATING, "Patient", "r")
        clinician = client_for(app, role="clinician", sites=["north"])
        assert clinician.get(f"/probe/{cs.DIABETIC}").status_code == 403
        reason = "unconscious in the emergency department"
        opened = clinician.get(f"/probe/{cs.DIABETIC}", headers={"X-Break-Glass-Reason": reason})
        assert opened.status_code == 200
        assert seen["principal"].break_glass == reason and seen["principal"].role is Role.CLINICIAN
        own_site = client_for(app, role="clinician")
        assert own_site.get(f"/probe/{cs.DIABETIC}", headers={"X-Break-Glass-Reason": reason}).status_code == 200
        assert seen["principal"].break_glass is None  # not needed, so nothing to flag
    finally:
        policy.POLICY.pop(("GET", "/probe/{patient_id}"), None)
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", "") != "/probe/{patient_id}"]


def test_a_dashboard_session_is_not_accepted_by_the_api(app):
    browser = client_for(app, role="clinician", login=True)
    assert browser.get(f"/dashboard/patients/{cs.HEART}").status_code == 200
    assert browser.get(f"/fhir/Patient/{cs.HEART}").status_code == 401
