"""Effect engine: planted heterogeneous effects, intervals, multi-arm shapes, overlap flags."""

from __future__ import annotations

import numpy as np
import pytest

from carepilot.errors import InputError, ModelError
from carepilot.models.effects.engine import EffectEngine
from tests.unit.effects_data import SMALL, planted


@pytest.mark.parametrize("learner", ["linear_dml", "t_auto"])
def test_planted_heterogeneous_effect_is_recovered(learner: str) -> None:
    X, t, y, _ = planted(n=800, seed=1)
    engine = EffectEngine(learner=learner, config=SMALL).fit(X, t, y)
    X_new, _, _, tau_new = planted(n=400, seed=2)
    est = engine.effect(X_new)[:, 0]
    # Tolerance: RMSE of tau below 0.3 (the effect spans about -3 to 5) and correlation above 0.9.
    assert np.sqrt(np.mean((est - tau_new) ** 2)) < 0.3
    assert np.corrcoef(est, tau_new)[0, 1] > 0.9


def test_interval_coverage_is_reasonable_on_simulated_data() -> None:
    X, t, y, _ = planted(n=800, seed=3)
    engine = EffectEngine(learner="linear_dml", config=SMALL).fit(X, t, y)
    X_new, _, _, tau_new = planted(n=400, seed=4)
    low, high = engine.effect_interval(X_new, alpha=0.05)
    coverage = np.mean((low[:, 0] <= tau_new) & (tau_new <= high[:, 0]))
    assert 0.8 <= coverage <= 1.0
    assert np.all(low <= high)


def test_multi_arm_effects_have_one_column_per_non_reference_option() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 2))
    arm = rng.choice(["a", "b", "c"], size=600)
    y = X[:, 0] + np.where(arm == "b", 1.0, 0.0) + np.where(arm == "c", -1.0 + X[:, 1], 0.0) + rng.normal(size=600)
    engine = EffectEngine(learner="linear_dml", reference="a", config=SMALL).fit(X, arm, y)
    assert engine.contrasts_ == ["b", "c"]
    tau = engine.effect(X[:50])
    assert tau.shape == (50, 2)
    assert abs(tau[:, 0].mean() - 1.0) < 0.3
    point, low, high = engine.contrast(X[:5], "c", "b")
    assert np.all(low <= point) and np.all(point <= high)


def test_auto_learner_records_cross_validated_r_loss_for_each_candidate() -> None:
    X, t, y, _ = planted(n=400, seed=6)
    engine = EffectEngine(learner="auto", candidates=("linear_dml", "t_gbm"), config=SMALL).fit(X, t, y)
    assert engine.selection_ is not None
    assert set(engine.selection_.scores) == {"linear_dml", "t_gbm"}
    assert engine.learner_ == min(engine.selection_.scores, key=engine.selection_.scores.__getitem__)


def test_overlap_violation_is_flagged() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(800, 2))
    # Strong confounding: patients with a high x1 almost always get option 1, so none are comparable there.
    p = 1 / (1 + np.exp(-3.0 * X[:, 0]))
    t = (rng.random(800) < p).astype(int)
    y = X[:, 0] + t + rng.normal(size=800)
    engine = EffectEngine(learner="linear_dml", config=SMALL).fit(X, t, y)
    report = engine.overlap(np.array([[2.5, 0.0], [0.0, 0.0], [0.0, 50.0]]))
    assert report.ok.tolist() == [False, True, False]
    assert "propensity below" in report.reasons[0]
    assert "outside the training range" in report.reasons[2]


def test_explanation_points_at_the_covariate_that_drives_the_effect() -> None:
    X, t, y, _ = planted(n=600, seed=8)
    engine = EffectEngine(learner="linear_dml", config=SMALL).fit(X, t, y)
    factors = engine.explain(np.array([[2.0, 0.0, 0.0]]), "1")
    assert factors[0][0] == "x1"
    assert factors[0][1] > 0  # a high x1 raises this patient's effect above the average


def test_single_option_and_unknown_learner_are_refused() -> None:
    X, t, y, _ = planted(n=100)
    with pytest.raises(InputError, match="two treatment options"):
        EffectEngine(learner="linear_dml").fit(X, np.zeros(100), y)
    with pytest.raises(ModelError, match="unknown learner"):
        EffectEngine(learner="magic").fit(X, t, y)
    with pytest.raises(ModelError, match="not fitted"):
        EffectEngine().effect(X)
