"""A fitted risk model survives the registry: same predictions, card beside it, Insight from the copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from carepilot.config import Settings
from carepilot.domain.insight import Insight
from carepilot.models.cards import ModelCard
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.models.risk_insight import RiskModelInfo, risk_insight

pytestmark = pytest.mark.slow


def test_registered_risk_model_round_trips_with_its_card(settings: Settings) -> None:
    rng = np.random.default_rng(11)
    X = pd.DataFrame({"hba1c": rng.normal(7.0, 1.5, 800), "site": rng.choice(["north", "south"], 800)})
    y = (rng.random(800) < 1.0 / (1.0 + np.exp(-(-1.5 + (X["hba1c"] - 7.0))))).astype(int)
    model = RiskClassifier("logistic", param_grid=[{"C": 1.0}], n_bootstrap=3).fit(X, y)
    card = ModelCard(
        model_id="test-risk",
        version="1",
        title="Test risk",
        outcome="test outcome",
        model_type="L2 logistic",
        training_window="synthetic",
        training_population="synthetic patients",
        intended_use="tests",
        intended_users="developers",
        intended_population="synthetic",
        out_of_scope=["real patients"],
        limitations=["synthetic"],
    )
    registry = ModelRegistry(settings.models_dir)
    rec = registry.save(model, "test-risk", card=card.to_dict(), card_markdown=card.to_markdown())
    loaded = registry.load("test-risk")
    assert np.allclose(loaded.predict_proba(X.head(5)), model.predict_proba(X.head(5)))
    stored = json.loads(registry.card_path("test-risk").read_text())
    assert len(stored["hti1_source_attributes"]) == 31
    info = RiskModelInfo("test-risk", rec.version, "test outcome", card_url=str(registry.card_path("test-risk")))
    out = risk_insight(loaded, X.head(1), patient_id="p-1", as_of=datetime(2026, 1, 1, tzinfo=UTC), info=info)
    assert isinstance(out, Insight) and out.source.version == "1"
