"""``carepilot auth`` prints usable development credentials, and only in development mode."""

from __future__ import annotations

import shlex

import orjson

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests.api import client_for
from tests.cli import run


def test_cds_token_needs_dev_mode(tmp_path):
    result = run(tmp_path / "home", "auth", "cds-token")
    assert result.exit_code == 1
    assert "CAREPILOT_DEV=1" in result.output


def test_the_printed_token_and_curl_are_accepted(tmp_path):
    home = tmp_path / "home"
    settings = Settings(home=home, dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    client = client_for(create_app(settings), role="clinician")
    token = run(
        home, "auth", "cds-token", "--base-url", "http://testserver", extra_env={"CAREPILOT_DEV": "1"}
    ).stdout.strip()
    body = cs.hook_body("patient-view", cs.DIABETIC)
    response = client.post(f"/cds-services/{cs.PATIENT_VIEW}", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text

    curl = run(home, "auth", "curl", cs.DIABETIC, "--base-url", "http://testserver", extra_env={"CAREPILOT_DEV": "1"})
    words = shlex.split(curl.stdout)
    assert words[:4] == ["curl", "-s", "-X", "POST"]
    header = words[words.index("-H", 6) + 1]
    payload = orjson.loads(words[words.index("-d") + 1])
    response = client.post(
        words[4].removeprefix("http://testserver"), json=payload, headers=dict([header.split(": ", 1)])
    )
    assert response.status_code == 200 and response.json()["cards"]
