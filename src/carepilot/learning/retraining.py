"""Challengers: retrain (or only recalibrate) on the recent data window, compare with the champion, register pending.

The recent window is split in time: its latest ``holdout_fraction`` of discharges is the held-out window on which
champion and challenger are both evaluated; the challenger learns only from the earlier part, and patients with a
held-out discharge are left out of its training rows, so no patient is on both sides. Nothing is tuned on the held-out
window (``RiskClassifier`` tunes and calibrates on splits of its own training rows).

A recalibration-only challenger keeps the champion's fitted model and refits its calibrator (and those of its
bootstrap members, so intervals stay consistent) on the training part of the window: the lighter update for when
discrimination holds but calibration has drifted (Van Calster et al. 2019, *BMC Medicine* 17:230, "updating").

Feature importance is permutation importance on the held-out window (Breiman 2001; ``sklearn.inspection``), in
AUROC points, for both models, so the report can say which inputs gained or lost weight.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from carepilot.domain.consent import ConsentDirectory, ConsentScope
from carepilot.errors import InputError, ModelError
from carepilot.features.readmission import FEATURES
from carepilot.learning.drift import reference_profile
from carepilot.learning.inputs import write_reference
from carepilot.learning.monitoring import age_band
from carepilot.models.calibration import fit_calibrator
from carepilot.models.cards import ModelCard
from carepilot.models.fairness import subgroup_metrics
from carepilot.models.metrics import binary_metrics
from carepilot.models.registry import ModelRecord, ModelRegistry
from carepilot.models.risk import RiskClassifier

MIN_TRAIN = 100
MIN_EVENTS = 10
KEYS = ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept", "prevalence")


@dataclass
class RetrainResult:
    """The registered challenger and its comparison with the champion."""

    record: ModelRecord
    champion_version: str
    comparison: dict[str, Any]
    report_json: Path
    report_markdown: Path


def recalibrated(model: RiskClassifier, X: pd.DataFrame, y: np.ndarray) -> RiskClassifier:
    """A copy of ``model`` whose calibrator (and bootstrap members' calibrators) are refitted on ``X, y``."""
    out = copy.deepcopy(model)
    prepared = out.prepare(X)
    method = out.calibration_method_
    out.calibrator_ = fit_calibrator(out.pipeline_.predict_proba(prepared)[:, 1], y, method)
    out.bootstrap_members_ = [
        (member, fit_calibrator(member.predict_proba(prepared)[:, 1], y, method))
        for member, _ in out.bootstrap_members_
    ]
    return out


def split_window(
    frame: pd.DataFrame, window_days: int, holdout_fraction: float = 0.25
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, held-out part) of the last ``window_days`` of discharges, split in time and by patient."""
    if frame.empty:
        raise ModelError("no discharges with a known 30-day outcome in the store")
    if not 0.05 <= holdout_fraction <= 0.5:
        raise InputError(f"holdout fraction must be between 0.05 and 0.5, got {holdout_fraction}")
    end = frame["index_time"].max()
    window = frame[frame["index_time"] > end - timedelta(days=window_days)].sort_values("index_time")
    cut = window["index_time"].quantile(1.0 - holdout_fraction)
    holdout = window[window["index_time"] > cut]
    train = window[(window["index_time"] <= cut) & ~window["patient_id"].isin(set(holdout["patient_id"]))]
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _groups(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": frame["sex"].fillna("unknown").to_numpy(),
            "race": frame["race"].fillna("unknown").to_numpy(),
            "ethnicity": frame["ethnicity"].fillna("unknown").to_numpy(),
            "age_band": age_band(frame["age"]).to_numpy(),
        }
    )


def _importance(model: RiskClassifier, X: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, float]:
    result = permutation_importance(model, X, y, scoring="roc_auc", n_repeats=3, random_state=seed, n_jobs=1)
    return {str(c): round(float(v), 4) for c, v in zip(X.columns, result.importances_mean, strict=True)}


def _period(frame: pd.DataFrame) -> str:
    return f"{frame['index_time'].min():%Y-%m-%d} to {frame['index_time'].max():%Y-%m-%d}"


def compare(
    champion: RiskClassifier, challenger: RiskClassifier, train: pd.DataFrame, holdout: pd.DataFrame, seed: int = 0
) -> dict[str, Any]:
    """Champion and challenger on the same held-out window: performance, calibration, fairness, importance."""
    X, y = holdout[list(FEATURES)], holdout["label"].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        raise ModelError("the held-out window has a single outcome class; widen --window")
    out: dict[str, Any] = {"holdout": {"n": len(holdout), "events": int(y.sum()), "period": _period(holdout)}}
    fairness: dict[str, Any] = {}
    importance: dict[str, dict[str, float]] = {}
    for role, model in (("champion", champion), ("challenger", challenger)):
        p = model.predict_proba(X)[:, 1]
        metrics = binary_metrics(y, p)
        out[role] = {k: round(metrics[k], 4) for k in KEYS}
        fairness[role] = [r.to_dict() for r in subgroup_metrics(y, p, _groups(holdout), threshold=0.2)]
        importance[role] = _importance(model, X, y, seed)
    out["fairness"] = fairness
    out["delta"] = {k: round(out["challenger"][k] - out["champion"][k], 4) for k in KEYS}
    shift = {f: round(importance["challenger"][f] - importance["champion"][f], 4) for f in importance["champion"]}
    top = sorted(shift, key=lambda f: -abs(shift[f]))[:10]
    out["feature_importance"] = {
        "method": "permutation importance on the held-out window, mean AUROC drop over 3 repeats",
        "champion": importance["champion"],
        "challenger": importance["challenger"],
        "largest_shifts": [{"feature": f, "shift": shift[f]} for f in top],
    }
    out["training"] = {"n": len(train), "events": int(train["label"].sum()), "period": _period(train)}
    return out


def retrain(
    frame: pd.DataFrame,
    registry: ModelRegistry,
    name: str,
    *,
    consent: ConsentDirectory,
    window_days: int = 365,
    recalibrate_only: bool = False,
    holdout_fraction: float = 0.25,
    n_bootstrap: int = 10,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> RetrainResult:
    """Train (or recalibrate) a challenger on ``frame``'s recent window, compare, and register it as pending.

    ``frame`` is the point-in-time readmission frame (``features.population.readmission_frame``). Patients who
    opted out of training are removed before anything is fitted or evaluated.
    """
    say = on_step or (lambda _m: None)
    champion_record = registry.record(name)
    champion: RiskClassifier = registry.load(name, champion_record.version)
    opted_out = consent.opted_out(ConsentScope.TRAINING)
    usable = frame[~frame["patient_id"].isin(opted_out)] if opted_out else frame
    train, holdout = split_window(usable, window_days, holdout_fraction)
    events = int(train["label"].sum())
    if len(train) < MIN_TRAIN or events < MIN_EVENTS:
        raise ModelError(
            f"too few discharges in the training part of the window ({len(train)} with {events} readmissions; need "
            f"{MIN_TRAIN} and {MIN_EVENTS}): widen --window"
        )
    X, y = train[list(FEATURES)], train["label"].to_numpy(dtype=int)
    if recalibrate_only:
        say(f"refitting the calibrator of version {champion_record.version} on {len(train)} recent discharges")
        challenger = recalibrated(champion, X, y)
        estimator = champion_record.metadata.get("estimator", champion.estimator)
    else:
        estimator = str(champion_record.metadata.get("estimator", champion.estimator))
        say(f"training a {estimator} challenger on {len(train)} recent discharges ({events} readmitted)")
        challenger = RiskClassifier(estimator, n_bootstrap=n_bootstrap, random_state=seed).fit(
            X, y, train["patient_id"].to_numpy()
        )
    say(f"comparing champion and challenger on {len(holdout)} held-out recent discharges")
    comparison = compare(champion, challenger, train, holdout, seed)
    comparison["kind"] = "recalibration" if recalibrate_only else "retrain"
    comparison["champion_version"] = champion_record.version
    comparison["what_changed"] = _what_changed(champion_record, champion, challenger, train, recalibrate_only)
    window = _period(train)
    metadata = {
        "estimator": estimator,
        "features": list(FEATURES),
        "training_window": window,
        "n": len(train),
        "events": events,
        "parent_version": champion_record.version,
        "update": comparison["kind"],
        "validation": {k: comparison["challenger"][k] for k in ("auroc", "brier", "calibration_slope")},
    }
    record = registry.save(challenger, name, metadata=metadata, status="pending")
    comparison["challenger_version"] = record.version
    folder = registry.root / name / record.version
    train_scores = challenger.predict_proba(X)[:, 1]
    write_reference(registry, name, record.version, reference_profile(train, FEATURES, train_scores))
    _write_card(registry, name, champion_record.version, record.version, comparison, window, len(train), events)
    report_json = folder / "comparison.json"
    report_json.write_text(json.dumps(comparison, indent=2, default=str), encoding="utf-8")
    report_md = folder / "comparison.md"
    report_md.write_text(comparison_markdown(name, comparison), encoding="utf-8")
    return RetrainResult(record, champion_record.version, comparison, report_json, report_md)


def _what_changed(
    record: ModelRecord, champion: RiskClassifier, challenger: RiskClassifier, train: pd.DataFrame, recal: bool
) -> list[str]:
    changes = [
        f"training window {record.metadata.get('training_window', 'unknown')} -> {_period(train)}",
        f"training discharges {record.metadata.get('n', '?')} -> {len(train)}; readmission rate "
        f"{champion.training_summary_.get('prevalence', float('nan')):.3f} -> {float(train['label'].mean()):.3f}",
    ]
    if recal:
        changes.append(f"base model kept; calibrator ({challenger.calibration_method_}) refitted on recent data")
    else:
        changes.append(
            f"estimator {champion.estimator} -> {challenger.estimator}; hyper-parameters "
            f"{champion.best_params_} -> {challenger.best_params_}"
        )
        changes.append(f"calibration {champion.calibration_method_} -> {challenger.calibration_method_}")
    return changes


def _write_card(
    registry: ModelRegistry,
    name: str,
    parent: str,
    version: str,
    comparison: dict[str, Any],
    window: str,
    n: int,
    events: int,
) -> None:
    source = registry.card_path(name, parent)
    if not source.is_file():
        return
    card = ModelCard.read(source)
    card.version = version
    card.training_window = window
    card.training_population = f"{n} recent inpatient discharges ({events} readmitted) in this CarePilot store"
    card.metrics = dict(comparison["challenger"])
    card.subgroups = comparison["fairness"]["challenger"]
    card.methods = {
        **card.methods,
        "validation": f"held-out most recent window ({comparison['holdout']['n']} discharges, "
        f"{comparison['holdout']['period']}), champion v{parent} evaluated on the same rows",
        "update": "recalibration only (base model of v" + parent + " kept)"
        if comparison["kind"] == "recalibration"
        else "retrained on the recent data window",
    }
    card.created = datetime.now(UTC).date().isoformat()
    target = registry.card_path(name, version)
    target.write_text(card.to_json(), encoding="utf-8")
    target.with_suffix(".md").write_text(card.to_markdown(), encoding="utf-8")


def comparison_markdown(name: str, c: dict[str, Any]) -> str:
    """The comparison report as markdown."""
    lines = [
        f"# {name}: challenger v{c.get('challenger_version', '?')} vs champion v{c['champion_version']} ({c['kind']})",
        "",
        f"Held-out window: {c['holdout']['n']} discharges, {c['holdout']['events']} readmitted, "
        f"{c['holdout']['period']}. Challenger trained on {c['training']['n']} discharges ({c['training']['period']}).",
        "",
        "## Performance and calibration (same held-out rows)",
        "",
        "| metric | champion | challenger | change |",
        "|---|---:|---:|---:|",
        *[f"| {k} | {c['champion'][k]:.4f} | {c['challenger'][k]:.4f} | {c['delta'][k]:+.4f} |" for k in KEYS],
        "",
        "## Fairness (largest gap between groups)",
        "",
        "| attribute | champion AUROC gap | challenger AUROC gap | champion calibration gap | challenger calibration gap |",
        "|---|---:|---:|---:|---:|",
    ]
    for ch, cl in zip(c["fairness"]["champion"], c["fairness"]["challenger"], strict=True):
        g0, g1 = ch["largest_gap"], cl["largest_gap"]
        cells = [
            g0.get("auroc"),
            g1.get("auroc"),
            g0.get("calibration_in_the_large"),
            g1.get("calibration_in_the_large"),
        ]
        lines.append(f"| {ch['attribute']} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in cells) + " |")
    lines += [
        "",
        "## What changed",
        "",
        *[f"- {w}" for w in c["what_changed"]],
        "",
        "## Feature importance shift",
        "",
        f"{c['feature_importance']['method']}.",
        "",
        "| feature | champion | challenger | shift |",
        "|---|---:|---:|---:|",
    ]
    for item in c["feature_importance"]["largest_shifts"]:
        f = item["feature"]
        lines.append(
            f"| {f} | {c['feature_importance']['champion'][f]:.4f} | "
            f"{c['feature_importance']['challenger'][f]:.4f} | {item['shift']:+.4f} |"
        )
    lines += [
        "",
        "The challenger is registered as **pending**: it serves only after a model owner runs "
        f"`carepilot models approve {name} {c.get('challenger_version', 'VERSION')} --reason ... --by ...`.",
        "",
    ]
    return "\n".join(lines)
