"""``carepilot model-card show PATH`` and ``carepilot models list``: read model cards and the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.table import Table

from carepilot.cli.console import console, print_json, settings
from carepilot.models.cards import ModelCard
from carepilot.models.registry import ModelRegistry

card_app = typer.Typer(help="Model cards: show a card with its HTI-1 source attributes.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(card_app, name="model-card")
    app.add_typer(models_app, name="models")


@card_app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="A model card JSON file (e.g. from the registry folder).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the machine-readable card.")] = False,
) -> None:
    """Render a model card (metrics, subgroups, intended use, all 31 HTI-1 source attributes)."""
    card = ModelCard.read(path)
    if as_json:
        print_json(card.to_dict())
    else:
        console.print(Markdown(card.to_markdown()))


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """List registered model versions with their checksums."""
    records = ModelRegistry(settings().models_dir).records()
    if as_json:
        print_json([r.__dict__ for r in records])
        return
    table = Table(title=f"models in {settings().models_dir}")
    for col in ("name", "version", "created", "sha256"):
        table.add_column(col)
    for rec in records:
        table.add_row(rec.name, rec.version, rec.created, rec.sha256[:16])
    console.print(table)
