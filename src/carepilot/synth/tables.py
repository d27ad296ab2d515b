"""Loading of the synthetic population's versioned data tables (``synth/data/*.toml``)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=4)
def load_table(name: str) -> dict[str, Any]:
    """The parsed TOML table ``synth/data/<name>.toml``, loaded once per process."""
    text = resources.files("carepilot.synth").joinpath(f"data/{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def table_version(name: str) -> str:
    """The ``# version:`` line of a data table."""
    text = resources.files("carepilot.synth").joinpath(f"data/{name}.toml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("# version:"):
            return line.split(":", 1)[1].strip()
    return "unversioned"
