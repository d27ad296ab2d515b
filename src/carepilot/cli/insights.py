"""``carepilot train`` and ``carepilot insights``: fit and register models; every Insight for one patient."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.audit import record_cli_access
from carepilot.cli.console import console, print_json, settings
from carepilot.cli.effects import report_fitted
from carepilot.cli.serialise import plain
from carepilot.domain.insight import Insight
from carepilot.errors import InputError
from carepilot.insights.providers import default_providers
from carepilot.insights.service import InsightContext, InsightService
from carepilot.knowledge.concepts import concept_map
from carepilot.learning.deterioration import read_readings, train_deterioration
from carepilot.learning.effects_training import fit_decision
from carepilot.learning.progression import train_progression
from carepilot.learning.training import TrainResult, train_readmission
from carepilot.models.effects.decision import load_decision
from carepilot.models.registry import ModelRegistry
from carepilot.store.consent import SqlConsentDirectory
from carepilot.store.profiles import load_profile

MODELS = ("readmission", "deterioration", "progression", "diabetes-addon", "antiplatelet-acs", "antidepressant")
SEVERITY_COLOUR = {"critical": "red", "warning": "yellow", "info": "cyan"}


def register(app: typer.Typer) -> None:
    app.command("train", help="Fit, cross-validate and register a model, with its model card.")(train)
    app.command("insights", help="Every Insight for one patient: risks, options, guidance, alerts.")(insights)


def train(
    model: Annotated[str, typer.Argument(help=f"Model to train: {', '.join(MODELS)}.")],
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by patient).")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    streams: Annotated[
        Path | None,
        typer.Option(
            "--streams",
            help="deterioration: a synthetic population folder (DIR/streams/readings.parquet) or a readings "
            "parquet file with patient_id, type, time, value.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; trainable models: {', '.join(MODELS)}")
    s = settings()
    db, repo = open_store(s)
    # Every training run leaves out the patients who opted out of training (ConsentScope.TRAINING).
    consent = SqlConsentDirectory(db)
    registry = ModelRegistry(s.models_dir)
    say = (lambda _m: None) if json_out else (lambda m: console.print(f"  {m}"))
    plots = s.models_dir / "plots"
    if model == "progression":
        results = train_progression(repo, registry, plots, consent=consent, folds=folds, seed=seed, on_step=say)
        _report_progression(results, folds, json_out)
        return
    if model == "deterioration":
        if streams is None:
            raise InputError("train deterioration needs --streams DIR (a population folder or a readings parquet)")
        readings = read_readings(streams)
        result = train_deterioration(
            repo, registry, plots, readings, consent=consent, folds=folds, seed=seed, on_step=say
        )
        _report_binary(result, registry, folds, json_out, {"patient_days": result.n, "event_days": result.events})
        return
    if model == "readmission":
        result = train_readmission(repo, registry, plots, consent=consent, folds=folds, seed=seed, on_step=say)
        _report_binary(result, registry, folds, json_out, {"discharges": result.n, "readmissions": result.events})
        return
    fitted = fit_decision(
        repo, registry, load_decision(model), on_step=None if json_out else console.print, consent=consent
    )
    report_fitted(fitted, json_out)


def _report_binary(
    result: TrainResult, registry: ModelRegistry, folds: int, json_out: bool, counts: dict[str, int]
) -> None:
    summary: dict[str, Any] = {
        "model": result.record.name,
        "version": result.record.version,
        "sha256": result.record.sha256,
        "estimator": result.chosen,
        **counts,
        "cross_validated": result.cv,
        "calibration_plot": str(result.plot) if result.plot else None,
        "model_card": str(registry.card_path(result.record.name, result.record.version)),
    }
    if json_out:
        print_json(summary)
        return
    table = Table(
        title=f"{result.record.name} v{result.record.version}: {folds}-fold cross-validation, grouped by patient"
    )
    for col in ("estimator", "AUROC", "AUPRC", "Brier", "calibration slope"):
        table.add_column(col)
    for name, m in result.cv.items():
        mark = " (chosen)" if name == result.chosen else ""
        table.add_row(
            name + mark, f"{m['auroc']:.3f}", f"{m['auprc']:.3f}", f"{m['brier']:.4f}", f"{m['calibration_slope']:.2f}"
        )
    console.print(table)
    console.print(f"registered {result.record.file} (sha256 {result.record.sha256[:12]}...)")
    console.print(f"model card {summary['model_card']}; calibration plot {summary['calibration_plot']}")


def _report_progression(results: list[Any], folds: int, json_out: bool) -> None:
    summaries = [
        {
            "model": r.record.name,
            "version": r.record.version,
            "sha256": r.record.sha256,
            "estimator": r.chosen,
            "patients": r.n,
            "events": r.events,
            "cross_validated": r.cv,
            "calibration_plot": str(r.plot) if r.plot else None,
        }
        for r in results
    ]
    if json_out:
        print_json({"models": summaries})
        return
    for r in results:
        table = Table(title=f"{r.record.name} v{r.record.version}: {r.n} patients, {r.events} events, {folds}-fold CV")
        for col in ("estimator", "C-index", "C sd", "integrated Brier", "1-year AUROC", "1-year calibration slope"):
            table.add_column(col)
        for name, m in r.cv.items():
            mark = " (chosen)" if name == r.chosen else ""
            table.add_row(
                name + mark,
                f"{m['c_index']:.3f}",
                f"{m['c_index_sd']:.3f}",
                f"{m['integrated_brier']:.4f}",
                f"{m.get('horizon_auroc', float('nan')):.3f}",
                f"{m.get('horizon_calibration_slope', float('nan')):.2f}",
            )
        console.print(table)
        console.print(f"registered {r.record.file} (sha256 {r.record.sha256[:12]}...); calibration plot {r.plot}")


def insights(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    hook: Annotated[str, typer.Option(help="Context: patient-view, order-select, order-sign, encounter-discharge.")] = (
        "patient-view"
    ),
    order: Annotated[
        list[str] | None, typer.Option("--order", help="Drug being ordered (name or RxNorm code), repeatable.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    s = settings()
    db, repo = open_store(s)
    profile = load_profile(repo, patient_id)
    ordered = tuple(_drug_concept(d) for d in order or [])
    service = InsightService(default_providers(s))
    result = service.for_patient(profile, InsightContext(hook=hook, ordered_concepts=ordered))
    record_cli_access(db, "read", f"Patient/{patient_id}/insights", patient_id=patient_id, reason=hook)
    if json_out:
        print_json(
            {
                "patient_id": patient_id,
                "insights": plain(result.insights),
                "declined": plain(result.declined),
                "skipped": result.skipped,
            }
        )
        return
    console.print(
        f"[bold]{len(result.insights)} insights[/bold] for {profile.demographics.name or patient_id} "
        f"({hook}{', ordering ' + ', '.join(ordered) if ordered else ''})"
    )
    for item in sorted(result.insights, key=_rank):
        _render(item)
    for declined in result.declined:
        console.print(f"[dim]{declined.engine}: not answered: {declined.reason}[/dim]")
    for skipped in result.skipped:
        console.print(f"[dim]{skipped}: skipped (failed or ran late)[/dim]")


def _drug_concept(text: str) -> str:
    cmap = concept_map()
    key = text.strip().lower().replace(" ", "_")
    if key in cmap.concepts and cmap.concepts[key].domain == "medication":
        return key
    hit = cmap.lookup("http://www.nlm.nih.gov/research/umls/rxnorm", text.strip()) or cmap.lookup_drug_text(text)
    if hit is None:
        raise InputError(f"--order {text!r}: not a drug in the concept map (give a name such as clopidogrel)")
    return hit.key


def _rank(item: Insight) -> tuple[int, str]:
    return ({"critical": 0, "warning": 1, "info": 2}.get(item.severity.value, 3), item.kind.value)


def _render(item: Insight) -> None:
    colour = SEVERITY_COLOUR.get(item.severity.value, "white")
    lines = [item.detail.strip(), ""]
    if item.explanation:
        lines.append("[bold]Why[/bold]")
        lines += [f"  {'+' if f.contribution > 0 else '-'} {f.phrase}" for f in item.explanation]
    lines.append(f"[bold]Confidence[/bold] {item.confidence.level}: {item.confidence.statement}")
    for ev in item.evidence[:3]:
        lines.append(f"[bold]Evidence[/bold] {ev.citation}" + (f" ({ev.url})" if ev.url else ""))
    lines.append(
        f"[dim]source {item.source.kind} {item.source.id} {item.source.version}"
        + (f", data {item.source.data_window}" if item.source.data_window else "")
        + "[/dim]"
    )
    if item.actions:
        lines.append(f"[bold]Proposed[/bold] {len(item.actions)} draft order(s) for the clinician to accept or not")
    console.print(
        Panel(
            "\n".join(lines),
            title=f"[{colour}]{item.kind.value}[/{colour}] {item.title}",
            title_align="left",
            border_style=colour,
        )
    )
