"""Choosing a CATE learner without the test set: held-out R-loss (Nie & Wager 2021, Biometrika 108:299).

R-loss of an effect estimate tau on held-out rows, with outcome model m(x) = E[y|x] and propensities e_j(x)
fitted on the training rows only::

    mean( (y - m(x) - sum_j (1[t=j] - e_j(x)) * tau_j(x))^2 )   over non-reference options j

Smaller is better. ``select_by_cv`` runs it as K-fold cross-validation; ``r_loss_on_validation`` scores fitted
learners on a validation split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from carepilot.errors import ModelError
from carepilot.models.effects.learners import (
    LearnerConfig,
    base_regressors,
    choose_arm_model,
    fit_learner,
    logistic_propensity,
    single_threaded,
)


@dataclass
class Selection:
    """The chosen learner and every candidate's held-out R-loss (and any candidate that failed)."""

    best: str
    scores: dict[str, float]
    failures: dict[str, str] = field(default_factory=dict)


def r_loss(y: np.ndarray, t: np.ndarray, tau: np.ndarray, m: np.ndarray, e: np.ndarray) -> float:
    """The R-loss (Nie & Wager 2021) of effects ``tau`` (n, k-1) given nuisances m (n,) and e (n, k)."""
    tau = tau.reshape(len(y), -1)
    onehot = np.eye(e.shape[1])[t]
    residual_t = onehot[:, 1:] - e[:, 1:]
    return float(np.mean((y - m - np.sum(residual_t * tau, axis=1)) ** 2))


def fit_nuisances(X: np.ndarray, t: np.ndarray, y: np.ndarray, config: LearnerConfig) -> tuple[Any, Any]:
    """Outcome model E[y|x] (family chosen by inner CV) and propensity model, fitted on training rows."""
    family, _ = choose_arm_model(X, y, config)
    outcome = clone(base_regressors(config)[family]).fit(X, y)
    propensity = clone(logistic_propensity()).fit(X, t)
    return outcome, propensity


def r_loss_on_validation(
    fitted: dict[str, Any],
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: LearnerConfig,
) -> dict[str, float]:
    """R-loss of each fitted learner on the validation rows, nuisances fitted on the training rows."""
    outcome, propensity = fit_nuisances(*train, config)
    Xv, tv, yv = valid
    m = outcome.predict(Xv)
    e = _full_proba(propensity, Xv, int(train[1].max()) + 1)
    return {name: r_loss(yv, tv, est.const_marginal_effect(Xv), m, e) for name, est in fitted.items()}


def select_by_cv(
    names: Sequence[str],
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    config: LearnerConfig,
    folds: int = 3,
) -> Selection:
    """K-fold cross-validated R-loss for each learner name; the smallest wins."""
    with single_threaded():
        return _select_by_cv(names, X, t, y, config, folds)


def _select_by_cv(
    names: Sequence[str], X: np.ndarray, t: np.ndarray, y: np.ndarray, config: LearnerConfig, folds: int
) -> Selection:
    n_splits = max(2, min(folds, int(np.bincount(t).min())))
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=config.random_state)
    losses: dict[str, list[float]] = {name: [] for name in names}
    failures: dict[str, str] = {}
    for train_idx, test_idx in splitter.split(X, t):
        train = (X[train_idx], t[train_idx], y[train_idx])
        valid = (X[test_idx], t[test_idx], y[test_idx])
        fitted = {}
        for name in names:
            if name in failures:
                continue
            try:
                fitted[name], _ = fit_learner(name, *train, config, with_inference=False)
            except ModelError as exc:
                failures[name] = str(exc)
        for name, loss in r_loss_on_validation(fitted, train, valid, config).items():
            losses[name].append(loss)
    scores = {name: float(np.mean(v)) for name, v in losses.items() if v and name not in failures}
    if not scores:
        raise ModelError("no candidate learner could be fitted: " + "; ".join(failures.values()))
    return Selection(best=min(scores, key=scores.__getitem__), scores=scores, failures=failures)


def _full_proba(model: Any, X: np.ndarray, k: int) -> np.ndarray:
    """predict_proba with a column for every option, even one absent from a training fold."""
    proba = np.zeros((len(X), k))
    proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X)
    return proba
