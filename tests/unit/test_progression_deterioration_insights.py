"""Progression and deterioration Risk Insights: a number with interval and clinical factors, or a reasoned decline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import Coding, Demographics, Measurement, PatientProfile, Problem
from carepilot.features import deterioration as det
from carepilot.features.progression import FEATURES
from carepilot.insights.deterioration import DeteriorationRiskProvider
from carepilot.insights.progression import horizon_insight
from carepilot.insights.service import InsightContext
from carepilot.models.horizon_risk import HorizonRisk
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.models.survival import SurvivalModel

pytestmark = pytest.mark.slow
NOW = datetime(2025, 12, 20, tzinfo=UTC)


def _survival_data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.normal(0, 1, n) for c in FEATURES})
    X["latest_egfr"] = rng.uniform(20, 110, n)
    hazard = np.exp(-0.04 * (X["latest_egfr"] - 60))
    t = rng.exponential(500 / hazard)
    c = rng.uniform(300, 800, n)
    return X, Surv.from_arrays(event=t <= c, time=np.minimum(t, c))


@pytest.fixture(scope="module")
def horizon_model():
    X, y = _survival_data()
    return HorizonRisk(SurvivalModel("cox", alpha=1.0), n_bootstrap=5).fit(X, y), X


def _profile(pid="p1"):
    return PatientProfile(
        demographics=Demographics(pid, date(1950, 1, 1), "male"),
        as_of=NOW,
        problems=(Problem("c", "heart_failure", Coding("s", "1"), NOW - timedelta(days=900), None, "active"),),
        measurements=(Measurement("m", "egfr", Coding("http://loinc.org", "x"), NOW - timedelta(days=9), 40.0, None),),
    )


def test_a_low_egfr_patient_gets_a_one_year_risk_with_interval_and_egfr_among_the_factors(horizon_model):
    model, X = horizon_model
    row = X.iloc[[0]].copy()
    row["latest_egfr"] = 25.0
    out = horizon_insight(
        model,
        row,
        profile=_profile(),
        model_id="ckd-progression",
        version="1",
        outcome="CKD progression",
        training_window="w",
        card_url="/c",
    )
    assert isinstance(out, Insight)
    assert out.interval is not None and out.interval.low <= out.value <= out.interval.high
    assert out.explanation[0].label == "eGFR" and out.explanation[0].contribution > 0
    assert (
        "eGFR 25 mL/min/1.73m2 (low) adds" in out.explanation[0].phrase and "1-year risk" in out.explanation[0].phrase
    )


def test_a_patient_outside_the_training_ranges_is_declined_with_the_reason(horizon_model):
    model, X = horizon_model
    row = X.iloc[[0]].copy()
    row["latest_egfr"] = 400.0
    out = horizon_insight(
        model,
        row,
        profile=_profile(),
        model_id="ckd-progression",
        version="1",
        outcome="CKD progression",
        training_window=None,
        card_url=None,
    )
    assert isinstance(out, Declined) and "latest_egfr=400" in out.reason


class Readings:
    def __init__(self, table):
        self.table = table

    def readings(self, patient_id):
        return self.table[self.table["patient_id"] == patient_id]


def test_the_deterioration_provider_scores_monitored_patients_only(tmp_path):
    rng = np.random.default_rng(1)
    n = 400
    X = pd.DataFrame({c: rng.normal(0, 1, n) for c in det.FEATURES})
    X["rhr_delta"] = rng.normal(0, 5, n)
    X["age"], X["latest_egfr"] = rng.uniform(20, 95, n), rng.uniform(10, 130, n)
    X["rhr_current"] = rng.uniform(40, 120, n)
    X["rhr_z"], X["steps_ratio"] = rng.normal(0, 4, n), rng.uniform(0, 3, n)
    for c in det.FEATURES:
        if c.startswith("has_") or c == "male":
            X[c] = (rng.random(n) < 0.5).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["rhr_delta"] - 2)))).astype(int)
    X.loc[rng.random(n) < 0.5, "rhr_delta"] = np.nan
    registry = ModelRegistry(tmp_path)
    model = RiskClassifier("logistic", n_bootstrap=3).fit(X, y)
    registry.save(model, "deterioration", metadata={"training_window": "w"})
    rows = [
        ("p1", "heart_rate", NOW - timedelta(days=d, hours=h), 62.0 + (8.0 if d == 1 else 0.0))
        for d in range(1, 15)
        for h in range(0, 24, 3)
    ]
    provider = DeteriorationRiskProvider(
        registry, Readings(pd.DataFrame(rows, columns=["patient_id", "type", "time", "value"]))
    )
    assert provider.insights(_profile("p2"), InsightContext()) == []
    (out,) = provider.insights(_profile("p1"), InsightContext())
    assert isinstance(out, Insight), out
    assert out.as_of == NOW and out.explanation
    assert any("Resting heart rate above personal baseline" in f.phrase for f in out.explanation)
