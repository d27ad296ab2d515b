"""Bad tokens for the authentication tests: each breaks exactly one rule a verifier must enforce."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from carepilot.security.tokens import mint_access_token


class MemoryJti:
    """An in-memory jti store (the database one is covered by the integration tests)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def claim_jti(self, iss: str, jti: str, expires_at: datetime) -> bool:
        if (iss, jti) in self.seen:
            return False
        self.seen.add((iss, jti))
        return True

    def prune_jti(self, now: datetime | None = None) -> int:
        return 0


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` token (empty signature)."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def claims_of(token: str) -> dict[str, Any]:
    raw = token.split(".")[1]
    return orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def bad_tokens(key: ECKey, iss: str, aud: str, extra: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Name -> maker of a token that must be refused (401), built around a valid ``key``/``iss``/``aud``.

    ``extra`` holds the claims a valid token of this kind carries (role, scope, sub ...).
    """

    def valid(**override: Any) -> str:
        now = override.pop("now", None)
        return mint_access_token(
            override.pop("key", key),
            iss=override.pop("iss", iss),
            aud=override.pop("aud", aud),
            sub=extra.get("sub", "test-user"),
            role=extra.get("carepilot_role"),
            scopes=str(extra.get("scope", "")).split(),
            now=now,
            extra={k: v for k, v in extra.items() if k not in ("sub", "carepilot_role", "scope")} | override,
        )

    def hs256() -> str:
        # The classic algorithm-confusion attack: HMAC keyed with the issuer's public key bytes.
        claims = claims_of(valid())
        secret = OctKey.import_key(orjson.dumps(key.as_dict(private=False)))
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, secret, algorithms=["HS256"])

    def forged() -> str:
        other = ECKey.generate_key("P-384", parameters={"alg": "ES384"})
        other_kid = key.kid
        header = {"alg": "ES384", "typ": "JWT", "kid": other_kid}
        return jwt.encode(header, claims_of(valid()), other, algorithms=["ES384"])

    def unknown_issuer() -> str:
        stranger = ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
        return valid(key=stranger, iss=f"https://issuer-{uuid.uuid4().hex[:6]}.example.org")

    now = time.time()
    return {
        "missing": lambda: "",
        "garbage": lambda: "not-a-jwt",
        "forged signature": forged,
        "expired": lambda: valid(now=now - 7200),
        "not yet valid": lambda: valid(nbf=int(now) + 3600),
        "issued in the future": lambda: valid(now=now + 3600),
        "wrong audience": lambda: valid(aud="https://elsewhere.example.org/fhir"),
        "alg none": lambda: unsigned(claims_of(valid())),
        "HS256": hs256,
        "unknown issuer": unknown_issuer,
    }
