"""Authentication and authorisation at the HTTP edge: one app-wide dependency, the token endpoint, SMART discovery.

``authorize`` runs before every route of the app (``create_app`` installs it as an app dependency, so routers added
later are covered without touching them): it looks the route up in ``security/policy.py`` (no policy: 403), lets
public and CDS-client routes through (CDS routes check their own client JWT), and otherwise builds the Principal from
the bearer token (or, on dashboard routes, the session cookie), checks role and SMART scope, then every patient the
request names; the Principal is left on ``request.state.principal``.

``build_auth`` refuses to start outside development mode without a session secret and a signing key of its own.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import JSONResponse
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from carepilot.config import Settings
from carepilot.errors import ConfigurationError
from carepilot.security.clients import ASSERTION_TYPE, SystemClients, TokenIssuer, TokenRequestError, load_clients
from carepilot.security.jwt import IssuerRegistry, JtiStore, TrustedIssuer, load_issuers
from carepilot.security.policy import Access, Rule, check_patients, check_scope, may_see, patient_ids, rule_for
from carepilot.security.principal import Principal
from carepilot.security.scopes import CONTEXTS
from carepilot.security.sessions import COOKIE, SessionStore
from carepilot.security.tokens import (
    ASYMMETRIC_ALGORITHMS,
    DEV_USER_ISSUER,
    AccessDenied,
    AccessTokenVerifier,
    AuthenticationError,
    bearer,
    ensure_key,
    load_signing_key,
    public_jwks,
)
from carepilot.store import tables as t
from carepilot.store.db import Database

log = logging.getLogger(__name__)

BREAK_GLASS_HEADER = "x-break-glass-reason"
SERVICE_ISSUER = "urn:carepilot:service"
MIN_SECRET = 32
KNOWN_DEFAULTS = frozenset({"changeme", "change-me", "secret", "carepilot", "password", "development", "dev"})


def dev_user_issuer_dir(settings: Settings) -> Any:
    return settings.home / "dev-user-issuer"


def service_key_dir(settings: Settings) -> Any:
    return settings.home / "dev-service-key"


class AccessLookups:
    """The two facts the policy needs from the store: who owns a resource or Insight, and a patient's site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def owner_of(self, kind: str, resource_type: str, item_id: str) -> str | None:
        """The patient id behind a FHIR resource (record or write-back) or an Insight; None when unknown."""
        with self.db.read() as conn:
            if kind == "insight":
                return conn.execute(select(t.insights.c.patient_id).where(t.insights.c.id == item_id)).scalar()
            for table in (t.resources, t.writeback):
                found = conn.execute(
                    select(table.c.patient_id).where(
                        table.c.resource_type == resource_type, table.c.resource_id == item_id
                    )
                ).scalar()
                if found:
                    return str(found)
        return None

    def site_of(self, patient_id: str) -> str | None:
        """The patient's site (managing organisation) as ingested; None when unknown."""
        with self.db.read() as conn:
            return conn.execute(select(t.patients.c.site).where(t.patients.c.patient_id == patient_id)).scalar()

    def sites(self) -> dict[str, str | None]:
        """Every patient's site (for filtering lists)."""
        with self.db.read() as conn:
            return {r.patient_id: r.site for r in conn.execute(select(t.patients.c.patient_id, t.patients.c.site))}


@dataclass
class AuthServices:
    """What authentication needs at request time, built once by ``build_auth``."""

    settings: Settings
    verifier: AccessTokenVerifier
    sessions: SessionStore
    tokens: TokenIssuer
    lookups: AccessLookups
    service_key: ECKey | RSAKey
    service_issuer: str
    dev_key: ECKey | None = None

    def audiences(self, base: str) -> tuple[str, ...]:
        """The ``aud`` values access tokens may carry: the configured audience, else this service or its FHIR base."""
        if self.settings.auth_audience:
            return (self.settings.auth_audience,)
        return (base, f"{base}/fhir")


