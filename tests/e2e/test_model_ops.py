"""The monitoring and approval pages in headless Chromium against a live server; screenshots go to docs/img/."""

from __future__ import annotations

import shutil

import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from carepilot.models.registry import ModelRegistry
from tests import cds_support as cs
from tests.e2e.signin import sign_in
from tests.e2e.test_dashboard import ARGS, CHROMIUM, no_raw_json, shot
from tests.learning_support import build_store

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not CHROMIUM.exists() and shutil.which("chromium") is None:
    pytest.skip("Chromium is absent: apt-get install -y chromium", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("ops-e2e") / "home", dev=True)
    versions = build_store(settings)
    with cs.live_server(create_app(settings)) as base:
        yield base, settings, versions


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


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
