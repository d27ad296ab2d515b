"""The federated booster as a ``RiskClassifier``, its run summary, and its registration with a model card.

The model is a ``FederatedRiskClassifier`` whose pipeline passes the ``FEATURES`` columns unchanged to an
``xgboost.XGBClassifier`` carrying the global booster (trees need neither imputation nor scaling), with the
federated Platt map as its calibrator; so ``predict_proba``, the Tree SHAP explanation and the risk Insight run
unchanged. As for the federated logistic model, there is no bootstrap interval and the out-of-distribution
check is the pooled mean / standard-deviation envelope (``FederatedRiskClassifier.out_of_distribution``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from carepilot.federated.boosting import BoostedResult
from carepilot.federated.model import FederatedRiskClassifier
from carepilot.federated.preprocessing import PooledPreprocessing
from carepilot.federated.publish import MODEL_NAME, federated_card
from carepilot.learning.training import register_with_card
from carepilot.models.cards import ModelCard
from carepilot.models.registry import ModelRecord, ModelRegistry


def boosted_classifier(
    prep: PooledPreprocessing, booster: bytes, platt: np.ndarray, summary: dict[str, Any] | None = None
) -> FederatedRiskClassifier:
    """The fitted model from the pooled statistics (envelope only), the booster's JSON bytes and Platt ``[a, b]``."""
    model = FederatedRiskClassifier.shared_parts(prep, "xgboost", platt, summary)
    features = list(prep.features)
    passthrough = ColumnTransformer([("num", "passthrough", features)], verbose_feature_names_out=True)
    passthrough.fit(pd.DataFrame(np.zeros((1, len(features))), columns=features))
    trees = xgb.XGBClassifier(n_jobs=1)
    trees.load_model(bytearray(booster))
    model.pipeline_ = Pipeline([("prep", passthrough), ("model", trees)])
    return model


def boosted_summary(result: BoostedResult) -> dict[str, Any]:
    """The JSON-ready summary of a boosted run (no model bytes)."""
    return {
        "model": "boosted",
        "strategy": result.strategy,
        "rounds": result.rounds,
        "chosen_rounds": result.chosen_rounds,
        "trees": result.trees,
        "base_score": result.base_score,
        "platt": [float(v) for v in result.platt],
        "seconds": round(result.seconds, 2),
        "bytes_per_round": result.bytes_per_round,
        "bytes_total": result.bytes_total,
        "sites": result.sites,
        "pooled": result.pooled,
        "history": result.history,
        "plan": asdict(result.plan),
        "n_training_rows": result.preprocessing.n,
    }


def write_boosted_result(result: BoostedResult, path: Path) -> None:
    """Write the run summary as JSON (what ``carepilot federate server --model boosted --out`` leaves behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(boosted_summary(result), indent=2, default=float))


def boosted_card(result: BoostedResult) -> ModelCard:
    """The model card: the federated card, with the model type, limitations and methods of boosted trees."""
    # The federated card reads sites, pooled metrics, row count, rounds and DP settings (none for trees).
    view = SimpleNamespace(**{**vars(result), "plan": SimpleNamespace(privacy=None), "epsilon": None})
    card = federated_card(view)  # type: ignore[arg-type]
    plan = result.plan
    return replace(
        card,
        model_type=f"Gradient-boosted trees (XGBoost) trained federatedly with Flower's FedXgbBagging: "
        f"{result.trees} trees of depth at most {plan.max_depth}, Platt-calibrated across sites",
        limitations=[
            "Trained across sites without seeing their records: no per-patient bootstrap interval, and the "
            "out-of-distribution check uses pooled means and standard deviations only",
            "Each tree is fitted at one site: a round's trees are averaged, not grown on pooled data",
            "Readmissions to other hospitals are not seen",
        ],
        methods={
            **card.methods,
            "training": f"federated (Flower FedXgbBagging), {result.chosen_rounds} of {result.rounds} rounds kept "
            f"(lowest pooled log-loss on the sites' calibration patients), one tree per site per round with "
            f"learning rate {plan.eta} / sites; only model bytes and aggregate statistics left the sites",
            "explanation": "Tree SHAP values per feature in percentage points of risk",
        },
    )


def register_boosted(result: BoostedResult, registry: ModelRegistry) -> ModelRecord:
    """Assemble the boosted model, save it with its card, and return the registry record."""
    sites = sorted(result.sites)
    model = boosted_classifier(
        result.preprocessing, result.booster, result.platt, {"n": result.preprocessing.n, "sites": sites}
    )
    card = boosted_card(result)
    auroc = float(result.pooled["auroc"])
    metadata: dict[str, Any] = {
        "estimator": "xgboost",
        "training_mode": "federated",
        "sites": sites,
        "strategy": result.strategy,
        "rounds": result.chosen_rounds,
        "trees": result.trees,
        "features": card.features,
        "training_window": card.training_window,
        "n": result.preprocessing.n,
        "pooled_auroc": auroc if np.isfinite(auroc) else None,
        "epsilon": None,
    }
    return register_with_card(registry, model, MODEL_NAME, metadata, card)
