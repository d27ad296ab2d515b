"""Run the ``carepilot`` command line in-process against a given home folder."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from carepilot.cli.app import app
from carepilot.cli.console import settings


def run(home: Path, *args: str, extra_env: dict[str, str] | None = None):
    """Invoke the CLI; returns the click Result (exit_code, stdout, stderr)."""
    settings.cache_clear()
    env = {"CAREPILOT_HOME": str(home), "COLUMNS": "200", **(extra_env or {})}
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    settings.cache_clear()
    return result


def run_json(home: Path, *args: str, extra_env: dict[str, str] | None = None):
    result = run(home, *args, "--json", extra_env=extra_env)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)
