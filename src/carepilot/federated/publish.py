"""Register the federated model in the ``ModelRegistry`` with a model card that says how and where it was trained."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from carepilot.features.readmission import FEATURES
from carepilot.federated.model import FederatedRiskClassifier
from carepilot.federated.server import FederationResult
from carepilot.learning.training import register_with_card
from carepilot.models.cards import ModelCard
from carepilot.models.registry import ModelRecord, ModelRegistry

MODEL_NAME = "readmission"


def result_summary(result: FederationResult) -> dict[str, Any]:
    """The JSON-ready summary of a federated run (no arrays except the small global weights)."""
    return {
        "strategy": result.strategy,
        "rounds": result.rounds,
        "seconds": round(result.seconds, 2),
        "bytes_per_round": result.bytes_per_round,
        "bytes_total": result.bytes_total,
        "epsilon": result.epsilon,
        "delta": result.delta,
        "sites": result.sites,
        "pooled": result.pooled,
        "history": result.history,
        "plan": asdict(result.plan),
        "n_training_rows": result.preprocessing.n,
        "chosen_C": result.chosen_C,
        "validation": result.validation,
    }


def write_result(result: FederationResult, path: Path) -> None:
    """Write the run summary as JSON (what ``carepilot federate server --out`` leaves behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_summary(result), indent=2, default=float))


def card_subgroups(pooled: dict[str, Any], min_group: int = 30) -> list[dict[str, Any]]:
    """The pooled subgroup counts in the model card's subgroup format (per attribute, groups and largest gap)."""
    by_attribute: dict[str, list[dict[str, Any]]] = {}
    for key, stats in sorted(pooled.get("subgroups", {}).items()):
        attribute, group = key.split("=", 1)
        by_attribute.setdefault(attribute, []).append({"group": group, "auroc": None, **stats})
    reports = []
    for attribute, groups in by_attribute.items():
        gap: dict[str, float | None] = {"auroc": None}
        for metric in ("fnr", "calibration_in_the_large"):
            values = [g[metric] for g in groups if g["n"] >= min_group and g[metric] is not None]
            gap[metric] = float(max(values) - min(values)) if len(values) >= 2 else None
        reports.append({"attribute": attribute, "groups": groups, "largest_gap": gap})
    return reports


def federated_card(result: FederationResult) -> ModelCard:
    """The HTI-1 model card of a federated readmission model."""
    sites = sorted(result.sites)
    pooled = result.pooled
    metrics: dict[str, Any] = {k: pooled[k] for k in ("auroc", "brier", "calibration_in_the_large") if k in pooled}
    dp = (
        f"; differential privacy (site level): noise multiplier {result.plan.privacy.noise_multiplier}, clipping "
        f"norm {result.plan.privacy.clipping_norm}, epsilon {result.epsilon:.2f} at delta {result.delta:g} (RDP "
        "accountant)"
        if result.plan.privacy is not None and result.epsilon is not None
        else ""
    )
    return ModelCard(
        model_id=MODEL_NAME,
        version="pending",
        title="30-day readmission after an inpatient discharge (trained federatedly)",
        outcome="readmission within 30 days of discharge",
        model_type=f"L2 logistic regression trained federatedly with Flower ({result.strategy}), Platt-calibrated "
        "across sites",
        training_window="per site: each site's discharges with a complete 30-day follow-up",
        training_population=f"{result.preprocessing.n} training discharges at {len(sites)} sites "
        f"({', '.join(sites)}); patient records never left their site",
        intended_use="Estimate at discharge the probability of readmission within 30 days, to prioritise discharge "
        "planning, follow-up calls and transitional care",
        intended_users="Ward clinicians, discharge planners and care managers",
        intended_population="Adults discharged alive from an inpatient stay, not to hospice, at the participating "
        "sites",
        out_of_scope=[
            "Deciding whether to admit or discharge a patient",
            "Patients discharged to hospice or who died",
            "Children",
            "Sites that did not take part, without local validation",
        ],
        limitations=[
            "Trained across sites without seeing their records: no per-patient bootstrap interval, and the "
            "out-of-distribution check uses pooled means and standard deviations only",
            "Missing values are imputed with the pooled mean (a median cannot be aggregated exactly)",
            "Readmissions to other hospitals are not seen",
        ],
        metrics=metrics,
        subgroups=card_subgroups(pooled),
        training_data={
            "source": "the CarePilot unified record at each participating site",
            "training_mode": "federated",
            "sites": sites,
            "n": result.preprocessing.n,
            "per_site_evaluation": result.sites,
            "inclusion_exclusion": "every inpatient discharge whose 30-day follow-up lies inside the site's data; "
            "discharges to hospice or death excluded; patients who opted out of training or sharing excluded at "
            "their site",
        },
        features=list(FEATURES),
        demographic_features={"age": "date of birth", "male": "sex"},
        methods={
            "training": f"federated (Flower), {result.rounds} rounds of {result.strategy}; only parameters and "
            f"aggregate statistics left the sites{dp}",
            "validation": "federated evaluation: each site scored its own held-out patients (25%, chosen by a hash "
            "of the patient id); pooled AUROC from the sites' risk histograms",
            "calibration": "Platt scaling fitted at each site on its calibration patients, averaged by patient count",
            "interval": "none (a bootstrap over patients is not possible without their records)",
            "explanation": "SHAP values per feature in percentage points of risk",
        },
        created=datetime.now(UTC).date().isoformat(),
    )


def register(result: FederationResult, registry: ModelRegistry) -> ModelRecord:
    """Assemble the model, save it with its card, and return the registry record."""
    model = FederatedRiskClassifier.assemble(
        result.preprocessing, result.theta, result.platt, {"n": result.preprocessing.n, "sites": sorted(result.sites)}
    )
    card = federated_card(result)
    metadata: dict[str, Any] = {
        "estimator": "logistic",
        "training_mode": "federated",
        "sites": sorted(result.sites),
        "strategy": result.strategy,
        "rounds": result.rounds,
        "features": list(FEATURES),
        "training_window": card.training_window,
        "n": result.preprocessing.n,
        "pooled_auroc": float(result.pooled["auroc"]) if np.isfinite(result.pooled["auroc"]) else None,
        "epsilon": result.epsilon,
    }
    return register_with_card(registry, model, MODEL_NAME, metadata, card)
