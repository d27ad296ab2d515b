"""The effect engine: one interface over every learner, per option vs a reference option.

``fit(X, t, y)`` takes covariates, option labels and outcomes; ``effect(X)`` returns, for each patient, the
effect of every non-reference option vs the reference (columns in ``contrasts_`` order);
``effect_interval(X, alpha)`` the matching lower and upper bounds. ``expected_outcomes`` adds a model of the
reference arm's outcome so each option's expected outcome can be shown. ``explain`` attributes a patient's
deviation from the average effect to covariates through a linear surrogate of the fitted effect function
(coefficient x deviation from the mean, the exact SHAP value of that surrogate; Lundberg & Lee 2017), which
works for every learner; its R^2 against the learner is kept in ``surrogate_r2_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import clone
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carepilot.errors import InputError, ModelError
from carepilot.models.effects.decision import DecisionSpec, decision_arrays
from carepilot.models.effects.learners import (
    LEARNER_NAMES,
    LearnerConfig,
    base_regressors,
    choose_arm_model,
    fit_learner,
    single_threaded,
)
from carepilot.models.effects.overlap import OverlapModel, OverlapReport
from carepilot.models.effects.selection import Selection, select_by_cv

AUTO_CANDIDATES: tuple[str, ...] = ("t_auto", "causal_forest", "dr_forest")


@dataclass(frozen=True)
class OptionOutcome:
    """Expected outcome under one option for one patient, with its interval."""

    option: str
    expected: float
    low: float
    high: float
    difference: float  # vs the reference option (0 for the reference itself)
    difference_low: float
    difference_high: float


class EffectEngine:
    """Individual treatment effects for two or more options, with intervals and support flags."""

    def __init__(
        self,
        learner: str = "auto",
        reference: str | None = None,
        candidates: Sequence[str] = AUTO_CANDIDATES,
        config: LearnerConfig | None = None,
        min_propensity: float = 0.05,
        selection_folds: int = 3,
        intervals: bool = True,
    ) -> None:
        self.learner = learner
        self.reference = reference
        self.candidates = tuple(candidates)
        self.config = config
        self.min_propensity = min_propensity
        self.selection_folds = selection_folds
        self.intervals = intervals

    # -- fitting ---------------------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray | pd.DataFrame,
        t: Sequence[Any] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        known_propensity: dict[str, float] | None = None,
    ) -> EffectEngine:
        """Fit on covariates X (n, p), option labels t (n,) and outcomes y (n,); returns self."""
        with single_threaded():
            return self._fit(X, t, y, known_propensity)

    def _fit(
        self,
        X: np.ndarray | pd.DataFrame,
        t: Sequence[Any] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        known_propensity: dict[str, float] | None,
    ) -> EffectEngine:
        Xa, names = _as_matrix(X)
        labels = np.asarray([str(v) for v in t])
        ya = np.asarray(y, dtype=float)
        if not (len(Xa) == len(labels) == len(ya)):
            raise InputError(f"X, t and y differ in length ({len(Xa)}, {len(labels)}, {len(ya)})")
        if not np.all(np.isfinite(ya)) or not np.all(np.isfinite(Xa)):
            raise InputError("X and y must be finite numbers (impute missing values first)")
        options = sorted(set(labels.tolist()))
        if len(options) < 2:
            raise InputError(f"need at least two treatment options, found {options}")
        reference = self.reference if self.reference is not None else options[0]
        if reference not in options:
            raise InputError(f"reference option {reference!r} is not among the observed options {options}")
        self.options_ = [reference, *[o for o in options if o != reference]]
        self.reference_ = reference
        self.contrasts_ = self.options_[1:]
        self.feature_names_ = names
        code = {o: i for i, o in enumerate(self.options_)}
        tc = np.asarray([code[v] for v in labels])
        counts = np.bincount(tc, minlength=len(self.options_))
        if counts.min() < 5:
            small = [self.options_[i] for i in np.flatnonzero(counts < 5)]
            raise InputError(f"too few patients (<5) on option(s) {small} to estimate effects")
        config = self.config or LearnerConfig()
        self.config_ = config

        known = None
        if known_propensity is not None:
            known = np.asarray([float(known_propensity[o]) for o in self.options_])
        self.overlap_ = OverlapModel(self.min_propensity).fit(Xa, tc, known)

        self.selection_: Selection | None = None
        name = self.learner
        if name == "auto":
            self.selection_ = select_by_cv(self.candidates, Xa, tc, ya, config, self.selection_folds)
            name = self.selection_.best
        elif name not in LEARNER_NAMES:
            raise ModelError(f"unknown learner {name!r}; choose auto or one of {', '.join(LEARNER_NAMES)}")
        self.learner_ = name
        self.estimator_, self.learner_notes_ = fit_learner(name, Xa, tc, ya, config, with_inference=self.intervals)

        ref_mask = tc == 0
        family, _ = choose_arm_model(Xa[ref_mask], ya[ref_mask], config)
        self.baseline_family_ = family
        self.baseline_ = clone(base_regressors(config)[family]).fit(Xa[ref_mask], ya[ref_mask])
        # Residual spread of the reference-arm model on its own arm, for the reference option's interval.
        resid = ya[ref_mask] - self.baseline_.predict(Xa[ref_mask])
        self.baseline_se_ = float(np.std(resid, ddof=1) / np.sqrt(max(1, ref_mask.sum())))

        tau = self.effect(Xa)
        self.average_effect_ = tau.mean(axis=0)
        self.x_mean_ = Xa.mean(axis=0)
        self.surrogates_ = []
        r2 = []
        for j in range(tau.shape[1]):
            surrogate = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))).fit(Xa, tau[:, j])
            self.surrogates_.append(surrogate)
            r2.append(float(surrogate.score(Xa, tau[:, j])) if np.var(tau[:, j]) > 0 else 1.0)
        self.surrogate_r2_ = r2
        self.n_train_ = len(ya)
        self.arm_counts_ = {o: int(c) for o, c in zip(self.options_, counts, strict=True)}
        return self

    # -- prediction ------------------------------------------------------------------------------------
    def effect(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Effect of each non-reference option vs the reference, shape (n, k-1)."""
        Xa = self._check(X)
        return np.asarray(self.estimator_.const_marginal_effect(Xa), dtype=float).reshape(len(Xa), -1)

    def effect_interval(self, X: np.ndarray | pd.DataFrame, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) bounds of the (1 - alpha) interval of each effect, each shape (n, k-1)."""
        Xa = self._check(X)
        low, high = self.estimator_.const_marginal_effect_interval(Xa, alpha=alpha)
        low = np.asarray(low, dtype=float).reshape(len(Xa), -1)
        high = np.asarray(high, dtype=float).reshape(len(Xa), -1)
        return np.minimum(low, high), np.maximum(low, high)

    def contrast(
        self, X: np.ndarray | pd.DataFrame, option: str, versus: str, alpha: float = 0.05
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Effect of ``option`` vs ``versus`` (any two options) with its interval: (point, low, high)."""
        Xa = self._check(X)
        a, b = self.options_.index(versus), self.options_.index(option)
        point = np.asarray(self.estimator_.effect(Xa, T0=a, T1=b), dtype=float).reshape(len(Xa))
        low, high = self.estimator_.effect_interval(Xa, T0=a, T1=b, alpha=alpha)
        low = np.asarray(low, dtype=float).reshape(len(Xa))
        high = np.asarray(high, dtype=float).reshape(len(Xa))
        return point, np.minimum(low, high), np.maximum(low, high)

    def overlap(self, X: np.ndarray | pd.DataFrame) -> OverlapReport:
        """Common-support flags for each patient."""
        return self.overlap_.check(self._check(X), list(self.options_), self.feature_names_)

    def expected_outcomes(self, X: np.ndarray | pd.DataFrame, alpha: float = 0.05) -> list[list[OptionOutcome]]:
        """Per patient, the expected outcome under every option (reference first) with intervals.

        The expected outcome under option j is the reference-arm prediction plus the effect of j; its interval
        combines the effect interval with the reference prediction's standard error (treated as independent).
        """
        Xa = self._check(X)
        z = float(norm.ppf(1 - alpha / 2))
        base = self.baseline_.predict(Xa)
        tau = self.effect(Xa)
        low, high = self.effect_interval(Xa, alpha)
        base_half = z * self.baseline_se_
        rows = []
        for i in range(len(Xa)):
            row = [OptionOutcome(self.reference_, base[i], base[i] - base_half, base[i] + base_half, 0.0, 0.0, 0.0)]
            for j, option in enumerate(self.contrasts_):
                expected = base[i] + tau[i, j]
                half_low = np.hypot(tau[i, j] - low[i, j], base_half)
                half_high = np.hypot(high[i, j] - tau[i, j], base_half)
                row.append(
                    OptionOutcome(
                        option,
                        expected,
                        expected - half_low,
                        expected + half_high,
                        tau[i, j],
                        low[i, j],
                        high[i, j],
                    )
                )
            rows.append(row)
        return rows

    def explain(self, X: np.ndarray | pd.DataFrame, option: str, top: int = 5) -> list[tuple[str, float]]:
        """Covariates that move each patient's effect of ``option`` away from the average, largest first.

        Returns, for the first row of X, (feature name, signed contribution in outcome units).
        """
        Xa = self._check(X)
        j = self.contrasts_.index(option)
        surrogate = self.surrogates_[j]
        scaler, ridge = surrogate[0], surrogate[-1]
        coef = ridge.coef_ / scaler.scale_
        contrib = coef * (Xa[0] - self.x_mean_)
        order = np.argsort(-np.abs(contrib))[:top]
        return [(self.feature_names_[k], float(contrib[k])) for k in order if abs(contrib[k]) > 1e-12]

    def _check(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise ModelError("the effect engine is not fitted")
        Xa, _ = _as_matrix(X)
        if Xa.shape[1] != len(self.feature_names_):
            raise InputError(f"expected {len(self.feature_names_)} covariates, got {Xa.shape[1]}")
        if not np.all(np.isfinite(Xa)):
            raise InputError("covariates must be finite numbers (impute missing values first)")
        return Xa


def _as_matrix(X: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    if isinstance(X, pd.DataFrame):
        return X.to_numpy(dtype=float), [str(c) for c in X.columns]
    arr = np.asarray(X, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    return arr, [f"x{i + 1}" for i in range(arr.shape[1])]


def fit_for_decision(
    spec: DecisionSpec,
    frame: pd.DataFrame,
    treatment: str = "option",
    learner: str = "auto",
    config: LearnerConfig | None = None,
) -> EffectEngine:
    """Fit an engine for a decision spec from one row per patient; the spec's reference is the reference."""
    X, t, y = decision_arrays(spec, frame, treatment)
    return EffectEngine(learner=learner, reference=spec.reference, config=config).fit(X, t, y)
