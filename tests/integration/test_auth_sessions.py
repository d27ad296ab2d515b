"""Dashboard sessions: sign-in sets a Secure, HttpOnly, SameSite=Strict cookie; idle sessions end; sign-out ends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carepilot.api.app import create_app
from carepilot.bootstrap import open_store
from carepilot.config import Settings
from carepilot.security.principal import Principal, Role
from carepilot.security.sessions import COOKIE, SessionStore
from tests import cds_support as cs
from tests.api import DevTokenAuth, client_for, token_claims


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("sessions") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    return create_app(settings)


def test_sign_in_with_a_token_sets_a_strict_cookie(app):
    client = client_for(app, role="clinician")
    client.base_url = "https://testserver"
    token = DevTokenAuth(app, token_claims("clinician")).token("https://testserver")
    done = client.post(
        "/dashboard/login", data={"token": token, "next": f"/dashboard/patients/{cs.HEART}"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/patients/{cs.HEART}"
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert token not in done.headers["set-cookie"]  # the cookie holds a session id, not the token


def test_signed_in_pages_work_and_sign_out_ends_the_session(app):
    browser = client_for(app, role="clinician", login=True)
    assert browser.get(f"/dashboard/patients/{cs.HEART}", headers={"Authorization": ""}).status_code == 200
    stolen = browser.cookies.get(COOKIE)
    browser.post("/dashboard/logout", headers={"Authorization": ""}, follow_redirects=False)
    assert browser.get("/dashboard", headers={"Authorization": ""}).status_code == 401
    replay = client_for(app, role="clinician")
    replay.base_url = "https://testserver"
    replay.cookies.set(COOKIE, stolen)
    assert replay.get("/dashboard", headers={"Authorization": ""}).status_code == 401


def test_forged_cookies_and_off_site_redirects_are_refused(app):
    client = client_for(app, role="clinician")
    client.base_url = "https://testserver"
    client.cookies.set(COOKIE, "made-up.signature")
    page = client.get("/dashboard", headers={"Authorization": ""})
    assert page.status_code == 401 and 'id="login"' in page.text
    token = DevTokenAuth(app, token_claims("clinician")).token("https://testserver")
    done = client.post("/dashboard/login", data={"token": token, "next": "//evil.example/x"}, follow_redirects=False)
    assert done.headers["location"] == "/dashboard"


def test_a_bad_token_at_sign_in_is_refused(app):
    client = client_for(app, role="clinician")
    client.base_url = "https://testserver"
    assert client.post("/dashboard/login", data={"token": "nope"}, headers={"Authorization": ""}).status_code == 401


def test_sessions_end_after_inactivity_and_slide_while_used(tmp_path):
    settings = Settings(home=tmp_path / "home", dev=True)
    db, _ = open_store(settings)
    now = [datetime(2026, 1, 1, 9, 0, tzinfo=UTC)]
    store = SessionStore(db, b"k" * 32, idle=timedelta(minutes=15), max_age=timedelta(hours=12), clock=lambda: now[0])
    cookie = store.create(Principal("dr-1", Role.CLINICIAN, frozenset({"user/*.rs"}), sites=frozenset({"north"})))
    now[0] += timedelta(minutes=14)
    assert store.resolve(cookie).sites == {"north"}  # used: the idle timer restarts
    now[0] += timedelta(minutes=14)
    assert store.resolve(cookie) is not None
    now[0] += timedelta(minutes=16)
    assert store.resolve(cookie) is None  # automatic logoff
    other = store.create(Principal("dr-2", Role.CLINICIAN))
    for _ in range(60):  # used every 14 minutes, but not past the absolute limit
        now[0] += timedelta(minutes=14)
        if store.resolve(other) is None:
            break
    assert now[0] - datetime(2026, 1, 1, 9, 44, tzinfo=UTC) <= timedelta(hours=12, minutes=14)
    assert store.resolve(other) is None
    sid = cookie.split(".")[0]
    assert store.resolve(f"{sid}.forged") is None
