"""The patient's own page and symptom/side-effect reports; the clinician's nudge switch on the dashboard.

``GET /patient/{id}`` renders the plain-language view; ``POST /patient/{id}/reports`` stores what the patient
reports as FHIR Observations through the ingest path and comes back to the page; ``POST
/dashboard/patients/{id}/nudges`` lets the care team switch nudges off (with a reason) or on. Which records a
caller may open is the route policy's business (``security``); these handlers only read and write.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from carepilot.api.deps import Services, ServicesDep, TemplatesDep
from carepilot.insights.patient_reports import PatientReport, ReportError, write_report
from carepilot.insights.patient_view import PatientViewService, depression_care
from carepilot.store.nudges import NudgeRepository
from carepilot.web.charts import Band

router = APIRouter(tags=["patient"], include_in_schema=False)
PHQ9_LINES = (Band(5.0, "5"), Band(10.0, "10"), Band(20.0, "20"))


def install(app: FastAPI) -> None:
    """Add the routes and the template helpers the depression-care and nudge sections of the patient page use."""
    services: Services = app.state.services
    nudges = NudgeRepository(services.db)
    app.state.patient_view = PatientViewService(services.repo, services.dashboard.insights, nudges)
    app.state.nudges = nudges
    services.templates.env.globals.update(
        depression_care=depression_care,
        phq9_lines=PHQ9_LINES,
        nudge_settings=nudges.settings,
        nudge_messages=nudges.messages,
    )
    app.include_router(router)


def _render(
    request: Request, templates: TemplatesDep, patient_id: str, status: int = 200, **extra: object
) -> HTMLResponse:
    view = request.app.state.patient_view.view(patient_id)
    return templates.TemplateResponse(request, "patient_portal.html", {"view": view, **extra}, status_code=status)


@router.get("/patient/{patient_id}", response_class=HTMLResponse)
def patient_page(patient_id: str, request: Request, templates: TemplatesDep, sent: int = 0) -> HTMLResponse:
    return _render(request, templates, patient_id, sent=bool(sent))


@router.post("/patient/{patient_id}/reports", response_model=None)
def patient_report(
    patient_id: str,
    request: Request,
    templates: TemplatesDep,
    s: ServicesDep,
    kind: Annotated[str, Form()] = "symptom",
    text: Annotated[str, Form(max_length=2000)] = "",
    severity: Annotated[str, Form()] = "",
    medication: Annotated[str, Form(max_length=200)] = "",
    phq: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse | RedirectResponse:
    try:
        answers = [int(v) for v in phq] if phq and any(v != "" for v in phq) else None
        level = int(severity) if severity.strip() else None
    except ValueError:
        return _render(request, templates, patient_id, 400, error="Please choose the answers from the lists.")
    report = PatientReport(kind=kind, text=text, severity=level, medication=medication or None, phq9=answers)
    try:
        write_report(s.repo, patient_id, report)
    except ReportError as exc:
        return _render(request, templates, patient_id, 400, error=str(exc))
    return RedirectResponse(f"/patient/{patient_id}?sent=1#report", status_code=303)


@router.post("/dashboard/patients/{patient_id}/nudges")
def nudge_switch(
    patient_id: str,
    request: Request,
    enabled: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=400)] = "",
) -> RedirectResponse:
    nudges: NudgeRepository = request.app.state.nudges
    current = nudges.settings(patient_id)
    on = enabled == "on"
    nudges.save_settings(
        replace(current, enabled=on, reason=None if on else (reason or None), updated_by="dashboard-user")
    )
    return RedirectResponse(f"/dashboard/patients/{patient_id}#nudges", status_code=303)
