"""Dashboard routes without a browser: filters, errors as pages, the model-card empty state, feedback form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.domain.insight import Confidence, Factor, Insight, InsightKind, Interval, Severity, Source
from carepilot.store import tables as t
from tests import cds_support as cs
from tests.api import client_for


@pytest.fixture
def app_settings(tmp_path) -> tuple[TestClient, Settings]:
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    app = create_app(settings)
    app.state.services.dashboard.refresh()
    return client_for(app, role="clinician"), settings


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


class ManyKinds:
    """A stand-in engine producing one Insight of each kind the page has a section for."""

    name = "many-kinds-test"

    def insights(self, profile, context):
        def make(kind, title, severity="info", value=None, interval=None):
            return Insight(
                patient_id=profile.patient_id,
                as_of=profile.as_of,
                kind=kind,
                title=title,
                detail=f"{title}.",
                confidence=Confidence("moderate", "stand-in"),
                source=Source("stand-in", "0.0", "model"),
                explanation=(Factor("age", 0.3, "age 68"), Factor("eGFR", -0.1, "eGFR 80")),
                value=value,
                interval=interval,
                severity=Severity(severity),
            )

        return [
            make(InsightKind.RISK, "30-day readmission risk", "warning", 0.18, Interval(0.12, 0.25)),
            make(InsightKind.TREATMENT_OPTION, "Add an SGLT2 inhibitor", value=-0.6, interval=Interval(-0.9, -0.3)),
            make(InsightKind.TREATMENT_OPTION, "Add a GLP-1 agonist", value=-0.9, interval=Interval(-1.3, -0.5)),
            make(InsightKind.PGX, "CYP2C19 poor metabolizer: avoid clopidogrel", "critical"),
            make(InsightKind.MONITORING_ALERT, "Glucose below 54 mg/dL twice today", "critical"),
        ]


def test_every_section_renders_its_insights(tmp_path):
    settings = Settings(home=tmp_path / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    client = client_for(create_app(settings, providers=[ManyKinds()]), role="clinician")
    page = client.get(f"/dashboard/patients/{cs.DIABETIC}").text

    def section(name: str) -> str:
        return page.split(f'id="{name}"', 1)[1].split("</section>", 1)[0]

    assert "30-day readmission risk" in section("risks") and "95% interval 0.12–0.25" in section("risks")
    options = section("options")
    assert options.count('class="chart interval"') == 2 and "GLP-1" in options and "SGLT2" in options
    assert "CYP2C19 poor metabolizer" in section("pgx")
    assert "Glucose below 54" in section("alerts")
    assert section("risks").count('class="factor up"') == 1 and section("risks").count('class="factor down"') == 1
