"""``carepilot model-card show PATH`` and ``carepilot models list|approve|rollback|history``: cards and the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markdown import Markdown
from rich.table import Table

from carepilot.cli.console import console, print_json, settings
from carepilot.learning.governance import Governance, ModelEventRepository, ServingChange, owner
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


def _governance() -> tuple[Governance, ModelRegistry]:
    from carepilot.bootstrap import open_store
    from carepilot.store.audit import SqlAuditSink

    s = settings()
    db, _ = open_store(s)
    registry = ModelRegistry(s.models_dir)
    return Governance(registry, ModelEventRepository(db), audit=SqlAuditSink(db)), registry


@models_app.command("approve")
def approve(
    name: Annotated[str, typer.Argument(help="Model name, e.g. readmission.")],
    version: Annotated[str, typer.Argument(help="The pending version to make serve.")],
    reason: Annotated[str, typer.Option("--reason", help="Why this version should serve (recorded).")],
    by: Annotated[str, typer.Option("--by", help="The approving model owner's user id (recorded).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the change as JSON.")] = False,
) -> None:
    """Approve a challenger: it serves from now on (model-owner decision, audited, model card updated)."""
    gov, _ = _governance()
    change = gov.approve(name, version, principal=owner(by), reason=reason)
    _report(change, as_json)


@models_app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Model name, e.g. readmission.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the serving version is rolled back (recorded).")],
    by: Annotated[str, typer.Option("--by", help="The model owner's user id (recorded).")],
    to: Annotated[str | None, typer.Option("--to", help="Version to serve (default: the one before).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the change as JSON.")] = False,
) -> None:
    """Serve an earlier version again in one step (audited, model card updated)."""
    gov, _ = _governance()
    change = gov.rollback(name, to, principal=owner(by), reason=reason)
    _report(change, as_json)


@models_app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Model name, e.g. readmission.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the events as JSON.")] = False,
) -> None:
    """The serving version, each version's status and the audited approvals and rollbacks."""
    gov, registry = _governance()
    events = gov.events.events(name)
    payload = {
        "model": name,
        "serving": registry.serving_version(name),
        "status": registry.statuses(name),
        "events": [{**{str(k): v for k, v in e.items()}, "at": e["at"].isoformat()} for e in events],
    }
    if as_json:
        print_json(payload)
        return
    console.print(f"{name}: serving version {payload['serving'] or '(none approved; latest non-pending serves)'}")
    table = Table(title="model events")
    for col in ("at", "action", "version", "actor", "outcome", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(
            f"{e['at']:%Y-%m-%d %H:%M}",
            e["action"],
            e["model_version"] or "",
            e["actor"],
            e["outcome"],
            e["reason"] or "",
        )
    console.print(table)


def _report(change: ServingChange, as_json: bool) -> None:
    payload = {
        "model": change.model,
        "serving": change.version,
        "replaced": change.replaced,
        "action": change.action,
        "actor": change.actor,
        "reason": change.reason,
    }
    if as_json:
        print_json(payload)
    else:
        console.print(
            f"{change.action}: {change.model} version {change.version} now serves"
            + (f" (was {change.replaced})" if change.replaced else "")
        )
