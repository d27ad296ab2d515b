"""Clinician dashboard routes (server-rendered): patient list, patient page, feedback form, model cards."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from carepilot.api.audit import audit_access, mark_audited, request_entry
from carepilot.api.deps import DashboardDep, SettingsDep, TemplatesDep
from carepilot.errors import NotFoundError
from carepilot.insights.cards import KIND_LABELS, OVERRIDE_REASONS
from carepilot.insights.dashboard import decision_key, find_model_card, model_cards

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
def patient_page(patient_id: str, request: Request, dashboard: DashboardDep, templates: TemplatesDep) -> HTMLResponse:
    page = dashboard.patient_page(patient_id)
    audit_access(request, "view", f"dashboard/patients/{patient_id}", patient_id=patient_id)
    return templates.TemplateResponse(
        request,
        "patient.html",
        {"page": page, "reasons": OVERRIDE_REASONS, "kind_labels": KIND_LABELS, "decision_key": decision_key},
    )


@router.post("/insights/{insight_id}/feedback")
def insight_feedback(
    insight_id: str,
    request: Request,
    dashboard: DashboardDep,
    outcome: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> RedirectResponse:
    entry = request_entry(request, "write", f"Insight/{insight_id}/feedback")
    patient_id = dashboard.record_feedback(
        insight_id, outcome, reason or None, comment, user="dashboard-user", audit=entry
    )
    mark_audited(request)
    return RedirectResponse(f"/dashboard/patients/{patient_id}#insight-{insight_id}", status_code=303)


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, templates: TemplatesDep, settings: SettingsDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "models.html", {"cards": model_cards(settings.models_dir), "one": None})


@router.get("/models/{model_id:path}", response_class=HTMLResponse)
def model_card(model_id: str, request: Request, templates: TemplatesDep, settings: SettingsDep) -> HTMLResponse:
    cards = find_model_card(settings.models_dir, model_id)
    return templates.TemplateResponse(
        request, "models.html", {"cards": cards, "one": model_id}, status_code=200 if cards else 404
    )


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
