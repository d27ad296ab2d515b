"""The monitoring and approval pages in headless Chromium against a live server; screenshots go to docs/img/."""

from __future__ import annotations

import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.models.registry import ModelRegistry
from tests import cds_support as cs
from tests.e2e.browser import no_raw_json, require_chromium, shot, sign_in
from tests.learning_support import build_store

require_chromium()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("ops-e2e") / "home", dev=True)
    versions = build_store(settings)
    with cs.live_server(create_app(settings)) as base:
        yield base, settings, versions


def test_monitoring_page_shows_the_drift_alert_and_performance_chart(site, page):
    base, _, _ = site
    sign_in(page, base, role="model_owner")
    page.goto(f"{base}/dashboard/models/readmission/monitoring", timeout=180_000)  # bootstrap intervals
    assert page.locator("h1").inner_text() == "Monitoring: readmission"
    assert "input drift" in page.inner_text("#alerts")
    first = page.locator("#drift tbody tr").first.inner_text()
    assert "latest_creatinine" in first
    assert page.locator("#performance svg.chart").count() == 3
    assert page.locator("#fairness tbody tr").count() >= 8
    no_raw_json(page)
    shot(page, "dashboard-model-monitoring.png")


def test_approval_page_approves_a_challenger_with_the_reason_recorded(site, page):
    base, settings, versions = site
    sign_in(page, base, role="model_owner")
    page.goto(f"{base}/dashboard/models/readmission/approval", timeout=60_000)
    form = page.locator(f"#approve-{versions['pending']}")
    assert "AUROC 0.610 → 0.710" in page.inner_text("#versions")
    shot(page, "dashboard-model-approval.png")
    form.locator("input[name=reason]").fill("restores discrimination after the creatinine unit change")
    form.locator("button[value=approve]").click()
    page.wait_for_url("**done=approve**", timeout=60_000)
    assert "creatinine unit change" in page.inner_text("#history")
    assert ModelRegistry(settings.models_dir).record("readmission").version == versions["pending"]
    no_raw_json(page)
