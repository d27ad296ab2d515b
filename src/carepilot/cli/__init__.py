"""Command line: one Typer app, one module per command group; errors become exit codes here only."""

from carepilot.cli.app import main

__all__ = ["main"]
