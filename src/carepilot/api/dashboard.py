"""Clinician dashboard routes (server-rendered): sign-in/out, patient list, patient page, feedback form, model cards.

Sign-in takes an access token (verified like any bearer token) or, in development mode only, a role picked from a
list (a token is minted by the local development issuer and verified the same way); either starts a server-side
session whose id travels in a Secure, HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from carepilot.api.audit import audit_access, mark_audited, request_entry
from carepilot.api.auth import AuthServices, request_base, visible_patients
from carepilot.api.deps import DashboardDep, PrincipalDep, ServicesDep, SettingsDep, TemplatesDep
from carepilot.domain.consent import ConsentScope
from carepilot.errors import NotFoundError
from carepilot.insights.cards import KIND_LABELS, OVERRIDE_REASONS
from carepilot.insights.dashboard import decision_key, find_model_card, model_cards
from carepilot.security.policy import DEFAULT_SCOPES
from carepilot.security.principal import Role
from carepilot.security.sessions import COOKIE
from carepilot.security.tokens import DEV_USER_ISSUER, AuthenticationError, mint_access_token

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def patient_list(
    request: Request,
    dashboard: DashboardDep,
    templates: TemplatesDep,
    q: str = "",
    condition: str = "",
    severity: str = "",
    sort: str = "name",
    order: str = "asc",
) -> HTMLResponse:
    rows = dashboard.patient_rows(q, condition, severity, sort, descending=order == "desc")
    allowed = set(visible_patients(request, [r.patient_id for r in rows]))
    rows = [r for r in rows if r.patient_id in allowed]
    audit_access(request, "view", "dashboard/patients", reason=f"{len(rows)} listed")
    return templates.TemplateResponse(
        request,
        "patients.html",
        {
            "rows": rows,
            "q": q,
            "condition": condition,
            "severity": severity,
            "sort": sort,
            "order": order,
            "conditions": dashboard.condition_choices(),
        },
    )


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    patient_id: str, request: Request, dashboard: DashboardDep, templates: TemplatesDep, s: ServicesDep
) -> HTMLResponse:
    page = dashboard.patient_page(patient_id)
    audit_access(request, "view", f"dashboard/patients/{patient_id}", patient_id=patient_id)
    return templates.TemplateResponse(
        request,
        "patient.html",
        {
            "page": page,
            "reasons": OVERRIDE_REASONS,
            "kind_labels": KIND_LABELS,
            "decision_key": decision_key,
            "decision_support_off": not s.consent.allows(patient_id, ConsentScope.DECISION_SUPPORT),
        },
    )


@router.post("/insights/{insight_id}/feedback")
def insight_feedback(
    insight_id: str,
    request: Request,
    dashboard: DashboardDep,
    principal: PrincipalDep,
    outcome: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> RedirectResponse:
    entry = request_entry(request, "write", f"Insight/{insight_id}/feedback")
    patient_id = dashboard.record_feedback(
        insight_id, outcome, reason or None, comment, user=principal.actor, audit=entry
    )
    mark_audited(request)
    return RedirectResponse(f"/dashboard/patients/{patient_id}#insight-{insight_id}", status_code=303)


_PLOT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _calibration_plots(models_dir: Path) -> set[str]:
    """Model ids that have a calibration figure in the registry's plots folder."""
    folder = models_dir / "plots"
    if not folder.is_dir():
        return set()
    return {p.name.removesuffix("_calibration.png") for p in folder.glob("*_calibration.png")}


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, templates: TemplatesDep, settings: SettingsDep) -> HTMLResponse:
    context = {"cards": model_cards(settings.models_dir), "one": None, "plots": _calibration_plots(settings.models_dir)}
    return templates.TemplateResponse(request, "models.html", context)


@router.get("/calibration/{model_id}.png", response_class=FileResponse)
def calibration_plot(model_id: str, settings: SettingsDep) -> FileResponse:
    """The out-of-fold calibration figure written when the model was trained."""
    if not _PLOT_NAME.match(model_id) or model_id not in _calibration_plots(settings.models_dir):
        raise NotFoundError(f"no calibration figure for model {model_id!r}")
    return FileResponse(settings.models_dir / "plots" / f"{model_id}_calibration.png", media_type="image/png")


@router.get("/models/{model_id:path}", response_class=HTMLResponse)
def model_card(model_id: str, request: Request, templates: TemplatesDep, settings: SettingsDep) -> HTMLResponse:
    cards = find_model_card(settings.models_dir, model_id)
    context = {"cards": cards, "one": model_id, "plots": _calibration_plots(settings.models_dir)}
    return templates.TemplateResponse(request, "models.html", context, status_code=200 if cards else 404)


@router.get("/launch")
def launch(patient: str | None = None, appContext: str | None = None) -> RedirectResponse:
    """Entry from a CDS card's SMART link: go to the patient named by ``patient`` or the app context."""
    target = patient
    if target is None and appContext:
        try:
            target = orjson.loads(appContext).get("patientId")
        except (orjson.JSONDecodeError, AttributeError):
            target = None
    if target is not None and not isinstance(target, str):
        raise NotFoundError("launch context names no patient")
    return RedirectResponse(f"/dashboard/patients/{target}" if target else "/dashboard", status_code=303)


# -- sign-in and sign-out -------------------------------------------------------------------------------------------
def _safe_next(target: str) -> str:
    # Only paths inside the dashboard: an open redirect would hand the session to another site's page.
    if target.startswith("/dashboard") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, templates: TemplatesDep, next: str = "/dashboard") -> HTMLResponse:
    """The sign-in page (token field; a role picker in development mode)."""
    from carepilot.api.app import login_context

    context = login_context(request) | {"next": _safe_next(next)}
    return templates.TemplateResponse(request, "login.html", context)


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    token: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    site: Annotated[str, Form()] = "",
    patient: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/dashboard",
) -> RedirectResponse:
    """Start a session from an access token, or (development mode) from a picked role."""
    auth: AuthServices = request.app.state.auth
    base = request_base(request)
    if not token.strip() and role and settings.dev and auth.dev_key is not None:
        try:
            picked = Role(role)
        except ValueError as exc:
            raise AuthenticationError(f"role {role[:40]!r} is not one this service knows") from exc
        token = mint_access_token(
            auth.dev_key,
            iss=DEV_USER_ISSUER,
            aud=auth.audiences(base)[-1],
            sub=f"dev-{picked.value}",
            role=picked.value,
            scopes=DEFAULT_SCOPES[picked],
            patient=patient.strip() or None,
            sites=[s.strip() for s in site.split(",") if s.strip()],
            lifetime_s=60,
        )
    if not token.strip():
        raise AuthenticationError("paste an access token to sign in")
    principal = auth.verifier.verify(token.strip(), auth.audiences(base))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE, auth.sessions.create(principal), httponly=True, secure=True, samesite="strict", path="/"
    )
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the session and clear its cookie."""
    auth: AuthServices = request.app.state.auth
    auth.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, secure=True, samesite="strict", path="/")
    return response
