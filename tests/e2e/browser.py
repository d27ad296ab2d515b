"""What every browser test shares: Debian's Chromium, screenshots into docs/img, and signing a page in.

The test modules skip themselves (``require_chromium()`` at module level) with a clear message when Chromium or
Playwright is absent (Debian: ``apt-get install -y chromium``; ``pip install playwright``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carepilot.config import repo_root

CHROMIUM = Path("/usr/bin/chromium")
IMG = repo_root() / "docs" / "img"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip the calling test module unless Playwright and Debian's Chromium are installed."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(
            "Chromium is absent: apt-get install -y chromium (the e2e tests use Debian's build)",
            allow_module_level=True,
        )


def sign_in(page, site: str, role: str = "clinician", patient: str | None = None) -> None:
    """Sign ``page`` in to ``site`` through the development role picker (the session cookie rides on every page)."""
    page.goto(f"{site}/dashboard/login")
    page.select_option("#role", role)
    if patient is not None:
        page.fill("#patient", patient)
    page.click("#login-dev")
    page.wait_for_load_state()


def shot(page, name: str) -> None:
    """A full-page screenshot into docs/img/."""
    IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMG / name), full_page=True)


def no_raw_json(page) -> None:
    """The page shows no raw JSON (a template that forgot to format something)."""
    text = page.inner_text("main")
    assert '{"' not in text and "':" not in text
