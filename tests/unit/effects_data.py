"""Simulated patients with known individual effects, shared by the effect-model tests."""

from __future__ import annotations

import numpy as np

from carepilot.models.effects.learners import LearnerConfig

SMALL = LearnerConfig(n_trees=40, forest_trees=40, n_bootstrap=12, cv=2, random_state=0, families=("ridge", "gbm"))
# Linear outcome models only: enough for the linear simulations of the policy tests, and fast.
LINEAR = LearnerConfig(n_trees=40, forest_trees=40, n_bootstrap=12, cv=2, random_state=0, families=("ridge",))


def planted(
    n: int = 800, seed: int = 0, confounded: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X (n, 3), t in {0, 1}, y, and the true effect tau(x) = 1 + 2 * x1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    p = 1 / (1 + np.exp(-0.6 * X[:, 1])) if confounded else np.full(n, 0.5)
    t = (rng.random(n) < p).astype(int)
    tau = 1 + 2 * X[:, 0]
    y = X[:, 1] + 0.5 * X[:, 2] + t * tau + rng.normal(scale=0.5, size=n)
    return X, t, y, tau
