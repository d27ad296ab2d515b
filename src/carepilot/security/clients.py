"""SMART Backend Services: registered system clients and the ``client_credentials`` grant with ``private_key_jwt``.

A client authenticates with a client assertion it signed with its own key (SMART App Launch 2, "Backend Services":
``iss`` = ``sub`` = client_id, ``aud`` = the token endpoint, ``exp`` at most five minutes ahead, ``jti`` used once);
the service answers with a short-lived access token signed by its own key, with the requested scopes narrowed to
the ones the client is registered for.

Client file (JSON ``{"clients": [...]}`` or TOML ``[[client]]``): ``client_id``, one of ``jwks`` / ``jwks_file`` /
``jwks_url``, and ``scopes`` (e.g. ``"system/*.rs"``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from joserfc.jwk import ECKey, RSAKey

from carepilot.errors import CarePilotError, ConfigurationError
from carepilot.security.jwt import IssuerRegistry, TrustedIssuer
from carepilot.security.principal import Role
from carepilot.security.scopes import narrow
from carepilot.security.tokens import AccessTokenVerifier, AuthenticationError, mint_access_token

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_S = 300


class TokenRequestError(CarePilotError):
    """An OAuth2 token request is refused; ``error`` is the RFC 6749 section 5.2 code."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class SystemClients:
    """Registered backend clients: their keys (as an issuer registry keyed by client_id) and allowed scopes."""

    keys: IssuerRegistry = field(default_factory=IssuerRegistry)
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, client_id: str, scopes: tuple[str, ...], **where: Any) -> None:
        self.keys.add(TrustedIssuer(iss=client_id, **where))
        self.scopes[client_id] = scopes


def load_clients(path: Path, transport: httpx.BaseTransport | None = None) -> SystemClients:
    """Read the system client file; ConfigurationError naming the entry that is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else orjson.loads(text)
    except (OSError, tomllib.TOMLDecodeError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(f"system client file {path} cannot be read: {exc}") from exc
    entries = raw.get("clients", raw.get("client")) if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"system client file {path} has no 'clients' list (JSON) or [[client]] tables (TOML)")
    clients = SystemClients(keys=IssuerRegistry(transport=transport))
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("client_id"):
            raise ConfigurationError(f"system client file {path}: entry {index} has no 'client_id'")
        scopes = entry.get("scopes", "system/*.rs")
        scope_list = tuple(scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes])
        if any(not s.startswith("system/") for s in scope_list):
            raise ConfigurationError(f"system client file {path}: entry {index} may hold only system/ scopes")
        jwks_file = entry.get("jwks_file")
        if not (entry.get("jwks") or jwks_file or entry.get("jwks_url")):
            raise ConfigurationError(f"system client file {path}: entry {index} has no jwks, jwks_file or jwks_url")
        clients.add(
            str(entry["client_id"]),
            scope_list,
            jwks=entry.get("jwks"),
            jwks_file=(path.parent / jwks_file) if jwks_file else None,
            jwks_url=entry.get("jwks_url"),
        )
    return clients


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str

    def as_json(self) -> dict[str, Any]:
        """The RFC 6749 section 5.1 response body."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


class TokenIssuer:
    """The token endpoint's logic: checks the client assertion and signs an access token for the client."""

    def __init__(
        self,
        clients: SystemClients,
        assertions: AccessTokenVerifier,
        key: ECKey | RSAKey,
        issuer: str,
        lifetime_s: int,
    ) -> None:
        self.clients = clients
        self.assertions = assertions
        self.key = key
        self.issuer = issuer
        self.lifetime_s = lifetime_s

    def issue(self, form: dict[str, str], token_endpoint: str, audience: str) -> IssuedToken:
        """Answer one ``client_credentials`` request; TokenRequestError with the OAuth2 error code otherwise."""
        if form.get("grant_type") != "client_credentials":
            raise TokenRequestError("unsupported_grant_type", "only grant_type=client_credentials is supported")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenRequestError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion") or ""
        if not assertion:
            raise TokenRequestError("invalid_request", "client_assertion is missing")
        try:
            claims = self.assertions.claims(assertion, (token_endpoint,), single_use=True)
        except AuthenticationError as exc:
            raise TokenRequestError("invalid_client", f"client assertion refused: {exc}") from exc
        client_id = str(claims["iss"])
        if claims.get("sub") != client_id:
            raise TokenRequestError("invalid_client", "client assertion 'sub' must equal its 'iss' (the client_id)")
        if float(claims["exp"]) - float(claims["iat"]) > MAX_ASSERTION_LIFETIME_S:
            raise TokenRequestError("invalid_client", "client assertion may live at most five minutes")
        requested = (form.get("scope") or "").split()
        allowed = self.clients.scopes.get(client_id, ())
        granted = narrow(requested, allowed) if requested else list(allowed)
        if not granted:
            raise TokenRequestError("invalid_scope", "none of the requested scopes is allowed for this client")
        token = mint_access_token(
            self.key,
            iss=self.issuer,
            aud=audience,
            sub=client_id,
            role=Role.SYSTEM.value,
            scopes=granted,
            lifetime_s=self.lifetime_s,
        )
        return IssuedToken(token, self.lifetime_s, " ".join(granted))
