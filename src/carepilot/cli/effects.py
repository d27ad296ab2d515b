"""``carepilot effects fit|predict|evaluate``: individual treatment effects from a CSV file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import orjson
import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError
from carepilot.learning.effects_training import EffectFitResult, fit_decision
from carepilot.models.effects.artifact import EffectModelFile, load_model, save_model
from carepilot.models.effects.csvio import CsvColumnError, load_covariates, load_effect_table
from carepilot.models.effects.decision import load_decision
from carepilot.models.effects.engine import EffectEngine
from carepilot.models.effects.learners import LEARNER_NAMES, LearnerConfig
from carepilot.models.effects.policy import engine_rule_learner, evaluate_rules
from carepilot.models.registry import ModelRegistry

log = logging.getLogger(__name__)
effects_app = typer.Typer(help="Individual treatment effects from a CSV file (see docs/treatment-effects.md).")


def register(app: typer.Typer) -> None:
    app.add_typer(effects_app, name="effects")


CsvOpt = Annotated[Path, typer.Option("--csv", help="CSV file, one row per patient.")]
TreatmentOpt = Annotated[str, typer.Option("--treatment", help="Column holding the option each patient received.")]
OutcomeOpt = Annotated[str, typer.Option("--outcome", help="Numeric outcome column.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
LearnerOpt = Annotated[
    str,
    typer.Option("--learner", help=f"auto (cross-validated R-loss) or one of {', '.join(LEARNER_NAMES)}."),
]


def fit_decision_on_store(name: str, json_out: bool) -> None:
    """Fit and register a decision's effect model from every patient in the store who made it."""
    s = settings()
    _, repo = open_store(s)
    fitted = fit_decision(
        repo, ModelRegistry(s.models_dir), load_decision(name), on_step=None if json_out else console.print
    )
    report_fitted(fitted, json_out)


def report_fitted(fitted: EffectFitResult, json_out: bool) -> None:
    """Print a registered effect model: its version, checksum, rows and learner (JSON or one line)."""
    out = {
        "model": fitted.record.name,
        "version": fitted.record.version,
        "sha256": fitted.record.sha256,
        "rows": fitted.rows,
        "per_option": fitted.per_option,
        "learner": fitted.learner,
    }
    if json_out:
        print_json(out)
        return
    console.print(
        f"registered {fitted.record.name} v{fitted.record.version} ({fitted.learner}, {fitted.rows} patients)"
    )


