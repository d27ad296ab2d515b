"""The patient's own page and the depression-care clinician page in headless Chromium, with screenshots in docs/img.

Skipped with a clear message when Chromium or Playwright is absent (Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests import engagement_support as es
from tests.e2e.browser import require_chromium, shot, sign_in

require_chromium()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("e2e-engage") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings, es.population())
    app = create_app(settings)
    with cs.live_server(app) as base:
        yield base


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
