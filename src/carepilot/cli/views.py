"""``carepilot views run VIEW.json --input PATH...``: run a SQL on FHIR ViewDefinition over FHIR files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from carepilot.cli.console import console, print_json
from carepilot.features.viewdefinition import iter_rows, parse_view
from carepilot.features.viewdefinition.sources import iter_resources, read_view
from carepilot.features.viewdefinition.tables import write_rows

views_app = typer.Typer(help="SQL on FHIR v2 ViewDefinitions: tabular views of FHIR data (docs/views.md).")


def register(app: typer.Typer) -> None:
    app.add_typer(views_app, name="views")


@views_app.command("run", help="Run a ViewDefinition over FHIR JSON, Bundle or NDJSON files and folders.")
def run(
    view_path: Annotated[Path, typer.Argument(metavar="VIEW.json", help="ViewDefinition JSON file.")],
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
    view = parse_view(read_view(view_path))
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
                "columns": [
                    {"name": c.name, "type": c.type, "collection": c.collection} for c in view.columns
                ],
                "resources_read": counter.count,
                "row_count": total,
                "rows": preview,
                "out": str(out) if out else None,
                "seconds": round(seconds, 3),
            }
        )
        return
    # A terminal fits only so many columns; the rest are named, and --json / --out carry them all.
    fit = max(1, console.width // 16)
    shown_cols = view.columns[:fit]
    table = Table(title=f"view {view.name or view_path.stem} ({view.resource})")
    for col in shown_cols:
        table.add_column(col.name, overflow="ellipsis", no_wrap=True, max_width=40)
    for row in preview:
        table.add_row(*(_cell(row.get(c.name)) for c in shown_cols))
    console.print(table)
    shown = f"showing {len(preview)} of {total} rows" if total > len(preview) else f"{total} rows"
    written = f"; written to {out}" if out else ""
    if len(view.columns) > fit:
        hidden = ", ".join(c.name for c in view.columns[fit:])
        console.print(f"  [dim]{len(view.columns) - fit} more columns not shown: {hidden}[/dim]")
    console.print(f"  {shown} from {counter.count} resources in {seconds:.2f} s{written}")


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
        return "[dim]null[/dim]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
