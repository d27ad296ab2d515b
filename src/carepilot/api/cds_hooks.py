"""CDS Hooks 2.0.1 routes: discovery and one endpoint per service (parse, call the hook service, serialise)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from carepilot.api.audit import mark_audited, request_entry
from carepilot.api.cds_models import CONTEXTS, HookRequest
from carepilot.api.deps import BaseUrlDep, CdsClientDep, HookServiceDep
from carepilot.errors import InputError
from carepilot.insights.hooks import HookCall
from carepilot.security.jwt import VerifiedClient

router = APIRouter(tags=["cds-hooks"])


@router.get("/cds-services")
def discovery(hooks: HookServiceDep) -> dict[str, Any]:
    """The CDS Hooks discovery document."""
    return hooks.discovery()


def _context(body: HookRequest) -> Any:
    shape = CONTEXTS.get(body.hook)
    if shape is None:
        raise InputError(f"hook {body.hook!r} is not one this service answers ({', '.join(CONTEXTS)})")
    try:
        return shape.model_validate(body.context)
    except ValidationError as exc:
        paths = "; ".join(
            f"context.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)[:5]
        )
        raise InputError(f"malformed {body.hook} context: {paths}") from exc


def client_actor(client: VerifiedClient) -> str:
    """The audit name of an authenticated CDS client (its token's subject, else its issuer)."""
    return f"cds-client:{client.sub or client.iss}"


@router.post("/cds-services/{service_id}")
def call_service(
    service_id: str,
    body: HookRequest,
    client: CdsClientDep,
    hooks: HookServiceDep,
    base: BaseUrlDep,
    request: Request,
) -> Response:
    """Answer one hook call with cards."""
    context = _context(body)
    draft = getattr(context, "draftOrders", None)
    call = HookCall(
        service_id=service_id,
        hook=body.hook,
        hook_instance=body.hookInstance,
        patient_id=context.patientId,
        user_id=context.userId,
        encounter_id=context.encounterId,
        draft_orders=tuple(e.resource for e in draft.entry) if draft is not None else (),
        context=body.context,
        prefetch=body.prefetch,
        fhir_server=body.fhirServer,
        fhir_token=body.fhirAuthorization.access_token if body.fhirAuthorization else None,
    )
    entry = request_entry(
        request,
        "hook",
        f"cds-services/{service_id}",
        patient_id=context.patientId,
        reason=f"{body.hook} hook, instance {body.hookInstance}",
        fallback_actor=client_actor(client),
    )
    answer = hooks.call(call, base, audit=entry)
    mark_audited(request)
    # Serialised directly: the cards are already plain JSON, checked against the Card model in the tests.
    return Response(orjson.dumps({"cards": answer.cards}), media_type="application/json")
