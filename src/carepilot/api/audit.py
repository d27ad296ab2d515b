"""Auditing HTTP access to patient data: the per-request record, a fail-closed guard, a PHI-free access log.

Routes that return patient data call ``audit_access`` (or pass ``request_entry`` to a service that writes in its
own transaction, so the record commits with the work) before they build the response. The guard middleware, keyed
on the route template, then makes sure of it: a patient-data route that did not write its own record gets one
written by the guard before the response starts (after the route's work committed), and a refused or failed request
to such a route is recorded with outcome ``denied`` / ``failed``. No patient-data response leaves unaudited.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carepilot.security.audit import AuditEntry, entry_for
from carepilot.store.audit import SqlAuditSink

log = logging.getLogger(__name__)

# Route templates whose responses carry patient data, and the audit action each one records.
PATIENT_ROUTES: dict[str, str] = {
    "/fhir/Patient/{patient_id}/$everything": "read",
    "/fhir/{resource_type}/{resource_id}": "read",
    "/fhir/{resource_type}": "read",
    "/dashboard": "view",
    "/dashboard/patients/{patient_id}": "view",
    "/dashboard/insights/{insight_id}/feedback": "write",
    "/cds-services/{service_id}": "hook",
    "/cds-services/{service_id}/feedback": "write",
    "/dashboard/patients/{patient_id}/nudges": "write",
    "/patient/{patient_id}": "view",
    "/patient/{patient_id}/reports": "write",
    "/streams/{patient_id}": "write",
    "/streams/{patient_id}/alerts": "read",
    "/streams/{patient_id}/alerts/{alert_id}/ack": "write",
}
STATE_KEY = "audit_seq"


def principal_of(request: Request) -> Any:
    """The authenticated principal of the request, or None until authentication has put one there."""
    return getattr(request.state, "principal", None)


def request_entry(
    request: Request,
    action: str,
    entity: str,
    *,
    patient_id: str | None = None,
    reason: str | None = None,
    fallback_actor: str = "anonymous",
) -> AuditEntry:
    """The audit entry for this request's principal (break-glass flagged)."""
    return entry_for(
        principal_of(request), action, entity, patient_id=patient_id, reason=reason, fallback_actor=fallback_actor
    )


def mark_audited(request: Request, seq: int | None = None) -> None:
    """Tell the guard that this request's audit record is committed."""
    setattr(request.state, STATE_KEY, seq if seq is not None else -1)


def audit_access(
    request: Request, action: str, entity: str, *, patient_id: str | None = None, reason: str | None = None
) -> int:
    """Commit the audit record of a read before its response is built; returns the entry's sequence number."""
    seq = SqlAuditSink(request.app.state.services.db).append(
        request_entry(request, action, entity, patient_id=patient_id, reason=reason)
    )
    mark_audited(request, seq)
    return seq


def _patient_from_scope(scope: Scope) -> str | None:
    params = scope.get("path_params") or {}
    if params.get("patient_id"):
        return str(params["patient_id"])
    if params.get("resource_type") == "Patient" and params.get("resource_id"):
        return str(params["resource_id"])
    return None


class AuditGuard:
    """ASGI middleware: no patient-data response leaves without its audit record; refusals are recorded too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = str(getattr(scope.get("route"), "path", "") or "")
                action = PATIENT_ROUTES.get(route)
                audited = (scope.get("state") or {}).get(STATE_KEY) is not None
                if action is not None and not audited:
                    # The route did not write its own record: write it now, before the first byte of the response.
                    status = int(message["status"])
                    outcome = "success" if status < 400 else "denied" if status in (401, 403) else "failed"
                    await anyio.to_thread.run_sync(self._record, scope, action, route, outcome, status)
            await send(message)

        await self.app(scope, receive, guarded_send)

    def _record(self, scope: Scope, action: str, route: str, outcome: str, status: int) -> None:
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        if services is None:
            return
        principal = (scope.get("state") or {}).get("principal")
        entry = entry_for(
            principal, action, route, patient_id=_patient_from_scope(scope), reason=f"HTTP {status}", outcome=outcome
        )
        SqlAuditSink(services.db).append(entry)


class QueryStringFilter(logging.Filter):
    """Strips query strings from uvicorn's access log lines (a query may hold a name typed into a search box)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_audit(app: FastAPI) -> None:
    """Add the audit guard to the app and keep query strings out of uvicorn's access log."""
    app.add_middleware(AuditGuard)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QueryStringFilter) for f in access.filters):
        access.addFilter(QueryStringFilter())
