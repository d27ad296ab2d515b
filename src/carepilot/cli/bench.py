"""``carepilot bench NAME --json FILE``: run one benchmark and write its JSON report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carepilot import bench as harness
from carepilot.cli.console import console, settings


def register(app: typer.Typer) -> None:
    app.command("bench", help="Run one benchmark and write its JSON report (see docs/benchmarks.md).")(bench)


def bench(
    name: Annotated[str, typer.Argument(help="Benchmark name, e.g. ingest, synth, ihdp. 'list' lists them.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report to this file.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Benchmark option KEY=VALUE (repeatable).")
    ] = None,
) -> None:
    if name == "list":
        for item in harness.available():
            console.print(item)
        return
    options: dict[str, str] = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    report = harness.run_benchmark(name, settings(), options)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(report.to_json())
    table = Table(title=f"benchmark {report.benchmark} on {report.dataset} (n={report.n})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.metrics.items():
        table.add_row(key, _fmt(value))
    console.print(table)
    for label, metrics in report.baselines.items():
        console.print(f"  baseline {label}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))
    for note in report.notes:
        console.print(f"  note: {note}")
    console.print(f"  {report.seconds:.1f} s" + (f"; report written to {json_out}" if json_out else ""))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return f"{type(value).__name__}[{len(value)}]"
    return str(value)
