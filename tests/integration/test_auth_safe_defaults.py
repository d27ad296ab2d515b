"""The service refuses to start outside development mode with missing or default secrets."""

from __future__ import annotations

import orjson
import pytest
from joserfc.jwk import ECKey, OctKey
from pydantic import SecretStr

from carepilot.api.app import create_app
from carepilot.api.auth import service_key_dir
from carepilot.config import Settings
from carepilot.errors import ConfigurationError
from carepilot.security.tokens import ensure_key

STRONG = "k2V9q-Zt4uXw8Pc1LmN0bR7sYe3Jh6Ga5DfTqW"


def key_file(tmp_path, key) -> object:
    path = tmp_path / "service.jwk.json"
    path.write_bytes(orjson.dumps(key.as_dict(private=True)))
    return path


def test_development_mode_is_never_the_default(monkeypatch):
    monkeypatch.delenv("CAREPILOT_DEV", raising=False)
    assert Settings().dev is False


@pytest.mark.parametrize(
    ("secret", "message"),
    [(None, "SESSION_SECRET is not set"), ("changeme", "default or weak"), ("a" * 40, "default or weak")],
)
def test_missing_or_weak_session_secrets_refuse_to_start(tmp_path, secret, message):
    key = key_file(tmp_path, ECKey.generate_key("P-384", parameters={"alg": "ES384"}))
    settings = Settings(home=tmp_path / "home", session_secret=SecretStr(secret) if secret else None, token_key=key)
    with pytest.raises(ConfigurationError, match=message):
        create_app(settings)


def test_a_missing_symmetric_or_development_signing_key_refuses_to_start(tmp_path):
    base = {"home": tmp_path / "home", "session_secret": SecretStr(STRONG)}
    with pytest.raises(ConfigurationError, match="TOKEN_KEY"):
        create_app(Settings(**base))
    oct_key = key_file(tmp_path, OctKey.generate_key(256))
    with pytest.raises(ConfigurationError, match="symmetric keys refused"):
        create_app(Settings(**base, token_key=oct_key))
    ensure_key(service_key_dir(Settings(**base)))
    dev_key = service_key_dir(Settings(**base)) / "private.jwk.json"
    with pytest.raises(ConfigurationError, match="development key"):
        create_app(Settings(**base, token_key=dev_key))


def test_configured_secrets_start_and_the_dev_issuer_is_not_trusted(tmp_path):
    key = key_file(tmp_path, ECKey.generate_key("P-384", parameters={"alg": "ES384"}))
    app = create_app(Settings(home=tmp_path / "home", session_secret=SecretStr(STRONG), token_key=key))
    assert app.state.auth.dev_key is None
    assert "urn:carepilot:dev-user-issuer" not in app.state.auth.verifier.issuers.issuers
