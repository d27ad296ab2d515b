"""CDS Hooks feedback route: accepted / overridden outcomes stored against the Insight behind each card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from carepilot.api.audit import mark_audited, request_entry
from carepilot.api.cds_hooks import client_actor
from carepilot.api.cds_models import FeedbackRequest
from carepilot.api.deps import CdsClientDep, HookServiceDep

router = APIRouter(tags=["cds-hooks"])


@router.post("/cds-services/{service_id}/feedback")
def post_feedback(
    service_id: str, body: FeedbackRequest, client: CdsClientDep, hooks: HookServiceDep, request: Request
) -> dict[str, Any]:
    """Store feedback items; every card must be one this service issued (404 otherwise, nothing stored)."""
    items = [item.model_dump() for item in body.feedback]
    entry = request_entry(
        request,
        "write",
        f"cds-services/{service_id}/feedback",
        reason=f"{len(items)} feedback items",
        fallback_actor=client_actor(client),
    )
    ids = hooks.feedback(service_id, items, user_id=client.sub, audit=entry)
    mark_audited(request)
    return {"stored": len(ids)}
