"""``carepilot demo``: synthesise a population, ingest it, train the models, then serve the dashboard and CDS Hooks.

Every step is idempotent: running the demo again reuses the population (same size and seed) and the stored
record, so a second start is quick.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, settings
from carepilot.cli.serve import patient_view_curl
from carepilot.cli.serve import serve as run_server
from carepilot.config import Settings
from carepilot.errors import ModelError
from carepilot.ingest.pipeline import Ingestor, IngestSummary
from carepilot.ingest.readers import discover
from carepilot.insights.providers import default_providers
from carepilot.insights.service import InsightContext, InsightService
from carepilot.learning.effects_training import fit_decision
from carepilot.learning.training import MODEL_NAME, train_readmission
from carepilot.models.effects.decision import load_decision
from carepilot.models.registry import ModelRegistry
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.profiles import load_profile
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
    fresh = _synthesise(s, population, patients, seed)
    _, repo = open_store(s)
    manifest = _manifest(population)
    for source in ("ehr", "lab"):
        if not fresh and source in manifest.get("ingested", []) and repo.list_patients(limit=1):
            console.print(f"[bold]2. ingest[/bold] {source}: already in the store (carepilot ingest re-checks)")
            continue
        summary = _ingest(repo, population / "fhir" / source, source, s)
        manifest.setdefault("ingested", []).append(source)
        (population / "demo.json").write_bytes(orjson.dumps(manifest))
        console.print(
            f"[bold]2. ingest[/bold] {source}: {summary.resources_read:,} resources read, {summary.accepted:,} new, "
            f"{summary.unchanged:,} unchanged, {summary.quarantined} quarantined, {summary.patients:,} patients "
            f"({summary.seconds:.0f} s)"
        )
    listed = repo.list_patients()
    console.print(f"   the store now holds {len(listed):,} patients (both sources)")
    _train(s, repo, retrain=fresh)
    showcase = _show_examples(s, repo, listed)
    if not serve:
        return
    base = f"http://{host}:{port}"
    console.rule("[bold]4. serve[/bold]")
    console.print(f"dashboard      {base}/dashboard  (sign in: pick a role on {base}/dashboard/login)")
    console.print(f"CDS discovery  {base}/cds-services")
    console.print(
        f"FHIR API       {base}/fhir/metadata  (token: CAREPILOT_DEV=1 .venv/bin/carepilot auth token --role clinician)"
    )
    if showcase and s.dev:
        console.print("\npatient-view CDS Hooks call (paste into another terminal):")
        console.print(patient_view_curl(s, showcase, base), soft_wrap=True, highlight=False, markup=False)
        console.print(
            "(the token is valid for 5 minutes and once; for a fresh one each time: "
            f"CAREPILOT_DEV=1 .venv/bin/carepilot auth curl {showcase} | sh)",
            highlight=False,
        )
    elif not s.dev:
        console.print("(set CAREPILOT_DEV=1 for a development CDS client token; `make demo` does)")
    console.print("Stop with Ctrl-C.")
    run_server(s, host, port)


def _manifest(out: Path) -> dict[str, Any]:
    path = out / "demo.json"
    return orjson.loads(path.read_bytes()) if path.exists() else {}


def _synthesise(s: Settings, out: Path, patients: int, seed: int) -> bool:
    """Generate the population unless the same one is there; True when it was (re)generated."""
    current = _manifest(out)
    if current.get("patients") == patients and current.get("seed") == seed:
        console.print(f"[bold]1. synthesise[/bold] reusing {patients:,} patients (seed {seed}) in {out}")
        return False
    # The record window ends today, so recency rules (care gaps, alerts) read as they would in a clinic.
    end = datetime.now(UTC).date().isoformat()
    options = SynthOptions(patients=patients, seed=seed, out=out, reference_data=s.reference_data, end_date=end)
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
    (out / "demo.json").write_bytes(orjson.dumps({"patients": patients, "seed": seed, "end_date": end}))
    console.print(f"   {summary.patients:,} patients with 3 years of history to {end} and ground truth in {out}")
    return True


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


def _train(s: Settings, repo: SqlRecordRepository, retrain: bool) -> None:
    registry = ModelRegistry(s.models_dir)
    if registry.records(MODEL_NAME) and not retrain:
        rec = registry.record(MODEL_NAME)
        console.print(
            f"[bold]3. train[/bold] reusing {MODEL_NAME} v{rec.version} (carepilot train {MODEL_NAME} refits)"
        )
        return
    consent = SqlConsentDirectory(repo.db)
    try:
        result = train_readmission(
            repo, registry, s.models_dir / "plots", on_step=lambda m: console.print(f"   {m}"), consent=consent
        )
    except ModelError as exc:
        console.print(f"[bold]3. train[/bold] skipped: {exc}")
        return
    cv = result.cv[result.chosen]
    console.print(
        f"[bold]3. train[/bold] {MODEL_NAME} v{result.record.version} ({result.chosen}): cross-validated AUROC "
        f"{cv['auroc']:.3f}, calibration slope {cv['calibration_slope']:.2f} on {result.n} discharges; model card "
        f"{s.models_dir / MODEL_NAME / result.record.version / 'card.md'}"
    )
    spec = load_decision("diabetes-addon")
    try:
        fitted = fit_decision(repo, registry, spec, consent=consent)
    except ModelError as exc:
        console.print(f"   treatment effects for {spec.name} skipped: {exc}")
        return
    console.print(
        f"   {fitted.record.name} v{fitted.record.version} ({fitted.learner}) from {fitted.rows} patients who "
        f"started an add-on to metformin"
    )


def _show_examples(s: Settings, repo: SqlRecordRepository, listed: list[dict[str, object]]) -> str | None:
    """Print the patients with the most to show; returns the first one's id."""
    service = InsightService(default_providers(s))
    scored: list[tuple[int, str, str]] = []
    for row in listed[:200]:
        pid = str(row["patient_id"])
        result = service.for_patient(load_profile(repo, pid), InsightContext(hook="patient-view"))
        name = " ".join(str(x) for x in (row.get("given"), row.get("family")) if x)
        scored.append((len(result.insights), pid, name))
    scored.sort(reverse=True)
    table = Table(title="patients with the most insights (of the first 200)")
    for col in ("id", "name", "insights"):
        table.add_column(col)
    for n, pid, name in scored[:5]:
        table.add_row(pid, name, str(n))
    console.print(table)
    if not scored:
        return None
    console.print(f"Try: [bold].venv/bin/carepilot insights {scored[0][1]}[/bold]")
    return scored[0][1]
