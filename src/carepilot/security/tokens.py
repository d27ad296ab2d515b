"""User and system access tokens: OAuth2 bearer JWTs with SMART scopes, verified into a ``Principal``.

A token is accepted only when all hold: the algorithm is asymmetric (ES256/384/512, RS256/384/512, PS256/384; never
``none`` or an HMAC), the issuer is trusted, the signature verifies against that issuer's JWKS (joserfc), ``aud`` is
this service, ``exp`` is in the future, ``nbf`` and ``iat`` are not, and (with single-use tokens, the default) the
``jti`` was never seen before. Claims: ``sub``; ``scope`` (space-separated SMART scopes); ``carepilot_role`` or,
failing that, ``fhirUser`` (``Patient/..`` -> patient, ``Practitioner/..`` -> clinician); ``patient`` (SMART launch
context); ``carepilot_sites`` and ``carepilot_care_team`` (lists); ``carepilot_break_glass`` (a stated reason).

Key files are JWKs; development keys are created under ``CAREPILOT_HOME`` on first use.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from carepilot.errors import CarePilotError, ConfigurationError
from carepilot.security.jwt import LEEWAY_S, PRUNE_EVERY, IssuerRegistry, JtiStore, _segment
from carepilot.security.principal import Principal, Role

ASYMMETRIC_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384")
DEV_USER_ISSUER = "urn:carepilot:dev-user-issuer"
MAX_LIFETIME_S = 24 * 3600
MAX_REASON = 200


class AuthenticationError(CarePilotError):
    """No acceptable credentials (HTTP 401); the message names the failed check."""


class AccessDenied(CarePilotError):
    """Authenticated, but not allowed to do this (HTTP 403); the message says why, never with patient data."""


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v for v in value.replace(",", " ").split() if v)
    if isinstance(value, list):
        return frozenset(str(v) for v in value if isinstance(v, (str, int)) and str(v))
    return frozenset()


def _role(claims: dict[str, Any]) -> Role:
    named = claims.get("carepilot_role")
    if named is not None:
        try:
            return Role(str(named))
        except ValueError as exc:
            raise AuthenticationError(f"role {str(named)[:40]!r} is not one this service knows") from exc
    fhir_user = str(claims.get("fhirUser") or "")
    kind = fhir_user.rsplit("/", 2)[-2] if fhir_user.count("/") >= 1 else ""
    if kind in ("Patient", "RelatedPerson"):
        return Role.PATIENT
    if kind in ("Practitioner", "PractitionerRole"):
        return Role.CLINICIAN
    if any(s.startswith("system/") for s in _strings(claims.get("scope"))):
        return Role.SYSTEM
    raise AuthenticationError("token names no role (carepilot_role or fhirUser)")


def principal_from_claims(claims: dict[str, Any], issuer: str) -> Principal:
    """The Principal a verified token describes; AuthenticationError when its claims are inconsistent."""
    role = _role(claims)
    scopes = _strings(claims.get("scope")) | _strings(claims.get("scp"))
    patient = claims.get("patient")
    fhir_user = str(claims.get("fhirUser") or "")
    if patient is None and role is Role.PATIENT and "Patient/" in fhir_user:
        patient = fhir_user.rsplit("Patient/", 1)[1]
    if role is Role.PATIENT and not (isinstance(patient, str) and patient):
        raise AuthenticationError("a patient token must name its patient (SMART 'patient' claim)")
    if role is Role.SYSTEM and not any(s.startswith("system/") for s in scopes):
        raise AuthenticationError("a system token must carry system/ scopes")
    reason = claims.get("carepilot_break_glass")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationError("token has no 'sub' claim")
    return Principal(
        subject=sub[:200],
        role=role,
        scopes=scopes,
        patient=str(patient) if isinstance(patient, str) and patient else None,
        sites=_strings(claims.get("carepilot_sites")),
        care_team=_strings(claims.get("carepilot_care_team")),
        issuer=issuer,
        break_glass=str(reason)[:MAX_REASON] if isinstance(reason, str) and reason.strip() else None,
    )


class AccessTokenVerifier:
    """Verifies bearer access tokens against the trusted issuers; records each ``jti`` when tokens are single-use."""

    def __init__(
        self,
        issuers: IssuerRegistry,
        jti_store: JtiStore,
        *,
        single_use: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuers = issuers
        self.jti_store = jti_store
        self.single_use = single_use
        self.clock = clock
        self._claims = 0

    def claims(self, token: str, audiences: Collection[str], *, single_use: bool | None = None) -> dict[str, Any]:
        """The verified claims of a compact JWT; AuthenticationError naming the first failed check."""
        header = _checked_segment(token, 0)
        alg = header.get("alg")
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise AuthenticationError(f"algorithm {str(alg)[:20]!r} is not accepted (asymmetric algorithms only)")
        iss = _checked_segment(token, 1).get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthenticationError("token has no 'iss' claim")
        if iss not in self.issuers.issuers:
            raise AuthenticationError("token issuer is not trusted by this service")
        keys = self._keys(iss)
        try:
            claims = jwt.decode(token, keys, algorithms=[alg]).claims
        except (jose_errors.JoseError, ValueError) as exc:
            raise AuthenticationError(f"signature does not verify ({type(exc).__name__})") from exc
        self._check(claims, audiences)
        once = self.single_use if single_use is None else single_use
        if once:
            expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
            if not self.jti_store.claim_jti(iss, str(claims["jti"]), expires):
                raise AuthenticationError("token id (jti) was already used: replay refused")
            self._claims += 1
            if self._claims % PRUNE_EVERY == 0:  # expired ids can go: their tokens fail the exp check anyway
                self.jti_store.prune_jti()
        return claims

    def verify(self, token: str, audiences: Collection[str]) -> Principal:
        """The Principal of a bearer token."""
        claims = self.claims(token, audiences)
        return principal_from_claims(claims, str(claims["iss"]))

    def _keys(self, iss: str) -> KeySet:
        try:
            return self.issuers.keys_for(iss)
        except CarePilotError as exc:
            raise AuthenticationError(str(exc)) from exc

    def _check(self, claims: dict[str, Any], audiences: Collection[str]) -> None:
        now = self.clock()
        for name in ("iss", "aud", "exp", "iat", "jti"):
            if name not in claims:
                raise AuthenticationError(f"token has no {name!r} claim")
        aud = claims["aud"]
        given = (
            {aud}
            if isinstance(aud, str)
            else {a for a in aud if isinstance(a, str)}
            if isinstance(aud, list)
            else set()
        )
        wanted = {a.rstrip("/") for a in audiences}
        if not {g.rstrip("/") for g in given} & wanted:
            raise AuthenticationError("token audience (aud) is not this service")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat, nbf)):
            raise AuthenticationError("'exp', 'iat' and 'nbf' must be numbers (seconds since the epoch)")
        if exp <= now - LEEWAY_S:
            raise AuthenticationError("token has expired")
        if nbf > now + LEEWAY_S:
            raise AuthenticationError("token is not valid yet (nbf)")
        if iat > now + LEEWAY_S:
            raise AuthenticationError("token was issued in the future (iat)")
        if exp - iat > MAX_LIFETIME_S:
            raise AuthenticationError("token lifetime is longer than this service accepts")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise AuthenticationError("'jti' must be a non-empty string")


def _checked_segment(token: str, index: int) -> dict[str, Any]:
    try:
        return _segment(token, index)
    except CarePilotError as exc:
        raise AuthenticationError(str(exc)) from exc


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, None when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization header is not 'Bearer <jwt>'")
    return token.strip()


# -- keys and minting -----------------------------------------------------------------------------------------------
def ensure_key(folder: Path) -> ECKey:
    """A P-384 signing key kept in ``folder`` (created with mode 0600 on first use): development keys only."""
    private_path = folder / "private.jwk.json"
    if private_path.exists():
        return ECKey.import_key(orjson.loads(private_path.read_bytes()))
    folder.mkdir(parents=True, exist_ok=True)
    key = ECKey.generate_key("P-384", parameters={"alg": "ES384", "use": "sig"}, auto_kid=True)
    private_path.write_bytes(orjson.dumps(key.as_dict(private=True)))
    private_path.chmod(0o600)
    return key


def load_signing_key(path: Path) -> ECKey | RSAKey:
    """The service's private signing key from a JWK file; ConfigurationError if it is not a private EC/RSA key."""
    try:
        raw = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(f"token signing key {path} cannot be read ({type(exc).__name__})") from exc
    kty = raw.get("kty") if isinstance(raw, dict) else None
    if kty not in ("EC", "RSA") or "d" not in raw:
        raise ConfigurationError(f"token signing key {path} must be a private EC or RSA JWK (symmetric keys refused)")
    try:
        key: ECKey | RSAKey = ECKey.import_key(raw) if kty == "EC" else RSAKey.import_key(raw)
    except (ValueError, jose_errors.JoseError) as exc:
        raise ConfigurationError(f"token signing key {path} is not a valid JWK ({type(exc).__name__})") from exc
    if not key.kid:
        key.ensure_kid()
    return key


