"""Shared fixtures: settings pointing at a temporary home, reference data that skips when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from carepilot.config import Settings, repo_root

REFERENCE_DATA = Path(os.environ.get("CAREPILOT_REFERENCE_DATA", repo_root().parent / "shared" / "data"))


def reference(*parts: str) -> Path:
    """Path inside the shared reference data; skips the calling test with a clear message when absent."""
    path = REFERENCE_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (set CAREPILOT_REFERENCE_DATA to the shared data folder)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", reference_data=REFERENCE_DATA)
