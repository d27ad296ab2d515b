"""Annotated dependency aliases for the routers (one place that says where each collaborator comes from).

The look-ups are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, and a thread
hop per trivial look-up costs more than the look-up. ``cds_client`` stays sync because it writes to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from carepilot.config import Settings
from carepilot.insights.dashboard import DashboardService
from carepilot.insights.hooks import CdsHookService
from carepilot.security.jwt import CdsTokenVerifier, VerifiedClient
from carepilot.security.principal import Principal
from carepilot.security.tokens import AuthenticationError
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.db import Database
from carepilot.store.feedback import DeliveryRepository
from carepilot.store.fhir_read import FhirReadRepository
from carepilot.store.repository import SqlRecordRepository


@dataclass
class Services:
    """Everything the routers use, built once by ``create_app``."""

    settings: Settings
    db: Database
    repo: SqlRecordRepository
    reads: FhirReadRepository
    delivery: DeliveryRepository
    hooks: CdsHookService
    dashboard: DashboardService
    verifier: CdsTokenVerifier
    templates: Jinja2Templates
    consent: SqlConsentDirectory


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def base_url(request: Request) -> str:
    """Where clients reach this service: the configured public URL, else the URL of this request."""
    configured = request.app.state.services.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


ServicesDep = Annotated[Services, Depends(services)]
BaseUrlDep = Annotated[str, Depends(base_url)]


async def _hooks(s: ServicesDep) -> CdsHookService:
    return s.hooks


async def _dashboard(s: ServicesDep) -> DashboardService:
    return s.dashboard


async def _templates(s: ServicesDep) -> Jinja2Templates:
    return s.templates


async def _reads(s: ServicesDep) -> FhirReadRepository:
    return s.reads


async def _settings(s: ServicesDep) -> Settings:
    return s.settings


HookServiceDep = Annotated[CdsHookService, Depends(_hooks)]
DashboardDep = Annotated[DashboardService, Depends(_dashboard)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
FhirReadsDep = Annotated[FhirReadRepository, Depends(_reads)]
SettingsDep = Annotated[Settings, Depends(_settings)]


def cds_client(request: Request, service_id: str, s: ServicesDep, base: BaseUrlDep) -> VerifiedClient:
    """The authenticated CDS client of a hook or feedback call (CdsAuthError -> 401 otherwise)."""
    endpoint = f"{base}/cds-services/{service_id}"
    return s.verifier.verify(request.headers.get("authorization"), (endpoint, f"{endpoint}/feedback"))


CdsClientDep = Annotated[VerifiedClient, Depends(cds_client)]


async def current_principal(request: Request) -> Principal:
    """The authenticated caller, set by ``api/auth.authorize`` on every user route."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        raise AuthenticationError("this route needs a signed-in user")
    return found


PrincipalDep = Annotated[Principal, Depends(current_principal)]
