"""R-loss model selection never looks at the truth, yet prefers the right effect function."""

from __future__ import annotations

import numpy as np

from carepilot.models.effects.selection import r_loss, select_by_cv
from tests.unit.effects_data import SMALL, planted


def test_r_loss_prefers_the_true_effect_over_a_constant() -> None:
    X, t, y, tau = planted(n=2000, seed=0, confounded=False)
    m = X[:, 1] + 0.5 * X[:, 2] + 0.5 * tau
    e = np.full((2000, 2), 0.5)
    assert r_loss(y, t, tau[:, None], m, e) < r_loss(y, t, np.ones((2000, 1)), m, e)


def test_select_by_cv_prefers_a_learner_that_can_represent_the_effect() -> None:
    X, t, y, _ = planted(n=600, seed=1)
    selection = select_by_cv(["linear_dml", "t_gbm"], X, t, y, SMALL, folds=2)
    assert selection.best == "linear_dml"
    assert selection.scores["linear_dml"] < selection.scores["t_gbm"]
