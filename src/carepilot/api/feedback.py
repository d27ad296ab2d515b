"""CDS Hooks feedback route: accepted / overridden outcomes stored against the Insight behind each card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from carepilot.api.cds_models import FeedbackRequest
from carepilot.api.deps import CdsClientDep, HookServiceDep

router = APIRouter(tags=["cds-hooks"])


@router.post("/cds-services/{service_id}/feedback")
def post_feedback(
    service_id: str, body: FeedbackRequest, client: CdsClientDep, hooks: HookServiceDep
) -> dict[str, Any]:
    """Store feedback items; every card must be one this service issued (404 otherwise, nothing stored)."""
    items = [item.model_dump() for item in body.feedback]
    ids = hooks.feedback(service_id, items, user_id=client.sub)
    return {"stored": len(ids)}
