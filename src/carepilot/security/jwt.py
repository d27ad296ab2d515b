"""CDS client authentication: the JWT a CDS Client sends with every hook call (CDS Hooks 2.0.1, "Trusting CDS Clients").

A token is accepted only when all hold: the algorithm is ES384 or RS384 (never ``none`` or an HMAC), the issuer is on
the allow-list, the signature verifies against that issuer's JWKS (from a file, inline, or fetched from a URL and
cached), ``aud`` is this service's endpoint URL, ``exp`` is in the future, ``iat`` is not, and the ``jti`` was never
seen before (seen ids are kept in the database until they expire). Signing and verifying use joserfc.

In development mode a local issuer key pair is created under ``CAREPILOT_HOME/dev-issuer`` and trusted, so that
``carepilot auth cds-token`` can print a token for curl.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from carepilot.errors import CarePilotError, ConfigurationError

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("ES384", "RS384")
DEV_ISSUER = "urn:carepilot:dev-cds-client"
LEEWAY_S = 30
JWKS_TTL_S = 300.0


class CdsAuthError(CarePilotError):
    """A CDS client's token is missing or not acceptable (HTTP 401); the message says which check failed."""


class JtiStore(Protocol):
    def claim_jti(self, iss: str, jti: str, expires_at: datetime) -> bool: ...
    def prune_jti(self, now: datetime | None = None) -> int: ...


PRUNE_EVERY = 1000


@dataclass(frozen=True)
class VerifiedClient:
    iss: str
    sub: str | None
    jti: str
    tenant: str | None = None


@dataclass
class TrustedIssuer:
    """One allow-listed CDS client: its issuer id and where its public keys are."""

    iss: str
    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None