def key_algorithm(key: ECKey | RSAKey) -> str:
    """The JWS algorithm a key signs with (its ``alg``, else ES384 for P-384 / ES256 for P-256 / RS384 for RSA)."""
    alg = key.get("alg")
    if isinstance(alg, str) and alg in ASYMMETRIC_ALGORITHMS:
        return alg
    if isinstance(key, RSAKey):
        return "RS384"
    return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(str(key.get("crv")), "ES384")


def public_jwks(keys: Iterable[ECKey | RSAKey]) -> dict[str, Any]:
    """A JWKS document of the public halves of ``keys``."""
    return {"keys": [k.as_dict(private=False) for k in keys]}


def mint_access_token(
    key: ECKey | RSAKey,
    *,
    iss: str,
    aud: str,
    sub: str,
    role: str | None,
    scopes: Iterable[str],
    patient: str | None = None,
    sites: Iterable[str] = (),
    care_team: Iterable[str] = (),
    lifetime_s: int = 300,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
    alg: str | None = None,
) -> str:
    """A signed access token carrying SMART scopes and CarePilot's role/site claims."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "exp": issued + lifetime_s,
        "iat": issued,
        "nbf": issued,
        "jti": str(uuid.uuid4()),
        "scope": " ".join(scopes),
    }
    if role:
        claims["carepilot_role"] = role
    if patient:
        claims["patient"] = patient
    if sites:
        claims["carepilot_sites"] = sorted(sites)
    if care_team:
        claims["carepilot_care_team"] = sorted(care_team)
    claims.update(extra or {})
    algorithm = alg or key_algorithm(key)
    header = {"alg": algorithm, "typ": "at+jwt"}
    if key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key, algorithms=[algorithm])
