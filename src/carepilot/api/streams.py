"""Wearable / CGM stream routes: post a batch of readings (JSON or FHIR Observations), list and acknowledge alerts.

A batch is answered 200 with what was accepted, what was already stored (duplicates) and what was refused and
why (position + field), as long as one reading in it is usable; 400 when none is or the body cannot be read;
404 for a patient the store does not know. ``install`` also gives the dashboard templates the home-monitoring
panel (AGP chart, CGM metrics, daily trends).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse

from carepilot.errors import InputError
from carepilot.insights.monitoring import MonitoringPanel, Posted, Problem, StreamService, monitoring_panel, open_alerts
from carepilot.monitoring.alerts import Alert
from carepilot.monitoring.observations import FHIR_FIELD, map_observations, observations_of
from carepilot.security.principal import Principal
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.readings import ReadingRepository
from carepilot.web.charts import agp_chart

router = APIRouter(prefix="/streams", tags=["streams"])
MAX_BODY = 32 * 1024 * 1024  # bytes; 100,000 JSON readings are about 10 MB


async def _streams(request: Request) -> StreamService:
    found: StreamService = request.app.state.streams
    return found


StreamsDep = Annotated[StreamService, Depends(_streams)]


def install(app: FastAPI) -> None:
    """Add the stream routes and the dashboard's monitoring panel to an app built by ``create_app``."""
    services = app.state.services
    readings = ReadingRepository(services.db)
    app.state.streams = StreamService(readings, services.delivery, consent=SqlConsentDirectory(services.db))

    def panel(patient_id: str) -> MonitoringPanel:
        return monitoring_panel(readings, patient_id)

    services.templates.env.globals.update(agp_chart=agp_chart, monitoring_panel=panel)
    app.include_router(router)


def _alert_json(alert: Alert) -> dict[str, Any]:
    insight = orjson.loads(orjson.dumps(alert.insight))
    return {
        "id": alert.id,
        "rule": alert.rule,
        "rule_id": alert.rule_id,
        "rule_version": alert.rule_version,
        "severity": str(alert.severity),
        "title": alert.insight.title,
        "triggered_at": alert.triggered_at.isoformat(),
        "action": alert.action.value,
        "episode_id": alert.episode_id,
        "escalates": alert.escalates,
        "insight": insight,
    }


def _summary(posted: Posted) -> dict[str, Any]:
    return {
        "patient_id": posted.patient_id,
        "received": posted.received,
        "accepted": posted.accepted,
        "duplicate": posted.duplicate,
        "rejected": len(posted.rejected),
        "late": posted.late,
        "monitored": posted.monitored,
        "reasons": [
            {"index": p.index, "field": p.field, "reason": p.reason, "message": p.message}
            for p in posted.rejected[:500]
        ],
        "alerts": [_alert_json(a) for a in posted.alerts],
    }


def _parse(body: bytes, content_type: str) -> tuple[list[Any], dict[str, Any]]:
    """(records, post() keyword arguments) from a JSON readings body or a FHIR body."""
    if not body.strip():
        raise InputError("empty body: send {'readings': [...]} or FHIR Observations")
    if len(body) > MAX_BODY:
        raise InputError(f"body larger than {MAX_BODY // (1024 * 1024)} MB; split the batch")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"body is not JSON: {exc}") from exc
    fhir = "fhir+json" in content_type or (isinstance(payload, dict) and "resourceType" in payload)
    if not fhir and isinstance(payload, list) and payload and isinstance(payload[0], dict):
        fhir = "resourceType" in payload[0]
    if fhir:
        mapped = map_observations(observations_of(payload))
        refused = [Problem(r.index, r.field, r.reason.value, r.message) for r in mapped.refused]
        return mapped.records, {
            "origin": mapped.origin,
            "fields": FHIR_FIELD,
            "refused": refused,
            "received": mapped.observations,
        }
    if not isinstance(payload, dict) or not isinstance(payload.get("readings"), list):
        raise InputError("a JSON body must be an object with a 'readings' list (or FHIR with application/fhir+json)")
    return payload["readings"], {}


@router.post("/{patient_id}")
async def post_readings(patient_id: str, request: Request, streams: StreamsDep) -> JSONResponse:
    """Store a batch of one patient's readings and run them through the monitor; alerts raised come back."""
    body = await request.body()
    records, options = _parse(body, request.headers.get("content-type", ""))
    if not records and not options.get("refused"):
        raise InputError("the batch holds no readings")
    posted = await run_in_threadpool(streams.post, patient_id, records, **options)
    summary = _summary(posted)
    if not posted.usable:
        summary = {"error": "invalid_request", "message": "no reading in the batch is valid", **summary}
        return JSONResponse(summary, status_code=400)
    return JSONResponse(summary)


@router.get("/{patient_id}/alerts")
def list_alerts(patient_id: str, streams: StreamsDep, status: str | None = None) -> dict[str, Any]:
    """The patient's stored monitoring alerts, newest first (``status=open`` or ``acknowledged``)."""
    if status not in (None, "open", "acknowledged"):
        raise InputError("status must be open or acknowledged")
    stored = streams.readings.alerts(patient_id)
    current = {a.id for a in open_alerts(stored)}
    return {
        "patient_id": patient_id,
        "alerts": [
            {
                "id": a.id,
                "rule": a.rule,
                "severity": a.severity,
                "title": a.title,
                "triggered_at": a.triggered_at.isoformat(),
                "episode_id": a.episode_id,
                "escalates": a.escalates,
                "status": a.status,
                "current": a.id in current,
                "acknowledged_by": a.acknowledged_by,
            }
            for a in stored
            if status is None or a.status == status
        ],
    }


@router.post("/{patient_id}/alerts/{alert_id}/ack", response_model=None)
def acknowledge(
    patient_id: str, alert_id: str, request: Request, streams: StreamsDep
) -> dict[str, Any] | RedirectResponse:
    """Acknowledge an alert and the rest of its episode; the policy then holds the episode quiet.

    A form post (the dashboard's Acknowledge button) is sent back to the patient page.
    """
    principal: Principal = request.state.principal  # set by the access policy before any route runs
    form = request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    )
    ids = streams.acknowledge(patient_id, alert_id, principal.actor)
    if form:
        return RedirectResponse(f"/dashboard/patients/{quote(patient_id, safe='')}#monitoring", status_code=303)
    return {"patient_id": patient_id, "alert_id": alert_id, "acknowledged": ids}
