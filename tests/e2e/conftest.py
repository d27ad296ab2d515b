"""Browser fixtures: one headless Chromium per module, a fresh context per test that fails on JavaScript errors."""

from __future__ import annotations

import pytest

from tests.e2e.browser import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def blank_page(browser):
    """A page in a fresh browser context (no session), failing the test on any JavaScript error."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def page(blank_page):
    """The page a test drives; modules that need a signed-in page override this."""
    return blank_page
