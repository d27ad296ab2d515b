"""``carepilot retrain MODEL``: a challenger trained (or recalibrated) on the recent window, compared, pending."""

from __future__ import annotations

from typing import Annotated

import typer

from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError

RETRAINABLE = ("readmission",)


def register(app: typer.Typer) -> None:
    app.command("retrain")(retrain)


def retrain(
    model: Annotated[str, typer.Argument(help="Model to retrain: readmission.")],
    window: Annotated[int, typer.Option("--window", help="Days of recent discharges to learn from.")] = 365,
    recalibrate_only: Annotated[
        bool, typer.Option("--recalibrate-only", help="Keep the base model; refit only its calibrator.")
    ] = False,
    holdout: Annotated[
        float, typer.Option("--holdout", help="Share of the window (latest discharges) held out for the comparison.")
    ] = 0.25,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Train a challenger on the current data window, compare it with the champion, register it as pending."""
    from carepilot.bootstrap import open_store
    from carepilot.features.population import iter_profiles, readmission_frame
    from carepilot.learning.retraining import retrain as run_retrain
    from carepilot.models.registry import ModelRegistry
    from carepilot.store.consent import SqlConsentDirectory

    if model not in RETRAINABLE:
        raise InputError(f"cannot retrain {model!r}; retrainable models: {', '.join(RETRAINABLE)}")
    if window < 30:
        raise InputError(f"--window must be at least 30 days, got {window}")
    s = settings()
    ModelRegistry(s.models_dir).record(model)  # no champion: say so before the slow feature build
    db, repo = open_store(s)
    say = (lambda m: None) if as_json else (lambda m: console.print(f"  {m}"))
    say("building point-in-time features")
    frame = readmission_frame(list(iter_profiles(repo)))
    result = run_retrain(
        frame,
        ModelRegistry(s.models_dir),
        model,
        consent=SqlConsentDirectory(db),
        window_days=window,
        recalibrate_only=recalibrate_only,
        holdout_fraction=holdout,
        on_step=say,
    )
    if as_json:
        print_json(
            {
                **result.comparison,
                "report_json": str(result.report_json),
                "report_markdown": str(result.report_markdown),
            }
        )
        return
    c = result.comparison
    console.print(
        f"{model}: challenger version {result.record.version} registered as [bold]pending[/bold] "
        f"({c['kind']}); champion version {result.champion_version}"
    )
    for key in ("auroc", "calibration_slope", "calibration_intercept", "brier"):
        console.print(f"  {key:<22} champion {c['champion'][key]:.4f}  challenger {c['challenger'][key]:.4f}")
    console.print(f"  report: {result.report_markdown}")
    console.print(
        f"  to serve it: carepilot models approve {model} {result.record.version} --reason '...' --by MODEL_OWNER"
    )
