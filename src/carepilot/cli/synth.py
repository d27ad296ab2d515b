"""``carepilot synth``: generate the synthetic population with ground truth (docs/synthetic-population.md)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carepilot.cli.console import console, print_json, settings
from carepilot.synth.population import SynthOptions, SynthSummary, generate


def register(app: typer.Typer) -> None:
    app.command("synth", help="Generate a synthetic FHIR R4 population with known ground truth.")(synth)


def synth(
    patients: Annotated[int, typer.Option("--patients", "-n", help="Number of persons.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed; the same seed gives identical files.")] = 0,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output folder (its fhir/, streams/, truth/, vcf/ are replaced)."),
    ] = Path("synthetic"),
    fmt: Annotated[
        str, typer.Option("--format", help="bundle (one transaction Bundle per patient) or ndjson.")
    ] = "bundle",
    sites: Annotated[int, typer.Option("--sites", help="Number of care sites (Organizations).")] = 3,
    years: Annotated[float, typer.Option("--years", help="Years of history per patient.")] = 3.0,
    vcf: Annotated[
        bool, typer.Option("--vcf", help="Also write a GRCh38 VCF per patient (needs reference data).")
    ] = False,
    streams: Annotated[bool, typer.Option("--streams/--no-streams", help="Write wearable / CGM readings.")] = True,
    stream_fraction: Annotated[
        float, typer.Option("--stream-fraction", help="Share of persons eligible for devices.")
    ] = 1.0,
    end_date: Annotated[
        str, typer.Option("--end-date", help="Last day of the record window (YYYY-MM-DD).")
    ] = "2026-01-01",
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    options = SynthOptions(
        patients=patients,
        seed=seed,
        out=out,
        format=fmt,
        sites=sites,
        years=years,
        vcf=vcf,
        streams=streams,
        stream_fraction=stream_fraction,
        end_date=end_date,
        reference_data=settings().reference_data,
    )
    options.validate()
    if json_out:
        summary = generate(options)
        print_json(summary.as_dict())
        return
    with Progress(
        TextColumn("[bold]synth[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("patients", total=patients)
        summary = generate(options, progress=lambda k: progress.advance(task, k))
    _print_summary(summary)


def _print_summary(s: SynthSummary) -> None:
    table = Table(title=f"synthetic population: {s.patients} persons, seed {s.seed}, {s.format} -> {s.out}")
    table.add_column("source")
    table.add_column("resource type")
    table.add_column("count", justify="right")
    for source, counts in s.resources.items():
        for rtype, count in sorted(counts.items()):
            table.add_row(source, rtype, f"{count:,}")
    console.print(table)
    prev = Table(title="prevalence by age band (18-44 / 45-64 / 65+)")
    prev.add_column("condition")
    for band in ("18-44", "45-64", "65+"):
        prev.add_column(band, justify="right")
    for name, values in s.prevalence.items():
        prev.add_row(name, *(f"{v:.1%}" for v in values))
    console.print(prev)
    dec = Table(title="treatment decisions (truth; bias = naive difference - true ATE)")
    for col in ("decision", "rows", "contrast", "true ATE", "effect SD", "naive bias", "expected bias"):
        dec.add_column(col, justify="right" if col != "decision" else "left")
    for name, d in s.decisions.items():
        dec.add_row(
            name,
            str(d["rows"]),
            d["contrast"],
            _f(d.get("true_ate")),
            _f(d.get("effect_sd")),
            _f(d.get("naive_bias")),
            _f(d.get("expected_confounding_bias")),
        )
    console.print(dec)
    console.print(
        f"lab-source duplicates: {s.lab_source_patients} ({s.duplicate_rate:.1%}, "
        f"stated {s.stated_duplicate_rate:.0%}); "
        f"readings: {s.readings:,}; deterioration episodes: {s.deterioration_episodes}; "
        f"discharges: {int(s.readmissions['discharges'])} "
        f"(mean true 30-day risk {s.readmissions['mean_true_risk']:.1%}, "
        f"observed {s.readmissions['observed_rate']:.1%}); VCF files: {s.vcf_files}"
    )
    if s.vcf_note:
        console.print(f"[yellow]{s.vcf_note}[/yellow]")
    console.print(f"done in {s.seconds:.1f} s")


def _f(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) and not math.isnan(value) else "-"