def _check_secret(settings: Settings) -> bytes:
    if settings.session_secret is None:
        if settings.dev:
            return secrets.token_bytes(32)  # development sessions last as long as the process
        raise ConfigurationError(
            "CAREPILOT_SESSION_SECRET is not set: refusing to start outside development mode (CAREPILOT_DEV=1)"
        )
    value = settings.session_secret.get_secret_value()
    if not settings.dev and (len(value) < MIN_SECRET or value.lower() in KNOWN_DEFAULTS or len(set(value)) < 8):
        raise ConfigurationError(
            f"CAREPILOT_SESSION_SECRET is a default or weak value (use at least {MIN_SECRET} random characters)"
        )
    return value.encode()


def _service_key(settings: Settings) -> ECKey | RSAKey:
    if settings.token_key is not None:
        dev_dirs = (service_key_dir(settings).resolve(), dev_user_issuer_dir(settings).resolve())
        if not settings.dev and settings.token_key.resolve().parent in dev_dirs:
            raise ConfigurationError("CAREPILOT_TOKEN_KEY points at a development key: refusing to start")
        return load_signing_key(settings.token_key)
    if settings.dev:
        return ensure_key(service_key_dir(settings))
    raise ConfigurationError(
        "CAREPILOT_TOKEN_KEY (the service's private signing JWK) is not set: refusing to start outside development mode"
    )


def build_auth(
    settings: Settings, db: Database, jti_store: JtiStore, transport: httpx.BaseTransport | None = None
) -> AuthServices:
    """Trusted issuers, system clients, the service's key and the session store; refuses unsafe settings."""
    secret = _check_secret(settings)
    key = _service_key(settings)
    service_issuer = settings.public_url.rstrip("/") if settings.public_url else SERVICE_ISSUER
    issuers = (
        load_issuers(settings.auth_issuers, transport) if settings.auth_issuers else IssuerRegistry(transport=transport)
    )
    issuers.add(TrustedIssuer(iss=service_issuer, jwks=public_jwks([key])))
    dev_key = None
    if settings.dev:
        dev_key = ensure_key(dev_user_issuer_dir(settings))
        issuers.add(TrustedIssuer(iss=DEV_USER_ISSUER, jwks=public_jwks([dev_key])))
    clients = load_clients(settings.system_clients, transport) if settings.system_clients else SystemClients()
    if len(issuers.issuers) == 1 and not clients.scopes:
        log.warning("no user token issuer or system client is configured: only the service's own tokens are accepted")
    verifier = AccessTokenVerifier(issuers, jti_store, single_use=settings.single_use_tokens)
    assertions = AccessTokenVerifier(clients.keys, jti_store, single_use=True)
    return AuthServices(
        settings=settings,
        verifier=verifier,
        sessions=SessionStore(
            db,
            secret,
            idle=timedelta(minutes=settings.session_idle_minutes),
            max_age=timedelta(hours=settings.session_max_hours),
        ),
        tokens=TokenIssuer(clients, assertions, key, service_issuer, settings.token_lifetime_s),
        lookups=AccessLookups(db),
        service_key=key,
        service_issuer=service_issuer,
        dev_key=dev_key,
    )


def request_base(request: Request) -> str:
    """Where clients reach this service: the configured public URL, else the URL of this request."""
    configured = request.app.state.services.settings.public_url
    return str(configured or request.base_url).rstrip("/")


def principal_from_request(request: Request, *, session: bool) -> Principal:
    """The caller's Principal from a bearer token (or, when ``session``, the dashboard cookie)."""
    auth: AuthServices = request.app.state.auth
    token = bearer(request.headers.get("authorization"))
    if token is not None:
        return auth.verifier.verify(token, auth.audiences(request_base(request)))
    if session:
        found = auth.sessions.resolve(request.cookies.get(COOKIE))
        if found is not None:
            return found
        raise AuthenticationError("not signed in, or the session ended (sign in again)")
    raise AuthenticationError("missing 'Authorization: Bearer <access token>' header")


