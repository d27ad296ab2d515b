"""Home monitoring on the dashboard in headless Chromium: the AGP panel, daily trends and a monitoring alert.

Writes docs/img/dashboard-agp.png. Skipped with a clear message when Chromium or Playwright is absent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carepilot.api.app import create_app
from carepilot.config import Settings
from tests import cds_support as cs
from tests.api import client_for
from tests.e2e.browser import IMG, require_chromium, sign_in

require_chromium()

pytestmark = pytest.mark.slow


def synthetic_cgm(end: datetime, days: int = 14, seed: int = 11) -> list[dict]:
    """A synthetic (no real person) 5-minute CGM trace: dawn rise, three meal peaks, noise, one night-time low."""
    rng = np.random.default_rng(seed)
    start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for i in range(days * 288):
        when = start + timedelta(minutes=5 * i)
        if when >= end:
            break
        h = when.hour + when.minute / 60
        meals = sum(70 * np.exp(-(((h - m) / 1.1) ** 2)) for m in (8.0, 13.0, 19.5))
        value = 115 + 20 * np.exp(-(((h - 6.0) / 1.5) ** 2)) + meals * rng.uniform(0.5, 1.4) + rng.normal(0, 14)
        if i // 288 == days - 2 and 3.0 <= h < 3.5:
            value = 48 + rng.normal(0, 2)  # the night before last: a level 2 hypoglycaemia event
        rows.append({"type": "cgm_glucose", "value": round(float(value), 1), "unit": "mg/dL", "time": when.isoformat()})
    return rows


def daily_vitals(end: datetime, days: int = 28) -> list[dict]:
    rng = np.random.default_rng(5)
    rows = []
    for d in range(days):
        day = (end - timedelta(days=days - d)).replace(hour=7, minute=0, second=0, microsecond=0)
        rows.append(
            {"type": "weight", "value": round(92 + rng.normal(0, 0.3), 1), "unit": "kg", "time": day.isoformat()}
        )
        steps = rng.normal(7000, 1200)
        rows.append(
            {"type": "steps", "value": round(steps), "unit": "/d", "time": (day + timedelta(hours=15)).isoformat()}
        )
        for k in range(0, 24 * 12, 6):
            when = day - timedelta(hours=7) + timedelta(minutes=5 * k)
            hr = 66 + (12 if 8 <= when.hour < 22 else 0) + rng.normal(0, 4)
            rows.append({"type": "heart_rate", "value": round(hr), "unit": "/min", "time": when.isoformat()})
    return rows


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("e2e-monitoring") / "home", dev=True)
    settings.ensure_home()
    cs.ingest_population(settings)
    app = create_app(settings)
    client = client_for(app, role="clinician")
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    for batch in (daily_vitals(end), synthetic_cgm(end)):
        response = client.post(f"/streams/{cs.DIABETIC}", json={"readings": batch})
        assert response.status_code == 200, response.text
    with cs.live_server(app) as base:
        yield base


def test_the_patient_page_shows_the_agp_metrics_trends_and_the_alert(site, page):
    sign_in(page, site)
    page.goto(f"{site}/dashboard/patients/{cs.DIABETIC}")
    section = page.locator("#monitoring")
    assert section.locator("svg.agp polygon.agp-outer").count() >= 1
    assert section.locator("svg.agp polyline.agp-median").count() >= 1
    assert "Time in range 70–180" in section.inner_text() and "GMI" in section.inner_text()
    trends = section.locator("svg.chart[aria-label^='Resting heart rate']")
    assert trends.count() == 1 and section.locator("svg.chart[aria-label^='Steps per day']").count() == 1
    alerts = page.locator("#alerts article.insight[data-kind='monitoring_alert']")
    assert alerts.count() >= 1 and "hypoglycaemia" in alerts.first.inner_text().lower()
    IMG.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(IMG / "dashboard-agp.png"))
    alerts.first.screenshot(path=str(IMG / "dashboard-monitoring-alert.png"))


def test_acknowledging_from_the_patient_page_clears_the_alert(site, page):
    sign_in(page, site)
    page.goto(f"{site}/dashboard/patients/{cs.DIABETIC}")
    items = page.locator("#monitoring ul.monitoring-alerts li")
    before = items.count()
    assert before >= 1
    items.first.locator("button", has_text="Acknowledge").click()
    page.wait_for_url("**#monitoring")
    assert page.locator("#monitoring ul.monitoring-alerts li").count() == before - 1
