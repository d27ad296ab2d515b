"""Wiring and tables behind ``carepilot monitor models`` and ``carepilot monitor feedback``."""

from __future__ import annotations

from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console
from carepilot.config import Settings
from carepilot.learning.feedback_review import PolicyReview, review
from carepilot.learning.inputs import feedback_rows, monitor_model
from carepilot.learning.monitoring import MonitoringReport, load_thresholds
from carepilot.learning.outcomes import OutcomeRepository
from carepilot.models.registry import ModelRegistry


def model_reports(settings: Settings, model: str | None, window_days: int) -> list[MonitoringReport]:
    """One monitoring report per registered model (or for ``model``)."""
    db, _ = open_store(settings)
    registry = ModelRegistry(settings.models_dir)
    names = [model] if model else sorted({r.name for r in registry.records()})
    return [monitor_model(db, registry, name, window_days=window_days) for name in names]


def print_model_reports(reports: list[MonitoringReport]) -> None:
    if not reports:
        console.print("no registered models to monitor (train one with `carepilot train readmission`)")
    for r in reports:
        console.rule(f"{r.model} (serving version {r.serving_version or 'none'})")
        latest = min((d["window"] for d in r.score_drift), default=None)
        if latest is not None:
            table = Table(title=f"input drift, latest {r.window_days}-day window (reference: {r.reference})")
            for col in ("feature", "PSI", "missing then", "missing now"):
                table.add_column(col, justify="right" if col != "feature" else "left")
            rows = sorted((d for d in r.drift if d["window"] == latest), key=lambda d: -d["psi"])[:10]
            for d in rows:
                table.add_row(
                    d["feature"], f"{d['psi']:.3f}", f"{d['missing_reference']:.0%}", f"{d['missing_now']:.0%}"
                )
            console.print(table)
        if r.performance:
            table = Table(title="performance on resolved outcomes (95% bootstrap intervals)")
            for col in ("period", "n", "events", "AUROC", "slope", "intercept", "Brier"):
                table.add_column(col)
            for p in sorted(r.performance, key=lambda x: -x["window"]):
                cells = [
                    "-" if p.get(k) is None else f"{p[k]:.3f} [{p[k + '_ci'][0]}, {p[k + '_ci'][1]}]"
                    for k in ("auroc", "calibration_slope", "calibration_intercept", "brier")
                ]
                table.add_row(p["period"], str(p["n"]), str(p["events"]), *cells)
            console.print(table)
        for note in r.notes:
            console.print(f"  {note}")
        for a in r.alerts:
            console.print(f"  [{a.severity}] {a.title}")
        if not r.alerts:
            console.print("  no alerts")


def feedback_review(settings: Settings) -> PolicyReview:
    """The alert-policy review over every card type in the feedback table."""
    db, _ = open_store(settings)
    outcomes = OutcomeRepository(db)
    outcomes.resolve()
    return review(feedback_rows(db), outcomes.predictions(), load_thresholds())


def print_feedback_review(r: PolicyReview) -> None:
    table = Table(title="CDS feedback per card type")
    for col in ("card type", "decided", "accepted", "overridden", "override rate", "top override reasons"):
        table.add_column(col)
    for row in r.rates:
        reasons = ", ".join(f"{k} ({v})" for k, v in list(row["override_reasons"].items())[:3])
        table.add_row(
            row["card_type"],
            str(row["decided"]),
            str(row["accepted"]),
            str(row["overridden"]),
            f"{row['override_rate']:.0%}",
            reasons or "-",
        )
    console.print(table)
    for f in r.flagged:
        console.print(f"  flagged for review: {f['card_type']}: {f['why']}")
    for s in r.suggestions:
        console.print(f"  {s['model']}: {s['suggestion']}")
        for e in s["effects"]:
            console.print(
                f"    threshold {e['threshold']}: {e['alerts_per_100']} alerts per 100, sensitivity "
                f"{e['sensitivity']}, PPV {e['ppv']}"
            )
    console.print(f"  {r.note}")
