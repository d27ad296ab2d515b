"""Dashboard routes without a browser: filters, errors as pages, the model-card empty state, feedback form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.store import tables as t
from tests import cds_support as cs


@pytest.fixture
def app_settings(tmp_path) -> tuple[TestClient, Settings]:
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    app = create_app(settings)
    app.state.services.dashboard.refresh()
    return TestClient(app), settings


def test_list_filters_by_least_severity_and_condition(app_settings):
    client, _ = app_settings
    warned = client.get("/dashboard?severity=warning").text
    assert "Ardent" in warned and "Brightwater" in warned and "Calloway" not in warned
    assert "Ardent" not in client.get("/dashboard?condition=heart_failure").text


def test_errors_on_dashboard_pages_are_pages_not_json(app_settings):
    client, _ = app_settings
    missing = client.get("/dashboard/patients/nobody")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "no patient with id" in missing.text
    bad = client.get("/dashboard?sort=shoe-size")
    assert bad.status_code == 400 and "sort must be one of" in bad.text


def test_model_cards_empty_state(app_settings):
    client, _ = app_settings
    page = client.get("/dashboard/models")
    assert page.status_code == 200 and "No model cards yet" in page.text
    assert client.get("/dashboard/models/unknown").status_code == 404


def test_markdown_model_card_is_rendered_without_raw_html(app_settings):
    client, settings = app_settings
    (settings.models_dir / "risk-x").mkdir(parents=True)
    (settings.models_dir / "risk-x" / "README.md").write_text(
        "# Risk X\n\n**AUROC** 0.7\n\n<script>alert(1)</script>\n"
    )
    page = client.get("/dashboard/models/risk-x").text
    assert "<strong>AUROC</strong>" in page and "<script>alert(1)</script>" not in page


def test_override_without_a_reason_is_refused_and_with_one_is_stored(app_settings):
    client, _ = app_settings
    page = client.get(f"/dashboard/patients/{cs.HEART}").text
    insight_id = page.split('id="insight-', 1)[1].split('"', 1)[0]
    refused = client.post(f"/dashboard/insights/{insight_id}/feedback", data={"outcome": "overridden"})
    assert refused.status_code == 400
    done = client.post(
        f"/dashboard/insights/{insight_id}/feedback",
        data={"outcome": "overridden", "reason": "contraindicated", "comment": "eGFR falling"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/dashboard/patients/{cs.HEART}")
    db = client.app.state.services.db
    with db.read() as conn:
        row = conn.execute(select(t.feedback)).one()
    assert (row.channel, row.override_code, row.override_display, row.insight_id) == (
        "dashboard",
        "contraindicated",
        "Contraindicated",
        insight_id,
    )
