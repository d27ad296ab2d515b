"""CDS client JWT checks: every forged, stale, misdirected, weak or replayed token is refused."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from carepilot.security.jwt import (
    CdsAuthError,
    CdsTokenVerifier,
    IssuerRegistry,
    TrustedIssuer,
    load_issuers,
    mint_token,
)

ISS = "https://ehr.example.test"
AUD = "http://cds.example.test/cds-services/carepilot-patient-view"


class MemoryJti:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def claim_jti(self, iss: str, jti: str, expires_at: datetime) -> bool:
        if (iss, jti) in self.seen:
            return False
        self.seen.add((iss, jti))
        return True

    def prune_jti(self, now: datetime | None = None) -> int:
        return 0


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"alg": "RS384"}, auto_kid=True)


@pytest.fixture
def verifier(ec_key, rsa_key) -> CdsTokenVerifier:
    registry = IssuerRegistry()
    registry.add(TrustedIssuer(ISS, jwks={"keys": [ec_key.as_dict(private=False), rsa_key.as_dict(private=False)]}))
    return CdsTokenVerifier(registry, MemoryJti())


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_es384_and_rs384_tokens_are_accepted(verifier, ec_key, rsa_key):
    assert verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud=AUD)), [AUD]).iss == ISS
    assert verifier.verify(bearer(mint_token(rsa_key, iss=ISS, aud=AUD, alg="RS384")), [AUD]).iss == ISS


def test_replayed_jti_is_refused(verifier, ec_key):
    token = mint_token(ec_key, iss=ISS, aud=AUD)
    verifier.verify(bearer(token), [AUD])
    with pytest.raises(CdsAuthError, match="replay"):
        verifier.verify(bearer(token), [AUD])


def test_forged_signature_is_refused(verifier):
    other = ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
    with pytest.raises(CdsAuthError, match="signature"):
        verifier.verify(bearer(mint_token(other, iss=ISS, aud=AUD)), [AUD])


def test_tampered_payload_is_refused(verifier, ec_key):
    header, _payload, signature = mint_token(ec_key, iss=ISS, aud=AUD).split(".")
    claims = {
        "iss": ISS,
        "aud": AUD,
        "exp": int(time.time()) + 300,
        "iat": int(time.time()),
        "jti": "other",
        "sub": "admin",
    }
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    with pytest.raises(CdsAuthError, match="signature"):
        verifier.verify(bearer(f"{header}.{forged}.{signature}"), [AUD])


def test_expired_token_is_refused(verifier, ec_key):
    with pytest.raises(CdsAuthError, match="expired"):
        verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud=AUD, now=time.time() - 3600)), [AUD])


def test_token_issued_in_the_future_is_refused(verifier, ec_key):
    with pytest.raises(CdsAuthError, match="future"):
        verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud=AUD, now=time.time() + 3600)), [AUD])


def test_wrong_audience_is_refused(verifier, ec_key):
    with pytest.raises(CdsAuthError, match="audience"):
        verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud="http://elsewhere/cds-services/x")), [AUD])


def test_alg_none_is_refused(verifier):
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = (
        base64.urlsafe_b64encode(
            orjson.dumps({"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60, "iat": int(time.time()), "jti": "n"})
        )
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(CdsAuthError, match="'none'"):
        verifier.verify(bearer(f"{header}.{body}."), [AUD])


def test_hs256_is_refused_even_with_the_public_key_as_secret(verifier, ec_key):
    secret = OctKey.import_key(orjson.dumps(ec_key.as_dict(private=False)))
    claims = {"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60, "iat": int(time.time()), "jti": "h"}
    token = jwt.encode({"alg": "HS256"}, claims, secret, algorithms=["HS256"])
    with pytest.raises(CdsAuthError, match="HS256"):
        verifier.verify(bearer(token), [AUD])


def test_unknown_issuer_is_refused(verifier, ec_key):
    with pytest.raises(CdsAuthError, match="allow-list"):
        verifier.verify(bearer(mint_token(ec_key, iss="https://rogue.example", aud=AUD)), [AUD])


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c"])
def test_missing_or_garbled_headers_are_refused(verifier, header):
    with pytest.raises(CdsAuthError):
        verifier.verify(header, [AUD])


def test_issuer_list_from_toml_with_a_jwks_file(tmp_path: Path, ec_key):
    (tmp_path / "ehr.jwks.json").write_bytes(orjson.dumps({"keys": [ec_key.as_dict(private=False)]}))
    listing = tmp_path / "issuers.toml"
    listing.write_text(f'[[issuer]]\niss = "{ISS}"\njwks_file = "ehr.jwks.json"\n')
    verifier = CdsTokenVerifier(load_issuers(listing), MemoryJti())
    assert verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud=AUD)), [AUD]).jti


def test_issuer_list_from_json_with_a_jwks_url_fetched_once(tmp_path: Path, ec_key):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json={"keys": [ec_key.as_dict(private=False)]})

    listing = tmp_path / "issuers.json"
    listing.write_bytes(orjson.dumps({"issuers": [{"iss": ISS, "jwks_url": "https://ehr.example.test/jwks"}]}))
    verifier = CdsTokenVerifier(load_issuers(listing, transport=httpx.MockTransport(handler)), MemoryJti())
    for _ in range(3):
        verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud=AUD)), [AUD])
    assert calls == ["https://ehr.example.test/jwks"]


def test_unreachable_jwks_url_is_a_401_not_a_crash(tmp_path: Path, ec_key):
    listing = tmp_path / "issuers.json"
    listing.write_bytes(orjson.dumps({"issuers": [{"iss": ISS, "jwks_url": "https://ehr.example.test/jwks"}]}))
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    verifier = CdsTokenVerifier(load_issuers(listing, transport=transport), MemoryJti())
    with pytest.raises(CdsAuthError, match="JWKS"):
        verifier.verify(bearer(mint_token(ec_key, iss=ISS, aud=AUD)), [AUD])
