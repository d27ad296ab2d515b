"""The ``carepilot`` entry point: assembles the command groups and translates errors to exit codes."""

from __future__ import annotations

import logging
from typing import Any

import typer
from typer.core import TyperGroup

from carepilot.cli import (
    audit,
    bench,
    cohorts,
    demo,
    effects,
    export,
    federate,
    insights,
    link,
    models,
    monitor,
    nudges,
    oncology,
    pgx,
    records,
    retrain,
    score,
    serve,
    synth,
    views,
    warfarin,
)
from carepilot.cli.console import err_console
from carepilot.errors import CarePilotError, InputError, NotFoundError

EXIT_CODES: tuple[tuple[type[CarePilotError], int, str], ...] = (
    (NotFoundError, 3, "not found"),
    (InputError, 2, "error"),
    (CarePilotError, 1, "error"),
)


class ErrorTranslatingGroup(TyperGroup):
    """Turns the project's exceptions into one clear line on stderr and an exit code (the CLI's edge)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CarePilotError as exc:
            for kind, code, label in EXIT_CODES:
                if isinstance(exc, kind):
                    err_console.print(f"[red]{label}:[/red] {exc}", markup=True, highlight=False)
                    raise typer.Exit(code=code) from exc
            raise


app = typer.Typer(
    cls=ErrorTranslatingGroup,
    help="CarePilot: patient-specific, explained clinical decision support.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One line per command module; each module exposes ``register(app)``. The order is the order in --help.
demo.register(app)
synth.register(app)
records.register(app)
link.register(app)
insights.register(app)
cohorts.register(app)
score.register(app)
models.register(app)
serve.register(app)
views.register(app)
export.register(app)
pgx.register(app)
warfarin.register(app)
oncology.register(app)
effects.register(app)
monitor.register(app)
nudges.register(app)
retrain.register(app)
audit.register(app)
federate.register(app)
bench.register(app)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app()
