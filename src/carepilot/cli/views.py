"""``carepilot views run VIEW.json --input PATH...``: run a SQL on FHIR ViewDefinition over FHIR files."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carepilot.cli.console import console, print_json
from carepilot.features.viewdefinition import OutputColumn, iter_rows, parse_view
from carepilot.features.viewdefinition.sources import iter_resources, read_view
from carepilot.features.viewdefinition.tables import write_rows
from carepilot.features.views import available_views, view_definition

views_app = typer.Typer(help="SQL on FHIR v2 ViewDefinitions: tabular views of FHIR data (docs/views.md).")


def register(app: typer.Typer) -> None:
    app.add_typer(views_app, name="views")


ViewArg = Annotated[
    str, typer.Argument(metavar="VIEW", help="ViewDefinition JSON file, or the name of a bundled view.")
]


@views_app.command("list", help="List the project's bundled views.")
def list_views(
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    views = {name: parse_view(view_definition(name)) for name in available_views()}
    if json_out:
        print_json(
            [
                {"name": name, "resource": v.resource, "columns": [c.name for c in v.columns]}
                for name, v in views.items()
            ]
        )
        return
    table = Table(title="bundled views")
    table.add_column("name")
    table.add_column("resource")
    table.add_column("columns", overflow="fold")
    for name, v in views.items():
        table.add_row(name, v.resource, ", ".join(c.name for c in v.columns))
    console.print(table)


@views_app.command("validate", help="Check a ViewDefinition and print its columns; exit code 2 when invalid.")
def validate(
    view_ref: ViewArg,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    view = parse_view(_load(view_ref))
    columns = [{"name": c.name, "type": c.type, "collection": c.collection} for c in view.columns]
    if json_out:
        print_json({"valid": True, "resource": view.resource, "columns": columns})
        return
    console.print(f"[green]valid[/green]: {view.resource} view with {len(columns)} columns")
    for col in columns:
        console.print(f"  {col['name']}: {col['type'] or 'untyped'}" + (" (collection)" if col["collection"] else ""))


@views_app.command("run", help="Run a ViewDefinition over FHIR JSON, Bundle or NDJSON files and folders.")
def run(
    view_ref: ViewArg,
    inputs: Annotated[
        list[Path],
        typer.Option("--input", "-i", help="FHIR JSON / Bundle / NDJSON file or folder (repeatable)."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write all rows to FILE.csv, .parquet or .ndjson.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to preview (0 = all with --json).")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable summary and rows.")] = False,
) -> None:
    started = time.perf_counter()
    view = parse_view(_load(view_ref))
    counter = _Counter()
    rows = iter_rows(view, counter.wrap(iter_resources(inputs)))
    preview: list[dict[str, Any]] = []
    keep = limit if limit > 0 or not json_out else None

    def tee() -> Iterator[dict[str, Any]]:
        for row in rows:
            if keep is None or len(preview) < keep:
                preview.append(row)
            yield row

    total = write_rows(tee(), view.columns, out) if out is not None else sum(1 for _ in tee())
    seconds = time.perf_counter() - started
    if json_out:
        print_json(
            {
                "view": view.name,
                "resource": view.resource,
                "columns": [{"name": c.name, "type": c.type, "collection": c.collection} for c in view.columns],
                "resources_read": counter.count,
                "row_count": total,
                "rows": preview,
                "out": str(out) if out else None,
                "seconds": round(seconds, 3),
            }
        )
        return
    # A terminal fits only so many columns; the rest are named, and --json / --out carry them all.
    shown_cols = _fitting_columns(view.columns, preview, console.width)
    fit = len(shown_cols)
    table = Table(title=f"view {view.name or Path(view_ref).stem} ({view.resource})")
    for col in shown_cols:
        table.add_column(col.name, overflow="ellipsis", no_wrap=True, max_width=_MAX_CELL)
    for row in preview:
        table.add_row(*(_cell(row.get(c.name)) for c in shown_cols))
    console.print(table)
    shown = f"showing {len(preview)} of {total} rows" if total > len(preview) else f"{total} rows"
    written = f"; written to {out}" if out else ""
    if len(view.columns) > fit:
        hidden = ", ".join(c.name for c in view.columns[fit:])
        console.print(f"  [dim]{len(view.columns) - fit} more columns not shown: {hidden}[/dim]")
    console.print(f"  {shown} from {counter.count} resources in {seconds:.2f} s{written}")


_MAX_CELL = 18


def _fitting_columns(columns: Sequence[OutputColumn], rows: list[dict[str, Any]], width: int) -> list[OutputColumn]:
    """As many leading columns as fit the terminal, each at most _MAX_CELL characters wide."""
    chosen: list[OutputColumn] = []
    used = 1
    for col in columns:
        widest = max([len(col.name)] + [len(_cell(r.get(col.name))) for r in rows])
        need = min(widest, _MAX_CELL) + 3
        if chosen and used + need > width:
            break
        chosen.append(col)
        used += need
    return chosen


def _load(view_ref: str) -> Mapping[str, Any]:
    """A view from a file path, else a bundled view of that name."""
    path = Path(view_ref)
    if path.exists() or view_ref.endswith(".json"):
        return read_view(path)
    return view_definition(view_ref)


class _Counter:
    """Counts resources as they stream past."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            self.count += 1
            yield item


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