def route_path(request: Request) -> str | None:
    """The matched route's full path template (with the prefixes of the routers it was included through)."""
    # FastAPI keeps routers included into the app as one branch each and records the effective (prefixed) route
    # in its own scope key; the plain ``scope["route"]`` is the route as its router declared it.
    effective = (request.scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(request.scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


def route_table(app: FastAPI) -> list[tuple[str, str, bool]]:
    """Every (method, path template, is an API route) the app serves, through included routers too."""
    from fastapi.routing import APIRoute, iter_route_contexts

    table = []
    for context in iter_route_contexts(app.routes):
        is_api = isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or {""}):
            table.append((method, context.path or "", is_api))
    return table


async def authorize(request: Request) -> None:
    """The app-wide access check (deny by default); sets ``request.state.principal`` on user routes."""
    path = route_path(request)
    rule = rule_for(request.method, path) if isinstance(path, str) else None
    if rule is None:
        raise AccessDenied("this route has no access policy")
    if rule.access is not Access.USER:
        return  # async on purpose: public and CDS Hooks calls pay no thread hop for the policy look-up
    await run_in_threadpool(_authorize_user, request, rule, path)


def _authorize_user(request: Request, rule: Rule, path: str | None) -> None:
    """Token or session, role and scope, then every patient the request names (database reads: in a thread)."""
    principal = principal_from_request(request, session=rule.session)
    reason = (request.headers.get(BREAK_GLASS_HEADER) or "").strip()
    if reason:
        principal = replace(principal, break_glass=reason[:200])
    check_scope(principal, rule, request.path_params)
    lookups: AccessLookups = request.app.state.auth.lookups
    named = patient_ids(rule, request.path_params, request.query_params, lookups.owner_of)
    if not check_patients(principal, named, lookups.site_of) and principal.break_glass:
        principal = replace(principal, break_glass=None)  # not needed: nothing for the audit trail to flag
    if principal.break_glass:
        log.warning("break-glass access by %s on %s", principal.actor, path)
    request.state.principal = principal


def visible_patients(request: Request, patient_ids_: list[str]) -> list[str]:
    """The ids of a listing the caller may see (lists never use break-glass)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return []
    lookups: AccessLookups = request.app.state.auth.lookups
    sites = lookups.sites() if principal.sites and "*" not in principal.sites else {}
    return [pid for pid in patient_ids_ if may_see(principal, pid, sites.get)]


AuthorizeDep = Depends(authorize)

# -- the token endpoint and SMART discovery -------------------------------------------------------------------------
router = APIRouter(tags=["auth"])


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request) -> dict[str, Any]:
    """SMART App Launch 2 discovery: the token endpoint, its key set and what it supports."""
    base = request_base(request)
    auth: AuthServices = request.app.state.auth
    return {
        "issuer": auth.service_issuer,
        "jwks_uri": f"{base}/auth/jwks",
        "token_endpoint": f"{base}/auth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASYMMETRIC_ALGORITHMS),
        "scopes_supported": [f"{c}/*.rs" for c in CONTEXTS] + ["openid", "fhirUser", "launch/patient"],
        "capabilities": ["permission-v2", "client-confidential-asymmetric", "context-ehr-patient"],
        "code_challenge_methods_supported": ["S256"],
    }


@router.get("/auth/jwks")
def jwks(request: Request) -> dict[str, Any]:
    """The public key set of the service's own access tokens."""
    auth: AuthServices = request.app.state.auth
    return public_jwks([auth.service_key])


@router.post("/auth/token")
def token(
    request: Request,
    grant_type: Annotated[str, Form()],
    client_assertion_type: Annotated[str, Form()] = "",
    client_assertion: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
) -> JSONResponse:
    """SMART Backend Services token endpoint: ``client_credentials`` with a ``private_key_jwt`` client assertion."""
    auth: AuthServices = request.app.state.auth
    base = request_base(request)
    form = {
        "grant_type": grant_type,
        "client_assertion_type": client_assertion_type,
        "client_assertion": client_assertion,
        "scope": scope,
    }
    try:
        issued = auth.tokens.issue(form, f"{base}/auth/token", auth.audiences(base)[-1])
    except TokenRequestError as exc:
        status = 401 if exc.error == "invalid_client" else 400
        return JSONResponse(
            {"error": exc.error, "error_description": str(exc)},
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse(issued.as_json(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


__all__ = ["ASSERTION_TYPE", "AuthorizeDep", "authorize", "build_auth", "router", "visible_patients"]
