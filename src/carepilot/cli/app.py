"""The ``carepilot`` entry point: assembles the command groups and translates errors to exit codes."""

from __future__ import annotations

import logging
import sys

import typer

from carepilot.cli import bench, models
from carepilot.cli.console import err_console
from carepilot.errors import CarePilotError, InputError, NotFoundError

app = typer.Typer(
    help="CarePilot: patient-specific, explained clinical decision support.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One line per command module; each module exposes ``register(app)``.
bench.register(app)
models.register(app)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        app()
    except NotFoundError as exc:
        err_console.print(f"[red]not found:[/red] {exc}")
        sys.exit(3)
    except InputError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    except CarePilotError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
