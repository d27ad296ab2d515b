"""A risk Insight from a fitted model: value, interval, explanation, source; cautious when it should be."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from carepilot.domain.insight import Declined, Insight, InsightKind
from carepilot.models.explain import FeatureInfo
from carepilot.models.risk import RiskClassifier
from carepilot.models.risk_insight import RiskModelInfo, risk_insight

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 1, 15, tzinfo=UTC)
INFO = RiskModelInfo(
    model_id="readmission-30d",
    version="3",
    outcome="30-day readmission",
    training_window="1999-2008",
    card_url="models/readmission-30d/3/card.json",
)
CATALOG = {"hba1c": FeatureInfo("HbA1c", "%", low=4.0, high=6.5)}


@pytest.fixture(scope="module")
def model() -> RiskClassifier:
    rng = np.random.default_rng(7)
    n = 1200
    X = pd.DataFrame({"hba1c": rng.normal(7.0, 1.5, n), "age": rng.normal(60.0, 10.0, n)})
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(-1.5 + 1.2 * (X["hba1c"] - 7.0))))).astype(int)
    return RiskClassifier("logistic", param_grid=[{"C": 1.0}], n_bootstrap=8).fit(X, y)


def row(hba1c: float, age: float = 60.0) -> pd.DataFrame:
    return pd.DataFrame({"hba1c": [hba1c], "age": [age]})


def test_insight_carries_calibrated_value_interval_factors_and_provenance(model: RiskClassifier) -> None:
    out = risk_insight(model, row(9.8), patient_id="p-001", as_of=AS_OF, info=INFO, catalog=CATALOG)
    assert isinstance(out, Insight)
    assert out.kind is InsightKind.RISK
    assert out.value == pytest.approx(model.predict_proba(row(9.8))[0, 1])
    assert out.interval is not None and out.interval.low <= out.value <= out.interval.high
    assert out.explanation[0].phrase.startswith("HbA1c 9.8% (high) adds")
    assert out.source.id == "readmission-30d" and out.source.version == "3"
    assert out.source.data_window == "1999-2008"
    assert out.evidence[0].url == INFO.card_url
    assert out.confidence.level in ("high", "moderate")
    assert "HbA1c 9.8% (high)" in out.detail


def test_patient_outside_the_training_data_is_declined_with_the_reason(model: RiskClassifier) -> None:
    out = risk_insight(model, row(25.0), patient_id="p-002", as_of=AS_OF, info=INFO)
    assert isinstance(out, Declined)
    assert "hba1c" in out.reason and "training range" in out.reason
    assert out.engine == "readmission-30d@3"


def test_wide_interval_makes_the_insight_say_it_is_uncertain(model: RiskClassifier) -> None:
    out = risk_insight(model, row(7.5), patient_id="p-003", as_of=AS_OF, info=INFO, max_interval_width=0.0)
    assert isinstance(out, Insight)
    assert out.confidence.level == "low"
    assert out.title.startswith("30-day readmission risk uncertain")
    assert "Uncertain" in out.confidence.statement


def test_insight_id_is_stable_for_the_same_patient_time_and_model(model: RiskClassifier) -> None:
    a = risk_insight(model, row(8.0), patient_id="p-004", as_of=AS_OF, info=INFO)
    b = risk_insight(model, row(8.0), patient_id="p-004", as_of=AS_OF, info=INFO)
    assert isinstance(a, Insight) and isinstance(b, Insight)
    assert a.id == b.id
