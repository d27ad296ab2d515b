"""One validated Settings object, built only in entrypoints (CLI, app factory) and passed down.

Nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
