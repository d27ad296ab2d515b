"""Common support: a propensity model, and flags for patients whose estimates would be extrapolation.

A patient is outside common support when any option's estimated propensity is below ``min_propensity``
(Crump et al. 2009, Biometrika 96:187, trim at 0.1; a looser 0.05 default suits several arms) or when a
covariate lies outside the range seen in training. Such patients are flagged, never silently scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from carepilot.models.effects.learners import logistic_propensity


@dataclass(frozen=True)
class OverlapReport:
    """Per-patient support flags and the reasons behind them."""

    propensity: np.ndarray  # (n, k) probability of each option
    ok: np.ndarray  # (n,) bool
    reasons: tuple[str, ...]  # one text per patient ("" when ok)


class OverlapModel:
    """Multinomial logistic propensity model plus training covariate ranges."""

    def __init__(self, min_propensity: float = 0.05, range_margin: float = 0.05) -> None:
        self.min_propensity = min_propensity
        self.range_margin = range_margin

    def fit(self, X: np.ndarray, t: np.ndarray, known_propensity: np.ndarray | None = None) -> OverlapModel:
        """Fit on covariates and option codes 0..k-1; ``known_propensity`` (k,) is used as is (trials)."""
        self.n_options_ = int(t.max()) + 1
        self.known_ = None if known_propensity is None else np.asarray(known_propensity, dtype=float)
        if self.known_ is None:
            self.model_ = clone(logistic_propensity()).fit(X, t)
        span = X.max(axis=0) - X.min(axis=0)
        self.low_ = X.min(axis=0) - self.range_margin * span
        self.high_ = X.max(axis=0) + self.range_margin * span
        return self

    def propensity(self, X: np.ndarray) -> np.ndarray:
        """Estimated probability of each option given covariates, shape (n, k)."""
        if self.known_ is not None:
            return np.tile(self.known_, (len(X), 1))
        return np.asarray(self.model_.predict_proba(X))

    def cross_fitted_propensity(self, X: np.ndarray, t: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
        """Out-of-fold propensities for the training rows, as AIPW needs (no own-row leakage)."""
        if self.known_ is not None:
            return np.tile(self.known_, (len(X), 1))
        n_splits = max(2, min(folds, int(np.bincount(t).min())))
        cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        return np.asarray(cross_val_predict(logistic_propensity(), X, t, cv=cv, method="predict_proba"))

    def check(
        self, X: np.ndarray, option_labels: list[str] | None = None, feature_names: list[str] | None = None
    ) -> OverlapReport:
        """Flag patients with a propensity below the floor or a covariate outside the training range."""
        prop = self.propensity(X)
        labels = option_labels or [str(i) for i in range(prop.shape[1])]
        reasons = []
        ok = np.ones(len(X), dtype=bool)
        for i in range(len(X)):
            why = []
            low = np.flatnonzero(prop[i] < self.min_propensity)
            if low.size:
                names = ", ".join(f"{labels[j]} ({prop[i, j]:.3f})" for j in low)
                why.append(f"propensity below {self.min_propensity} for {names}")
            outside = np.flatnonzero((X[i] < self.low_) | (X[i] > self.high_))
            if outside.size:
                names = ", ".join(feature_names[j] for j in outside[:5]) if feature_names else f"{outside.size}"
                why.append(f"covariate(s) outside the training range: {names}")
            ok[i] = not why
            reasons.append("; ".join(why))
        return OverlapReport(propensity=prop, ok=ok, reasons=tuple(reasons))
