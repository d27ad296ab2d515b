"""One validated Settings object, built only in entrypoints (CLI, app factory) and passed down.

Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_reference_data() -> Path:
    """The shared reference data sits beside the repository checkout (``../shared/data``)."""
    return repo_root().parent / "shared" / "data"


def repo_root() -> Path:
    """The source checkout this package runs from (``src/carepilot`` -> two levels up)."""
    return Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``CAREPILOT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CAREPILOT_", extra="ignore")

    home: Path = Field(default=Path(".carepilot"), description="Folder for the SQLite file, models and caches.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; unset means SQLite under home.")
    dev: bool = Field(default=False, description="Development mode (demo issuer, relaxed secrets). Never default.")
    reference_data: Path = Field(default_factory=_default_reference_data, description="Shared reference data.")
    ingest_batch_size: int = Field(default=500, ge=1, le=100_000)
    cds_issuers: Path | None = Field(
        default=None, description="JSON or TOML file listing the trusted CDS clients (issuer -> JWKS file or URL)."
    )
    public_url: str | None = Field(
        default=None, description="Base URL clients use to reach this service (JWT audience); unset: the request's."
    )
    cds_budget_ms: float = Field(default=250.0, gt=0, description="Latency budget of one hook call's engines.")
    writeback: bool = Field(default=True, description="Store FHIR write-back resources for each hook call.")
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed to call the API.")
    auth_issuers: Path | None = Field(
        default=None,
        description="JSON or TOML file listing the trusted OAuth2 issuers of user access tokens (issuer -> JWKS).",
    )
    auth_audience: str | None = Field(
        default=None, description="Expected 'aud' of access tokens; unset: the service's base URL or its /fhir base."
    )
    system_clients: Path | None = Field(
        default=None,
        description="JSON or TOML file of SMART Backend Services clients (client_id, JWKS, allowed scopes).",
    )
    token_key: Path | None = Field(
        default=None,
        description="The service's private signing key (JWK, EC or RSA) for the access tokens /auth/token issues.",
    )
    token_lifetime_s: int = Field(default=300, ge=30, le=3600, description="Lifetime of issued access tokens.")
    single_use_tokens: bool = Field(
        default=True,
        description="Refuse a second use of an access token's jti (each request carries a fresh token, as in CDS "
        "Hooks); set false to accept a bearer token until it expires.",
    )
    session_secret: SecretStr | None = Field(
        default=None, description="Secret (at least 32 characters) that signs dashboard session cookies."
    )
    session_idle_minutes: int = Field(
        default=15, ge=1, le=720, description="Dashboard sessions end after this much inactivity."
    )
    session_max_hours: int = Field(default=12, ge=1, le=72, description="Dashboard sessions end after this long.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'carepilot.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