def _covariate_list(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def _config(trees: int, bootstrap: int, seed: int) -> LearnerConfig:
    return LearnerConfig(n_trees=trees, forest_trees=max(4, 4 * (trees // 4)), n_bootstrap=bootstrap, random_state=seed)


@effects_app.command("fit")
def fit(
    csv: Annotated[Path | None, typer.Option("--csv", help="CSV file, one row per patient.")] = None,
    treatment: Annotated[
        str | None, typer.Option("--treatment", help="Column holding the option each patient received.")
    ] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="Numeric outcome column.")] = None,
    decision: Annotated[
        str | None,
        typer.Option("--decision", help="A decision spec fitted on the store instead (e.g. diabetes-addon)."),
    ] = None,
    covariates: Annotated[str | None, typer.Option("--covariates", help="Comma-separated covariate columns.")] = None,
    model_out: Annotated[Path | None, typer.Option("--model-out", help="Where to write the model file.")] = None,
    learner: LearnerOpt = "auto",
    reference: Annotated[str | None, typer.Option("--reference", help="Reference option (default: first).")] = None,
    trees: Annotated[int, typer.Option("--trees", min=4, help="Trees per boosted/forest model.")] = 300,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=2, help="Bootstrap refits for intervals.")] = 50,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    lower_is_better: Annotated[
        bool, typer.Option("--lower-is-better", help="Smaller outcomes are better (e.g. HbA1c change).")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Fit an effect model on a CSV file and save it (joblib + sha256 sidecar), or a decision on the store."""
    if decision is not None:
        fit_decision_on_store(decision, json_out)
        return
    if csv is None or treatment is None or outcome is None:
        raise InputError("give --csv, --treatment and --outcome, or --decision NAME to fit on the store")
    table = load_effect_table(csv, treatment, outcome, _covariate_list(covariates))
    engine = EffectEngine(learner=learner, reference=reference, config=_config(trees, bootstrap, seed))
    engine.fit(table.X, table.t, table.y)
    path = model_out or settings().models_dir / f"effects-{outcome}.joblib"
    checksum = save_model(
        EffectModelFile(
            engine=engine,
            encoder=table.encoder,
            treatment=treatment,
            outcome=outcome,
            covariates=table.covariates,
            meta={
                "source_rows": len(table.y),
                "dropped_rows": table.dropped_rows,
                "lower_is_better": lower_is_better,
            },
        ),
        path,
    )
    tau = engine.effect(table.X)
    low, high = engine.effect_interval(table.X)
    flags = engine.overlap(table.X)
    summary: dict[str, Any] = {
        "model": str(path),
        "sha256": checksum,
        "rows": len(table.y),
        "dropped_rows": table.dropped_rows,
        "options": engine.options_,
        "reference": engine.reference_,
        "arm_counts": engine.arm_counts_,
        "learner": engine.learner_,
        "selection": None if engine.selection_ is None else engine.selection_.scores,
        "average_effect": {
            o: {
                "effect": float(tau[:, j].mean()),
                "share_interval_excludes_zero": float(np.mean((low[:, j] > 0) | (high[:, j] < 0))),
            }
            for j, o in enumerate(engine.contrasts_)
        },
        "outside_support": int((~flags.ok).sum()),
    }
    log.info("effects fit rows=%d options=%d learner=%s", len(table.y), len(engine.options_), engine.learner_)
    if json_out:
        print_json(summary)
        return
    out = Table(title=f"effect model for {outcome} by {treatment} ({len(table.y)} rows, learner {engine.learner_})")
    out.add_column("option")
    out.add_column("patients", justify="right")
    out.add_column(f"mean effect vs {engine.reference_}", justify="right")
    out.add_column("patients with a clear effect", justify="right")
    out.add_row(engine.reference_, str(engine.arm_counts_[engine.reference_]), "reference", "")
    for o, v in summary["average_effect"].items():
        out.add_row(o, str(engine.arm_counts_[o]), f"{v['effect']:+.3g}", f"{v['share_interval_excludes_zero']:.0%}")
    console.print(out)
    if engine.selection_ is not None:
        console.print(
            "  cross-validated R-loss: " + ", ".join(f"{k}={v:.4g}" for k, v in engine.selection_.scores.items())
        )
    if table.dropped_rows:
        console.print(f"  {table.dropped_rows} row(s) without a treatment or outcome were left out")
    console.print(f"  {summary['outside_support']} patient(s) outside common support")
    console.print(f"  model written to {path} (sha256 {checksum[:12]}...)")


@effects_app.command("predict")
def predict(
    model: Annotated[Path, typer.Option("--model", help="Model file written by 'effects fit'.")],
    csv: CsvOpt,
    json_file: Annotated[Path, typer.Option("--json", help="Write one JSON object per input row to this file.")],
    alpha: Annotated[float, typer.Option("--alpha", min=0.001, max=0.5, help="1 - interval level.")] = 0.05,
) -> None:
    """Per-patient effects with intervals and support flags for every row of a CSV file."""
    bundle = load_model(model)
    X = load_covariates(csv, bundle.covariates, bundle.encoder)
    rows = predictions(bundle.engine, X, alpha, bool(bundle.meta.get("lower_is_better", False)))
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    table = Table(title=f"effects of {bundle.treatment} on {bundle.outcome} ({len(rows)} rows)")
    for col in ("row", "best option", "effect", "95% interval" if alpha == 0.05 else "interval", "support"):
        table.add_column(col)
    for r in rows[:20]:
        table.add_row(
            str(r["row"]),
            r["best_option"],
            f"{r['effect']:+.3g}",
            f"{r['effect_low']:+.3g} to {r['effect_high']:+.3g}",
            "ok" if r["overlap_ok"] else "outside",
        )
    console.print(table)
    if len(rows) > 20:
        console.print(f"  ... {len(rows) - 20} more rows in {json_file}")
    console.print(f"  written to {json_file}")


def predictions(engine: EffectEngine, X: Any, alpha: float, lower_is_better: bool = False) -> list[dict[str, Any]]:
    """One JSON-ready object per row; with more than two options the top-level effect is the best option's."""
    tau = engine.effect(X)
    low, high = engine.effect_interval(X, alpha)
    flags = engine.overlap(X)
    rows = []
    for i in range(len(tau)):
        best = int(np.argmin(tau[i]) if lower_is_better else np.argmax(tau[i]))
        row: dict[str, Any] = {
            "row": i,
            "reference": engine.reference_,
            "best_option": engine.contrasts_[best],
            "effect": float(tau[i, best]),
            "effect_low": float(low[i, best]),
            "effect_high": float(high[i, best]),
            "overlap_ok": bool(flags.ok[i]),
        }
        if not flags.ok[i]:
            row["overlap_reason"] = flags.reasons[i]
        if len(engine.contrasts_) > 1:
            row["effects"] = {
                o: {"effect": float(tau[i, j]), "low": float(low[i, j]), "high": float(high[i, j])}
                for j, o in enumerate(engine.contrasts_)
            }
        rows.append(row)
    return rows


@effects_app.command("evaluate")
def evaluate(
    csv: CsvOpt,
    treatment: TreatmentOpt,
    outcome: OutcomeOpt,
    propensity: Annotated[
        str | None,
        typer.Option("--propensity", help="Column with each patient's known probability of the option received."),
    ] = None,
    covariates: Annotated[str | None, typer.Option("--covariates", help="Comma-separated covariate columns.")] = None,
    learner: Annotated[str, typer.Option("--learner", help=f"One of {', '.join(LEARNER_NAMES)}.")] = "causal_forest",
    rule: Annotated[str, typer.Option("--rule", help="cautious (switch only on a clear gain) or argmax.")] = "cautious",
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better", help="Smaller outcomes are better.")] = False,
    folds: Annotated[int, typer.Option("--folds", min=2, max=10)] = 5,
    trees: Annotated[int, typer.Option("--trees", min=4)] = 200,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=2)] = 30,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_out: JsonFlag = False,
) -> None:
    """Cross-fitted AIPW value of a learned rule vs each single option vs current practice, with 95% CIs."""
    if rule not in ("cautious", "argmax"):
        raise CsvColumnError(f"--rule must be cautious or argmax, got {rule!r}")
    covs = _covariate_list(covariates)
    table = load_effect_table(csv, treatment, outcome, covs)
    known = None
    if propensity is not None:
        from carepilot.models.effects.csvio import read_csv, require_columns

        frame = read_csv(csv)
        require_columns(frame, [propensity], str(csv))
        keep = frame[treatment].notna() & frame[outcome].notna()
        known = frame.loc[keep, propensity].to_numpy(dtype=float)
        if not np.all((known > 0) & (known <= 1)):
            raise CsvColumnError(f"{csv}: propensity column {propensity!r} must hold probabilities in (0, 1]")
        # The propensity column is not a covariate.
        drop = [c for c in table.X.columns if c == propensity]
        table.X = table.X.drop(columns=drop)
    options = sorted(set(table.t.tolist()))
    codes = np.asarray([options.index(v) for v in table.t])
    config = _config(trees, bootstrap, seed)
    result = evaluate_rules(
        table.X.to_numpy(),
        codes,
        table.y,
        options,
        engine_rule_learner(learner, config, cautious=rule == "cautious"),
        lower_is_better=lower_is_better,
        known_propensity=known,
        config=config,
        n_folds=folds,
        seed=seed,
    )
    payload = {
        "options": result.options,
        "lower_is_better": result.lower_is_better,
        "learned_rule": result.learned.__dict__,
        "single_option_rules": {o: v.__dict__ for o, v in result.single.items()},
        "current_practice": result.current.__dict__,
        "best_single_option": result.best_single,
        "learned_minus_best_single": result.vs_best_single.__dict__,
        "learned_beats_best_single": result.learned_beats_best,
        "assignment_share": result.assignment_share,
        "recommendation": result.recommendation,
    }
    if json_out:
        print_json(payload)
        return
    out = Table(title=f"policy value for {outcome} ({len(table.y)} rows; cross-fitted AIPW, 95% CI)")
    out.add_column("rule")
    out.add_column("value", justify="right")
    out.add_column("95% CI", justify="right")
    for v in (result.learned, *result.single.values(), result.current):
        out.add_row(v.name, f"{v.value:.4g}", f"{v.low:.4g} to {v.high:.4g}")
    console.print(out)
    d = result.vs_best_single
    console.print(f"  {d.name}: {d.difference:+.4g} (95% CI {d.low:+.4g} to {d.high:+.4g})")
    console.print(f"  recommendation: {result.recommendation}")
