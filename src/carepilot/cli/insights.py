"""``carepilot train`` and ``carepilot insights``: fit and register models; every Insight for one patient."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.audit import record_cli_access
from carepilot.cli.console import console, print_json, settings
from carepilot.cli.effects import fit_decision_on_store
from carepilot.cli.serialise import plain
from carepilot.domain.insight import Insight
from carepilot.errors import InputError
from carepilot.insights.providers import default_providers
from carepilot.insights.service import InsightContext, InsightService
from carepilot.knowledge.concepts import concept_map
from carepilot.learning.training import train_readmission
from carepilot.models.registry import ModelRegistry
from carepilot.store.profiles import load_profile

MODELS = ("readmission", "diabetes-addon", "antiplatelet-acs", "antidepressant")
SEVERITY_COLOUR = {"critical": "red", "warning": "yellow", "info": "cyan"}


def register(app: typer.Typer) -> None:
    app.command("train", help="Fit, cross-validate and register a model, with its model card.")(train)
    app.command("insights", help="Every Insight for one patient: risks, options, guidance, alerts.")(insights)


def train(
    model: Annotated[str, typer.Argument(help=f"Model to train: {', '.join(MODELS)}.")],
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by patient).")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; trainable models: {', '.join(MODELS)}")
    if model != "readmission":
        fit_decision_on_store(model, json_out)
        return
    s = settings()
    _, repo = open_store(s)
    registry = ModelRegistry(s.models_dir)
    say = (lambda _m: None) if json_out else (lambda m: console.print(f"  {m}"))
    result = train_readmission(repo, registry, s.models_dir / "plots", folds=folds, seed=seed, on_step=say)
    summary = {
        "model": result.record.name,
        "version": result.record.version,
        "sha256": result.record.sha256,
        "estimator": result.chosen,
        "discharges": result.n,
        "readmissions": result.events,
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
