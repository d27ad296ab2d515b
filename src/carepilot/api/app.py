"""The FastAPI app factory: wires settings to the store, the insight providers and the routers.

Errors are translated to HTTP only here (the edge): InputError and malformed bodies -> 400 with the paths that
are wrong, CdsAuthError and AuthenticationError -> 401 (the sign-in page on the dashboard), AccessDenied -> 403,
NotFoundError -> 404, DataUnavailable -> 412, any other project error -> 503.

Every route is behind ``api/auth.authorize`` (an app dependency: deny by default, one policy table), and every
insight engine is wrapped so it honours the patient's decision-support opt-out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup

from carepilot import __version__
from carepilot.api import auth, cds_hooks, dashboard, feedback, fhir, model_ops, patient_portal, streams
from carepilot.api.audit import install_audit
from carepilot.api.deps import Services
from carepilot.bootstrap import open_store
from carepilot.config import Settings
from carepilot.errors import CarePilotError, InputError, NotFoundError
from carepilot.fhir.server import FHIR_JSON, operation_outcome
from carepilot.insights.dashboard import DashboardService
from carepilot.insights.hooks import CdsHookService
from carepilot.insights.prefetch import DataUnavailable
from carepilot.insights.providers import default_providers
from carepilot.insights.service import InsightProvider, InsightService
from carepilot.security.consent_gate import consented
from carepilot.security.jwt import CdsAuthError, CdsTokenVerifier, IssuerRegistry, dev_issuer, load_issuers
from carepilot.security.tokens import AccessDenied, AuthenticationError
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.feedback import DeliveryRepository
from carepilot.store.fhir_read import FhirReadRepository
from carepilot.web import charts

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web"


def issuer_registry(settings: Settings, transport: httpx.BaseTransport | None = None) -> IssuerRegistry:
    """The CDS client allow-list from ``settings.cds_issuers``, plus the local dev issuer in dev mode."""
    registry = (
        load_issuers(settings.cds_issuers, transport) if settings.cds_issuers else IssuerRegistry(transport=transport)
    )
    if settings.dev:
        registry.add(dev_issuer(settings.home))
    if not registry.issuers:
        log.warning("no CDS client is trusted (set CAREPILOT_CDS_ISSUERS): every hook call will get 401")
    return registry


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(WEB / "templates"))
    markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
    env = templates.env
    env.filters["markdown"] = lambda text: Markup(markdown.render(text or ""))
    env.globals.update(
        line_chart=charts.line_chart,
        medication_bars=charts.medication_bars,
        factor_bars=charts.factor_bars,
        interval_strip=charts.interval_strip,
        version=__version__,
    )
    return templates


def login_context(request: Request, message: str | None = None) -> dict[str, Any]:
    """What the sign-in page shows: the dev-mode role picker, the page to return to, why sign-in is needed."""
    from carepilot.security.principal import Role

    nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "dev": request.app.state.services.settings.dev,
        "roles": [r.value for r in Role if r is not Role.SYSTEM],
        "next": nxt if nxt.startswith("/dashboard") and not nxt.startswith("/dashboard/log") else "/dashboard",
        "message": message,
        "idle_minutes": request.app.state.services.settings.session_idle_minutes,
    }


def _problems(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"path": ".".join(str(p) for p in err.get("loc", ())), "message": str(err.get("msg", "invalid"))}
        for err in exc.errors()[:20]
    ]


def _wants_fhir(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def _error(request: Request, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> Response:
    if request.url.path.startswith("/dashboard"):
        templates = request.app.state.services.templates
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status
        )
    if _wants_fhir(request):
        issue = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 412: "incomplete"}.get(
            status, "exception"
        )
        return JSONResponse(operation_outcome(issue, message), status_code=status, media_type=FHIR_JSON)
    return JSONResponse({"error": code, "message": message, **(extra or {})}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Translate the project's exceptions (and malformed requests) to HTTP status codes; never a 500 for bad input."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = _problems(exc)
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        return _error(request, 400, "invalid_request", f"malformed request: {summary}", {"problems": problems})

    @app.exception_handler(CdsAuthError)
    async def unauthorised(request: Request, exc: CdsAuthError) -> Response:
        response = _error(request, 401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(AuthenticationError)
    async def unauthenticated(request: Request, exc: AuthenticationError) -> Response:
        if request.url.path.startswith("/dashboard"):
            templates = request.app.state.services.templates
            response: Response = templates.TemplateResponse(
                request, "login.html", login_context(request, str(exc)), status_code=401
            )
        else:
            response = _error(request, 401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(AccessDenied)
    async def denied(request: Request, exc: AccessDenied) -> Response:
        return _error(request, 403, "forbidden", str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        return _error(request, 400, "invalid_request", str(exc))

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, "not_found", str(exc))

    @app.exception_handler(DataUnavailable)
    async def unavailable(request: Request, exc: DataUnavailable) -> Response:
        return _error(request, 412, "precondition_failed", str(exc))

    @app.exception_handler(CarePilotError)
    async def failed(request: Request, exc: CarePilotError) -> Response:
        log.error("request failed: %s", type(exc).__name__)
        return _error(request, 503, "unavailable", f"the service could not answer: {type(exc).__name__}")


def create_app(
    settings: Settings,
    *,
    providers: Sequence[InsightProvider] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """Build the app: store, providers, CDS Hooks, FHIR API, dashboard. ``transport`` serves outbound HTTP in tests."""
    db, repo = open_store(settings)
    delivery = DeliveryRepository(db)
    auth_services = auth.build_auth(settings, db, delivery, transport)  # refuses unsafe settings before any work
    reads = FhirReadRepository(db)
    engines = list(providers) if providers is not None else default_providers(settings)
    consent = SqlConsentDirectory(db)
    insight_service = InsightService(consented(engines, consent))
    hooks = CdsHookService(
        repo,
        delivery,
        insight_service,
        budget_ms=settings.cds_budget_ms,
        writeback=settings.writeback,
        transport=transport,
        reads=reads,
    )
    services = Services(
        settings=settings,
        db=db,
        repo=repo,
        reads=reads,
        delivery=delivery,
        hooks=hooks,
        dashboard=DashboardService(repo, reads, delivery, insight_service),
        verifier=CdsTokenVerifier(issuer_registry(settings, transport), delivery),
        templates=_templates(),
        consent=consent,
    )
    app = FastAPI(
        title="CarePilot",
        version=__version__,
        description="CDS Hooks service, FHIR API and dashboard.",
        # Deny by default: every route, including those of routers added later, passes the policy check first.
        dependencies=[Depends(auth.authorize)],
    )
    app.state.services = services
    app.state.auth = auth_services
    app.add_middleware(
        CORSMiddleware,
        # API tokens travel in the Authorization header; the dashboard's session cookie is SameSite=Strict and
        # credentials are not allowed cross-origin, so a wildcard origin exposes no session.
        allow_origins=settings.cors_origins or ["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Break-Glass-Reason"],
    )
    install_error_handlers(app)
    app.include_router(auth.router)
    install_audit(app)
    app.include_router(cds_hooks.router)
    app.include_router(feedback.router)
    app.include_router(fhir.router)
    app.include_router(model_ops.router)  # before the dashboard: its /models/{id:path} would match these pages
    app.include_router(dashboard.router)
    patient_portal.install(app)
    streams.install(app)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
