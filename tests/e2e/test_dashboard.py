"""The clinician dashboard in headless Chromium (Playwright) against a live uvicorn server.

Screenshots of every page are written to docs/img/. Skipped with a clear message when Chromium or Playwright is
absent (Debian: ``apt-get install -y chromium``; ``pip install playwright``).
"""

from __future__ import annotations

import orjson
import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests.e2e.browser import no_raw_json, require_chromium, shot, sign_in

require_chromium()

pytestmark = pytest.mark.slow

MODEL_CARD = {
    "model": "readmission-lgbm",
    "version": "1.0.0",
    "intended_use": "30-day readmission risk at discharge for adults; decision support only.",
    "training_data": {"source": "synthetic population", "window": "2019-2024", "patients": 2000},
    "metrics": {"auroc": 0.71, "calibration_slope": 0.97},
    "limitations": ["Not validated in paediatrics", "Synthetic training data"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("e2e") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    card_dir = settings.models_dir / "readmission-lgbm"
    card_dir.mkdir(parents=True)
    (card_dir / "model_card.json").write_bytes(orjson.dumps(MODEL_CARD))
    app = create_app(settings)
    app.state.services.dashboard.refresh()
    with cs.live_server(app) as base:
        yield base


@pytest.fixture
def page(blank_page, site):
    sign_in(blank_page, site)
    return blank_page


def test_patient_list_filters_and_sorts(site, page):
    page.goto(f"{site}/dashboard")
    rows = page.locator("#patients tbody tr")
    assert rows.count() == 3
    flag = page.locator("#patients tbody tr", has_text="Ardent").locator(".badge")
    assert flag.inner_text().lower() == "warning"
    no_raw_json(page)
    shot(page, "dashboard-patients.png")

    page.fill("input[name=q]", "bright")
    page.click("form.filters button[type=submit]")
    assert page.locator("#patients tbody tr").count() == 1
    assert "Brightwater" in page.inner_text("#patients tbody")

    page.goto(f"{site}/dashboard")
    page.select_option("select[name=condition]", "type2_diabetes")  # submits on change
    page.wait_for_url("**condition=type2_diabetes**")
    assert page.locator("#patients tbody tr").count() == 1

    page.goto(f"{site}/dashboard?sort=age&order=desc")
    names = page.locator("#patients tbody tr td:first-child a").all_inner_texts()
    assert names[0].endswith("Brightwater") and names[-1].endswith("Calloway")


def test_patient_page_shows_charts_insights_and_evidence(site, page):
    page.goto(f"{site}/dashboard/patients/{cs.DIABETIC}")
    assert page.locator("h1").inner_text() == "Alex Ardent"
    assert page.locator("#timeline svg.chart[aria-label^='Hemoglobin A1c']").count() == 1
    assert page.locator("#timeline svg.chart[aria-label^='Systolic blood pressure']").count() == 1
    assert page.locator("#timeline svg.meds rect").count() == 2
    gaps = page.locator("#gaps article.insight")
    assert gaps.count() == 4
    first = gaps.first
    assert first.locator("svg.factors rect.factor").count() >= 1
    assert "Confidence" in first.inner_text() and "Evidence" in first.inner_text()
    assert page.locator("#options .empty").count() == 1  # no treatment engine registered here
    no_raw_json(page)
    shot(page, "dashboard-patient.png")


def test_override_needs_a_reason_and_is_recorded(site, page):
    page.goto(f"{site}/dashboard/patients/{cs.HEART}")
    card = page.locator("#gaps article.insight").first
    title = card.locator("h3").inner_text()
    card.locator("button.override").click()  # no reason chosen: the page stays
    assert card.locator(".decision").count() == 0
    card.locator("select[name=reason]").select_option("patient-declined")
    card.locator("input[name=comment]").fill("discussed at visit")
    card.locator("button.override").click()
    page.wait_for_load_state()
    decided = page.locator("#gaps article.insight", has_text=title)
    assert "Patient declined" in decided.locator(".decision").inner_text()
    second = page.locator("#gaps article.insight").nth(1)
    second.locator("button.accept").click()
    page.wait_for_load_state()
    assert page.locator("#gaps .decision.accepted").count() >= 1
    shot(page, "dashboard-feedback.png")


def test_model_card_pages(site, page):
    page.goto(f"{site}/dashboard/models")
    assert "readmission-lgbm" in page.inner_text("main")
    shot(page, "dashboard-models.png")
    page.click("text=readmission-lgbm")
    page.wait_for_url("**/dashboard/models/readmission-lgbm")
    text = page.inner_text("main")
    assert "intended use" in text.lower() and "0.71" in text
    no_raw_json(page)
    shot(page, "dashboard-model-card.png")


def test_smart_launch_link_opens_the_patient(site, page):
    page.goto(f'{site}/dashboard/launch?appContext={{"patientId":"{cs.WELL}"}}')
    assert page.locator("h1").inner_text() == "Alex Calloway"
    assert page.locator("#gaps .empty").count() == 1
    shot(page, "dashboard-patient-empty.png")


def test_signed_out_pages_ask_to_sign_in_and_sign_out_ends_the_session(site, blank_page):
    page = blank_page
    response = page.goto(f"{site}/dashboard/patients/{cs.DIABETIC}")
    assert response is not None and response.status == 401
    assert page.locator("#login").count() == 1 and "Ardent" not in page.inner_text("main")
    shot(page, "dashboard-login.png")
    page.select_option("#role", "clinician")
    page.click("#login-dev")
    page.wait_for_url(f"**/dashboard/patients/{cs.DIABETIC}")
    assert page.locator("h1").inner_text() == "Alex Ardent"
    cookie = next(c for c in page.context.cookies() if c["name"] == "carepilot_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    page.click("#logout")
    page.wait_for_url("**/dashboard/login")
    assert page.goto(f"{site}/dashboard").status == 401
