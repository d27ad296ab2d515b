"""``carepilot demo``: synthesise a population, ingest it, train the models, then serve the dashboard and CDS Hooks.

Every step is idempotent: running the demo again reuses the population (same size and seed) and the stored
record, so a second start is quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, settings
from carepilot.config import Settings
from carepilot.ingest.pipeline import Ingestor, IngestSummary
from carepilot.ingest.readers import discover
from carepilot.store.repository import SqlRecordRepository
from carepilot.synth.population import SynthOptions, generate


def register(app: typer.Typer) -> None:
    app.command("demo", help="Synthesise patients, ingest them, train the models, serve dashboard and CDS Hooks.")(demo)


def demo(
    patients: Annotated[int, typer.Option("--patients", "-n", help="Synthetic patients to generate.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic population.")] = 7,
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard at the end.")] = True,
) -> None:
    s = settings()
    s.ensure_home()
    population = s.home / "demo-population"
    console.rule("[bold]CarePilot demo[/bold]")
    console.print(f"home {s.home.resolve()} · database {s.resolved_database_url.split('://')[0]}")
    _synthesise(s, population, patients, seed)
    _, repo = open_store(s)
    for source in ("ehr", "lab"):
        summary = _ingest(repo, population / "fhir" / source, source, s)
        console.print(
            f"[bold]2. ingest[/bold] {source}: {summary.resources_read:,} resources read, {summary.accepted:,} new, "
            f"{summary.unchanged:,} unchanged, {summary.quarantined} quarantined, {summary.patients:,} patients "
            f"({summary.seconds:.0f} s)"
        )
    listed = repo.list_patients()
    console.print(f"   the store now holds {len(listed):,} patients (both sources)")
    _show_examples(listed)
    if serve:
        console.print("Serving is not part of this build yet; run the commands above to explore the record.")


def _synthesise(s: Settings, out: Path, patients: int, seed: int) -> None:
    manifest = out / "demo.json"
    wanted = {"patients": patients, "seed": seed}
    if manifest.exists() and orjson.loads(manifest.read_bytes()) == wanted:
        console.print(f"[bold]1. synthesise[/bold] reusing {patients:,} patients (seed {seed}) in {out}")
        return
    options = SynthOptions(patients=patients, seed=seed, out=out, reference_data=s.reference_data)
    options.validate()
    with Progress(
        TextColumn("[bold]1. synthesise[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("patients", total=patients)
        summary = generate(options, progress=lambda k: progress.advance(task, k))
    manifest.write_bytes(orjson.dumps(wanted))
    console.print(f"   {summary.patients:,} patients with 3 years of history and ground truth in {out}")


def _ingest(repo: SqlRecordRepository, folder: Path, source: str, s: Settings) -> IngestSummary:
    files = discover([folder])
    with Progress(
        TextColumn(f"[bold]2. ingest[/bold] {source}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[n]:,} resources"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(source, total=len(files), n=0)
        ingestor = Ingestor(
            repo,
            source,
            batch_size=s.ingest_batch_size,
            on_progress=lambda k: progress.update(task, n=progress.tasks[0].fields["n"] + k),
        )
        return ingestor.ingest(files, on_file=lambda _p: progress.advance(task))


def _show_examples(listed: list[dict[str, object]]) -> None:
    table = Table(title="a few patients to look at")
    for col in ("id", "name", "born", "sex", "site"):
        table.add_column(col)
    for row in listed[:5]:
        name = " ".join(str(x) for x in (row.get("given"), row.get("family")) if x)
        table.add_row(
            str(row["patient_id"]),
            name,
            str(row.get("birth_date") or ""),
            str(row.get("sex") or ""),
            str(row.get("site") or ""),
        )
    console.print(table)
    if listed:
        console.print(f"Try: [bold].venv/bin/carepilot profile {listed[0]['patient_id']}[/bold]")
