"""Survival models on synthetic data with a planted hazard effect; metrics and input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from carepilot.errors import InputError, ModelError
from carepilot.models.survival import SurvivalModel, c_index, evaluation_times, integrated_brier


def planted(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"nodes": rng.poisson(3, n).astype(float), "arm": rng.choice(["a", "b"], n)})
    hazard = 0.005 * np.exp(0.8 * X["nodes"])
    t_event = rng.exponential(1.0 / hazard)
    t_censor = rng.uniform(5, 100, n)
    return X, Surv.from_arrays(t_event <= t_censor, np.minimum(t_event, t_censor))


@pytest.mark.parametrize("kind", ["cox", "rsf", "gbsa"])
def test_survival_model_fit_returns_self_and_ranks_the_planted_risk(kind: str) -> None:
    X, y = planted()
    model = SurvivalModel(kind, n_estimators=30)
    assert model.fit(X, y) is model
    X_test, y_test = planted(seed=1)
    assert c_index(y_test, model.predict(X_test)) > 0.65
    times = evaluation_times(y, y_test, n=5)
    surv = model.survival_at(X_test, times)
    assert surv.shape == (len(X_test), 5)
    assert np.all(np.diff(surv, axis=1) <= 1e-9)  # survival never rises
    assert 0.0 < integrated_brier(y, y_test, surv, times) < 0.25


def test_c_index_is_one_for_a_perfect_ranking_and_half_when_reversed_pairs_balance() -> None:
    y = Surv.from_arrays([True, True, True], [1.0, 2.0, 3.0])
    assert c_index(y, np.array([3.0, 2.0, 1.0])) == pytest.approx(1.0)
    assert c_index(y, np.array([1.0, 2.0, 3.0])) == pytest.approx(0.0)


def test_survival_inputs_are_checked() -> None:
    X, y = planted(n=20)
    with pytest.raises(InputError, match="structured"):
        SurvivalModel().fit(X, np.ones(20))
    with pytest.raises(ModelError, match="no events"):
        SurvivalModel().fit(X, Surv.from_arrays(np.zeros(20, bool), np.ones(20)))
    with pytest.raises(ModelError, match="unknown survival"):
        SurvivalModel("deep").fit(X, y)
