"""The patient's own page and the depression-care clinician page in headless Chromium, with screenshots in docs/img.

Skipped with a clear message when Chromium or Playwright is absent (Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings, repo_root
from tests import cds_support as cs
from tests import engagement_support as es
from tests.e2e.signin import sign_in

CHROMIUM = Path("/usr/bin/chromium")
IMG = repo_root() / "docs" / "img"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists() and shutil.which("chromium") is None:
    pytest.skip(
        "Chromium is absent: apt-get install -y chromium (the e2e tests use Debian's build)", allow_module_level=True
    )

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("e2e-engage") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings, es.population())
    app = create_app(settings)
    with cs.live_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def shot(page, name: str) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / name), full_page=True)


def test_patient_view_shows_plan_and_takes_a_side_effect_report(site, page):
    sign_in(page, site, role="patient", patient=es.DEPRESSED)
    page.goto(f"{site}/patient/{es.DEPRESSED}")
    assert "988" in page.inner_text("#crisis")
    assert "Sertraline" in page.inner_text("#medications")
    assert page.locator("#recommendations li.rec").count() >= 2
    assert "Refill sertraline" in page.inner_text("#reminders")
    shot(page, "patient-view.png")
    page.select_option("select[name=kind]", "side_effect")
    page.fill("textarea[name=text]", "Trouble sleeping since the dose went up")
    page.select_option("select[name=severity]", "5")
    page.fill("input[name=medication]", "sertraline")
    page.click("form.report button[type=submit]")
    page.wait_for_url("**sent=1**")
    assert "Thank you" in page.inner_text("#report")


def test_depression_care_page_shows_the_phq9_chart_the_alert_and_the_options(site, page):
    sign_in(page, site)
    page.goto(f"{site}/dashboard/patients/{es.DEPRESSED}")
    section = page.locator("#depression")
    assert section.locator("svg.chart[aria-label='PHQ-9 total (score)'] polyline.series").count() == 1
    assert "not improving after an adequate trial" in section.inner_text()
    alert = page.locator("#alerts article.insight.critical")
    assert alert.count() == 1 and "safety plan" in alert.inner_text().lower()
    assert page.locator("#nudges form button").count() == 1
    shot(page, "dashboard-depression-care.png")
