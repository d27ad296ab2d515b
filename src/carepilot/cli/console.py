"""Shared console objects and the Settings built once per CLI process."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from rich.console import Console

from carepilot.config import Settings

console = Console()
err_console = Console(stderr=True)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's Settings (built from the environment, once, at the edge)."""
    return Settings()


def print_json(payload: Any) -> None:
    """Machine-readable output for ``--json``: one JSON document on stdout."""
    sys_out = console.file
    sys_out.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())
    sys_out.write("\n")
