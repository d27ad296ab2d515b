"""Signing a browser page in through the development role picker (the session cookie then rides on every page)."""

from __future__ import annotations


def sign_in(page, site: str, role: str = "clinician", patient: str | None = None) -> None:
    """Sign ``page`` in to ``site`` as ``role`` (``patient`` names the patient-role user's own record)."""
    page.goto(f"{site}/dashboard/login")
    page.select_option("#role", role)
    if patient is not None:
        page.fill("#patient", patient)
    page.click("#login-dev")
    page.wait_for_load_state()
