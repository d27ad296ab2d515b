"""Challengers: recalibration keeps the ranking and fixes the level; retrain registers a pending version with a report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.features.readmission import FEATURES
from carepilot.learning.retraining import recalibrated, retrain
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier

pytestmark = pytest.mark.slow  # fits small risk models

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def frame(n: int, seed: int, offset: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {f: rng.normal(size=n) for f in FEATURES}
    data["age"] = rng.uniform(20, 90, n)
    logit = -1.5 + offset + 1.2 * data["latest_creatinine"] + 0.02 * (data["age"] - 60)
    out = pd.DataFrame(data)
    out["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    out["patient_id"] = [f"p{seed}-{i}" for i in range(n)]
    out["index_time"] = [T0 + timedelta(hours=20 * i) for i in range(n)]
    out["sex"], out["race"], out["ethnicity"] = "female", "white", "not-hispanic"
    return out


def test_recalibration_keeps_the_ranking_and_moves_the_level_to_the_new_prevalence():
    old = frame(600, 1)
    model = RiskClassifier("logistic", param_grid=[{"C": 1.0}]).fit(old[list(FEATURES)], old["label"])
    new = frame(600, 2, offset=1.0)  # same relationship, higher baseline risk
    updated = recalibrated(model, new[list(FEATURES)], new["label"].to_numpy())
    before = model.predict_proba(new[list(FEATURES)])[:, 1]
    after = updated.predict_proba(new[list(FEATURES)])[:, 1]
    assert roc_auc_score(new["label"], after) == pytest.approx(roc_auc_score(new["label"], before), abs=0.01)
    assert abs(after.mean() - new["label"].mean()) < abs(before.mean() - new["label"].mean())
    assert updated.pipeline_ is not model.pipeline_  # a copy: the champion is untouched


def test_retrain_registers_a_pending_challenger_with_a_comparison_report(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    history = frame(900, 3)
    champion = RiskClassifier("logistic", param_grid=[{"C": 1.0}]).fit(history[list(FEATURES)], history["label"])
    registry.save(champion, "readmission", metadata={"estimator": "logistic"})
    opted_out = history["patient_id"].iloc[-1]
    result = retrain(
        history,
        registry,
        "readmission",
        consent=StaticConsent({ConsentScope.TRAINING: [opted_out]}),
        window_days=600,
        n_bootstrap=0,
    )
    assert result.record.version == "2" and registry.statuses("readmission")["2"] == "pending"
    assert registry.record("readmission").version == "1"  # the champion still serves
    report = json.loads(result.report_json.read_text())
    assert set(report) >= {"champion", "challenger", "delta", "fairness", "feature_importance", "what_changed"}
    assert report["holdout"]["n"] > 0 and "recent" not in report["kind"]
    assert "| auroc |" in result.report_markdown.read_text()
    assert (registry.root / "readmission" / "2" / "reference.json").is_file()