@dataclass
class IssuerRegistry:
    """The allow-list, with each issuer's key set loaded from a file or fetched (and cached) from its JWKS URL."""

    issuers: dict[str, TrustedIssuer] = field(default_factory=dict)
    transport: httpx.BaseTransport | None = None
    _cache: dict[str, tuple[float, KeySet]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, issuer: TrustedIssuer) -> None:
        self.issuers[issuer.iss] = issuer

    def keys_for(self, iss: str) -> KeySet:
        """The issuer's public key set; raises CdsAuthError when the issuer is not trusted or its keys are unreachable."""
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise CdsAuthError("issuer is not on this service's allow-list")
        with self._lock:
            cached = self._cache.get(iss)
            if cached is not None and (issuer.jwks_url is None or time.monotonic() - cached[0] < JWKS_TTL_S):
                return cached[1]
        keyset = KeySet.import_key_set(self._load(issuer))  # type: ignore[arg-type]
        with self._lock:
            self._cache[iss] = (time.monotonic(), keyset)
        return keyset

    def _load(self, issuer: TrustedIssuer) -> dict[str, Any]:
        if issuer.jwks is not None:
            return issuer.jwks
        if issuer.jwks_file is not None:
            try:
                return orjson.loads(issuer.jwks_file.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise CdsAuthError(f"JWKS file of issuer cannot be read ({type(exc).__name__})") from exc
        if issuer.jwks_url is not None:
            try:
                with httpx.Client(transport=self.transport, timeout=5.0) as client:
                    response = client.get(issuer.jwks_url)
                    response.raise_for_status()
                    return orjson.loads(response.content)
            except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
                raise CdsAuthError(f"JWKS URL of issuer cannot be fetched ({type(exc).__name__})") from exc
        raise CdsAuthError("issuer has no keys configured")


def load_issuers(path: Path, transport: httpx.BaseTransport | None = None) -> IssuerRegistry:
    """Read the allow-list file (JSON ``{"issuers": [...]}`` or TOML ``[[issuer]]`` tables).

    Each entry has ``iss`` and one of ``jwks`` (inline), ``jwks_file`` (relative to the list) or ``jwks_url``.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else orjson.loads(text)
    except (OSError, tomllib.TOMLDecodeError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(f"CDS issuer list {path} cannot be read: {exc}") from exc
    entries = raw.get("issuers", raw.get("issuer")) if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"CDS issuer list {path} has no 'issuers' list (JSON) or [[issuer]] tables (TOML)")
    registry = IssuerRegistry(transport=transport)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("iss"):
            raise ConfigurationError(f"CDS issuer list {path}: entry {index} has no 'iss'")
        jwks_file = entry.get("jwks_file")
        registry.add(
            TrustedIssuer(
                iss=str(entry["iss"]),
                jwks=entry.get("jwks"),
                jwks_file=(path.parent / jwks_file) if jwks_file else None,
                jwks_url=entry.get("jwks_url"),
            )
        )
    return registry


def _segment(token: str, index: int) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise CdsAuthError("token is not a compact JWS (three dot-separated parts)")
    raw = parts[index]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise CdsAuthError("token header or payload is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise CdsAuthError("token header or payload is not a JSON object")
    return value


class CdsTokenVerifier:
    """Verifies CDS client JWTs against the issuer allow-list and records each ``jti``."""

    def __init__(self, issuers: IssuerRegistry, jti_store: JtiStore, clock: Callable[[], float] = time.time) -> None:
        self.issuers = issuers
        self.jti_store = jti_store
        self.clock = clock
        self._claims = 0

    def verify(self, authorization: str | None, audiences: Collection[str]) -> VerifiedClient:
        """Check the ``Authorization: Bearer`` header; raises CdsAuthError naming the failed check."""
        if not authorization or not authorization.startswith("Bearer "):
            raise CdsAuthError("missing 'Authorization: Bearer <jwt>' header")
        token = authorization[len("Bearer ") :].strip()
        header = _segment(token, 0)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise CdsAuthError(f"algorithm {alg!r} is not accepted (only {', '.join(ALLOWED_ALGORITHMS)})")
        unverified = _segment(token, 1)
        iss = unverified.get("iss")
        if not isinstance(iss, str) or not iss:
            raise CdsAuthError("token has no 'iss' claim")
        keys = self.issuers.keys_for(iss)
        try:
            decoded = jwt.decode(token, keys, algorithms=[alg])
        except jose_errors.JoseError as exc:
            raise CdsAuthError(f"signature does not verify ({type(exc).__name__})") from exc
        claims = decoded.claims
        self._check_claims(claims, audiences)
        expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
        if not self.jti_store.claim_jti(iss, str(claims["jti"]), expires):
            raise CdsAuthError("token id (jti) was already used: replay refused")
        self._claims += 1
        if self._claims % PRUNE_EVERY == 0:  # expired ids can go: their tokens fail the exp check anyway
            self.jti_store.prune_jti()
        return VerifiedClient(iss=iss, sub=claims.get("sub"), jti=str(claims["jti"]), tenant=claims.get("tenant"))

    def _check_claims(self, claims: dict[str, Any], audiences: Collection[str]) -> None:
        now = self.clock()
        for name in ("iss", "aud", "exp", "iat", "jti"):
            if name not in claims:
                raise CdsAuthError(f"token has no {name!r} claim")
        aud = claims["aud"]
        given = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        if not given & {a.rstrip("/") for a in audiences} and not given & set(audiences):
            raise CdsAuthError("token audience (aud) is not this service's endpoint")
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
            raise CdsAuthError("'exp' and 'iat' must be numbers (seconds since the epoch)")
        if exp <= now - LEEWAY_S:
            raise CdsAuthError("token has expired")
        if iat > now + LEEWAY_S:
            raise CdsAuthError("token was issued in the future (iat)")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > now + LEEWAY_S):
            raise CdsAuthError("token is not valid yet (nbf)")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise CdsAuthError("'jti' must be a non-empty string")


# -- development issuer and token minting ---------------------------------------------------------------------------
def dev_issuer_dir(home: Path) -> Path:
    return home / "dev-issuer"


def ensure_dev_issuer(home: Path) -> ECKey:
    """The local development issuer's private key (P-384), created on first use under ``home/dev-issuer``."""
    folder = dev_issuer_dir(home)
    private_path = folder / "private.jwk.json"
    if private_path.exists():
        return ECKey.import_key(orjson.loads(private_path.read_bytes()))
    folder.mkdir(parents=True, exist_ok=True)
    key = ECKey.generate_key("P-384", parameters={"alg": "ES384", "use": "sig"}, auto_kid=True)
    private_path.write_bytes(orjson.dumps(key.as_dict(private=True)))
    private_path.chmod(0o600)
    (folder / "jwks.json").write_bytes(orjson.dumps({"keys": [key.as_dict(private=False)]}))
    return key


def dev_issuer(home: Path) -> TrustedIssuer:
    """The development issuer as an allow-list entry."""
    key = ensure_dev_issuer(home)
    return TrustedIssuer(iss=DEV_ISSUER, jwks={"keys": [key.as_dict(private=False)]})


def mint_token(
    key: ECKey | RSAKey,
    *,
    iss: str,
    aud: str,
    lifetime_s: int = 300,
    alg: str = "ES384",
    jti: str | None = None,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed CDS client JWT (for development, tests and benchmarks)."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": iss, "aud": aud, "exp": issued + lifetime_s, "iat": issued, "jti": jti or str(uuid.uuid4())}
    claims.update(extra or {})
    header = {"alg": alg, "typ": "JWT"}
    kid = key.kid
    if kid:
        header["kid"] = kid
    return jwt.encode(header, claims, key, algorithms=[alg])
