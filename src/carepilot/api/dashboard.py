"""Clinician dashboard routes (server-rendered): patient list, patient page, feedback form, model cards."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

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
    return templates.TemplateResponse(
        request,
        "patient.html",
        {"page": page, "reasons": OVERRIDE_REASONS, "kind_labels": KIND_LABELS, "decision_key": decision_key},
    )


@router.post("/insights/{insight_id}/feedback")
def insight_feedback(
    insight_id: str,
    dashboard: DashboardDep,
    outcome: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> RedirectResponse:
    patient_id = dashboard.record_feedback(insight_id, outcome, reason or None, comment, user="dashboard-user")
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
