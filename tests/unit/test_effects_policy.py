"""Policy value: AIPW scores, cross-fitted rule evaluation, honest recommendations."""

from __future__ import annotations

import numpy as np
import pytest

from carepilot.errors import InputError
from carepilot.models.effects.policy import (
    aipw_scores,
    compare,
    engine_rule_learner,
    evaluate_rules,
    value_of,
)
from tests.unit.effects_data import LINEAR as SMALL


def test_aipw_value_of_a_single_arm_matches_its_true_mean() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=n)
    e1 = 1 / (1 + np.exp(-x))
    t = (rng.random(n) < e1).astype(int)
    y = 2 * x + 1.5 * t + rng.normal(size=n)
    mu = np.column_stack([2 * x, 2 * x + 1.5])  # correct outcome models
    e = np.column_stack([1 - e1, e1])
    scores = aipw_scores(y, t, e, mu)
    treat_all = value_of(scores, np.ones(n, dtype=int), "all treated")
    assert treat_all.low < 1.5 < treat_all.high
    diff = compare(scores, np.ones(n, dtype=int), np.zeros(n, dtype=int), "1 - 0")
    assert diff.low < 1.5 < diff.high


@pytest.mark.slow
def test_policy_value_interval_contains_the_true_value_of_the_learned_rule() -> None:
    rng = np.random.default_rng(1)
    n = 1500
    X = rng.normal(size=(n, 2))
    t = rng.integers(0, 2, n)
    tau = 2 * X[:, 0]
    y = X[:, 1] + t * tau + rng.normal(size=n)
    result = evaluate_rules(
        X, t, y, ["0", "1"], engine_rule_learner("linear_dml", SMALL, cautious=False),
        known_propensity=np.array([0.5, 0.5]), config=SMALL, n_folds=3,
    )  # fmt: skip
    # The oracle rule treats when x1 > 0; its value is E[max(0, 2 x1)] = 2 * phi(0) = 0.798.
    assert result.learned.low < 0.798 < result.learned.high
    assert result.learned_beats_best
    assert "better" in result.recommendation


@pytest.mark.slow
def test_without_heterogeneity_the_single_best_arm_is_recommended() -> None:
    rng = np.random.default_rng(2)
    n = 900
    X = rng.normal(size=(n, 2))
    t = rng.integers(0, 3, n)
    y = X[:, 1] + np.where(t == 2, 1.0, 0.0) + rng.normal(size=n)
    result = evaluate_rules(
        X, t, y, ["a", "b", "c"], engine_rule_learner("linear_dml", SMALL, cautious=True),
        known_propensity=np.full(3, 1 / 3), config=SMALL, n_folds=3,
    )  # fmt: skip
    assert result.best_single == "c"
    assert not result.learned_beats_best
    assert "recommend" in result.recommendation and "c" in result.recommendation


def test_lower_is_better_flips_the_best_arm() -> None:
    rng = np.random.default_rng(3)
    n = 600
    X = rng.normal(size=(n, 1))
    t = rng.integers(0, 2, n)
    y = -1.0 * t + rng.normal(size=n)  # option 1 lowers the outcome
    result = evaluate_rules(
        X, t, y, ["0", "1"], engine_rule_learner("linear_dml", SMALL, cautious=True),
        lower_is_better=True, config=SMALL, n_folds=3,  # propensities estimated out of fold
    )  # fmt: skip
    assert result.best_single == "1"
    assert result.single["1"].value < result.single["0"].value


def test_too_few_patients_on_an_option_is_an_input_error() -> None:
    X = np.zeros((12, 1))
    t = np.array([0] * 10 + [1] * 2)
    with pytest.raises(InputError, match="at least"):
        evaluate_rules(X, t, np.zeros(12), ["0", "1"], engine_rule_learner("linear_dml", SMALL), n_folds=3)
