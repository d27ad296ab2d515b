"""Model operations pages (server-rendered): monitoring per model and the approval gate.

The approval POST changes what serves, so it belongs to model owners: the access policy admits only them, and the
signed-in principal is who the change is recorded against (audited by ``learning.governance``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carepilot.api.deps import ServicesDep, SettingsDep, TemplatesDep
from carepilot.errors import InputError, NotFoundError
from carepilot.learning.governance import Governance, ModelEventRepository, PermissionDenied
from carepilot.learning.inputs import monitor_model, validated_metrics
from carepilot.models.registry import ModelRegistry
from carepilot.security.principal import Principal, Role
from carepilot.store.audit import SqlAuditSink
from carepilot.web.charts import Band, line_chart

router = APIRouter(prefix="/dashboard/models", tags=["model operations"], include_in_schema=False)


def _registry(settings: Any, name: str) -> ModelRegistry:
    registry = ModelRegistry(settings.models_dir)
    if not registry.records(name):
        raise NotFoundError(f"no model named {name!r} in the registry")
    return registry


def _performance_charts(report: Any, validated: float | None) -> list[Any]:
    rows = sorted((r for r in report.performance if r.get("auroc") is not None), key=lambda r: -r["window"])
    charts = []
    for key, title in (("auroc", "AUROC"), ("calibration_slope", "Calibration slope"), ("brier", "Brier score")):
        points = [(datetime.fromisoformat(r["period"].split(" to ")[1]), float(r[key])) for r in rows]
        bands = []
        if key == "auroc" and validated is not None:
            bands = [Band(validated, "card")]
        elif key == "calibration_slope":
            bands = [Band(1.0, "ideal")]
        charts.append(line_chart(points, title=title, bands=bands, width=380))
    return charts


@router.get("/{name}/monitoring", response_class=HTMLResponse)
def monitoring_page(name: str, request: Request, services: ServicesDep, templates: TemplatesDep) -> HTMLResponse:
    registry = _registry(services.settings, name)
    report = monitor_model(services.db, registry, name, n_resamples=100)
    latest = min((d["window"] for d in report.score_drift), default=None)
    drift = sorted((d for d in report.drift if d["window"] == latest), key=lambda d: -d["psi"])
    validated = validated_metrics(registry, name, report.serving_version) if report.serving_version else {}
    return templates.TemplateResponse(
        request,
        "model_monitoring.html",
        {
            "name": name,
            "report": report,
            "drift": drift,
            "charts": _performance_charts(report, validated.get("auroc")),
            "validated": validated,
            "latest_fairness": [
                f for f in report.fairness if f["window"] == min((x["window"] for x in report.fairness), default=0)
            ],
        },
    )


def _versions(registry: ModelRegistry, name: str) -> list[dict[str, Any]]:
    statuses = registry.statuses(name)
    serving = registry.record(name).version if registry.records(name) else None
    out = []
    for rec in reversed(registry.records(name)):
        comparison = registry.root / name / rec.version / "comparison.json"
        data = None
        if comparison.is_file():
            try:
                data = json.loads(comparison.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                data = None
        out.append(
            {
                "version": rec.version,
                "created": rec.created,
                "status": "serving" if rec.version == serving else statuses.get(rec.version, "registered"),
                "metadata": rec.metadata,
                "comparison": data,
            }
        )
    return out


@router.get("/{name}/approval", response_class=HTMLResponse)
def approval_page(
    name: str, request: Request, services: ServicesDep, templates: TemplatesDep, done: str = "", error: str = ""
) -> HTMLResponse:
    registry = _registry(services.settings, name)
    events = ModelEventRepository(services.db).events(name)
    return templates.TemplateResponse(
        request,
        "model_approval.html",
        {
            "name": name,
            "versions": _versions(registry, name),
            "events": list(reversed(events)),
            "done": done,
            "error": error,
        },
    )


@router.post("/{name}/approval", response_model=None)
def approval_action(
    name: str,
    request: Request,
    services: ServicesDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    action: Annotated[str, Form()],
    version: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    acting: Principal = request.state.principal  # the signed-in user; the access policy admits model owners only
    if acting.role != Role.MODEL_OWNER:
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": 403, "message": "Only a model owner may change what serves."},
            status_code=403,
        )
    registry = _registry(settings, name)
    gov = Governance(registry, ModelEventRepository(services.db), audit=SqlAuditSink(services.db))
    try:
        if action == "approve":
            change = gov.approve(name, version, principal=acting, reason=reason)
        elif action == "rollback":
            change = gov.rollback(name, version or None, principal=acting, reason=reason)
        elif action == "reject":
            gov.reject(name, version, principal=acting, reason=reason)
            return RedirectResponse(f"/dashboard/models/{name}/approval?done=rejected+{version}", status_code=303)
        else:
            raise InputError(f"unknown action {action!r}: approve, rollback or reject")
    except PermissionDenied as exc:
        return templates.TemplateResponse(request, "error.html", {"status": 403, "message": str(exc)}, status_code=403)
    except InputError as exc:
        return RedirectResponse(f"/dashboard/models/{name}/approval?error={_q(str(exc))}", status_code=303)
    return RedirectResponse(
        f"/dashboard/models/{name}/approval?done={change.action}+version+{change.version}", status_code=303
    )


def _q(text: str) -> str:
    return quote_plus(text[:200])
