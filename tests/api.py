"""One way for tests to get an HTTP client for the app, carrying the credentials of a given role.

Every request gets a fresh access token from the development issuer (tokens are single-use by default, as CDS Hooks
client JWTs are), with the role's default SMART scopes; ``login=True`` instead signs in once on the dashboard and
sends only the session cookie (over https, since the cookie is Secure).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from carepilot.security.policy import DEFAULT_SCOPES
from carepilot.security.principal import Role
from carepilot.security.tokens import DEV_USER_ISSUER, mint_access_token


class DevTokenAuth:
    """Signs every request with a new development access token for one role."""

    def __init__(self, app: FastAPI, claims: dict) -> None:
        self.app = app
        self.claims = claims
        self._sent: str | None = None

    def token(self, base: str) -> str:
        auth = self.app.state.auth
        if auth.dev_key is None:
            raise RuntimeError("client_for needs an app built with Settings(dev=True)")
        claims = dict(self.claims)
        return mint_access_token(
            auth.dev_key,
            iss=claims.pop("iss", DEV_USER_ISSUER),
            aud=claims.pop("aud", auth.audiences(auth.settings.public_url or base)[-1]),
            **claims,
        )

    def sign(self, request: httpx.Request) -> None:
        """A request hook (it runs for followed redirects too): a header the test set itself is kept, ours renewed."""
        if request.headers.get("authorization") in (None, self._sent):
            self._sent = f"Bearer {self.token(f'{request.url.scheme}://{request.url.netloc.decode()}')}"
            request.headers["Authorization"] = self._sent


def token_claims(
    role: str,
    patient: str | None = None,
    sites: Iterable[str] = ("*",),
    care_team: Iterable[str] = (),
    scopes: Iterable[str] | None = None,
    subject: str | None = None,
) -> dict:
    """The keyword arguments of ``mint_access_token`` for a test user of ``role``."""
    picked = Role(role)
    return {
        "sub": subject or f"test-{picked.value}",
        "role": picked.value,
        "scopes": tuple(scopes) if scopes is not None else DEFAULT_SCOPES[picked],
        "patient": patient,
        "sites": tuple(sites) if picked is not Role.PATIENT else (),
        "care_team": tuple(care_team),
    }


def client_for(
    app: FastAPI,
    *,
    role: str = "administrator",
    patient: str | None = None,
    sites: Iterable[str] = ("*",),
    care_team: Iterable[str] = (),
    scopes: Iterable[str] | None = None,
    login: bool = False,
) -> TestClient:
    """A TestClient for ``app`` acting as ``role`` (``patient`` names the record a patient-role user owns).

    ``sites`` bound a clinician's patients (``*``: every site); ``login`` signs in to the dashboard instead of
    sending a token with each request.
    """
    claims = token_claims(role, patient, sites, care_team, scopes)
    if not login:
        client = TestClient(app)
        client.event_hooks["request"].append(DevTokenAuth(app, claims).sign)
        return client
    client = TestClient(app, base_url="https://testserver")
    token = DevTokenAuth(app, claims).token("https://testserver")
    done = client.post("/dashboard/login", data={"token": token}, follow_redirects=False)
    if done.status_code != 303:
        raise RuntimeError(f"dashboard sign-in failed: {done.status_code} {done.text[:200]}")
    return client
