"""CATE learners: EconML estimators with LightGBM, ridge, log-link GLM and Gaussian-process nuisances.

Every learner is an EconML estimator, so each exposes ``const_marginal_effect`` and
``const_marginal_effect_interval`` (per option vs the reference, coded 0). Meta-learners get intervals from
EconML's bootstrap inference; forests from their bootstrap-of-little-bags; LinearDML from its OLS final stage.

References: Künzel et al. 2019 (T-/X-learner, PNAS 116:4156); Kennedy 2023 (DR-learner, EJS 17:3008);
Athey, Tibshirani & Wager 2019 (generalized random forests, Ann Stat 47:1148); Chernozhukov et al. 2018
(double machine learning, Econometrics J 21:C1).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from econml.dml import CausalForestDML, LinearDML
from econml.dr import ForestDRLearner
from econml.inference import BootstrapInference
from econml.metalearners import TLearner, XLearner
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import RegressorMixin, clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel
from sklearn.linear_model import LogisticRegression, RidgeCV, TweedieRegressor
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from carepilot.errors import ModelError

# The matrices here are small (hundreds to thousands of rows): threaded BLAS only adds contention, and on a
# shared 2-core machine it made a GLM fit 25x slower. Every fitting entry point runs under this limit.
SINGLE_THREAD = {"limits": 1}


def single_threaded() -> threadpool_limits:
    """Context manager limiting BLAS/OpenMP pools to one thread while estimators fit."""
    return threadpool_limits(**SINGLE_THREAD)


@dataclass(frozen=True)
class LearnerConfig:
    """Size knobs shared by every learner; tests use small values so they run in seconds."""

    n_trees: int = 300
    n_bootstrap: int = 50
    forest_trees: int = 400
    cv: int = 3
    random_state: int = 0
    # Outcome-model families a per-arm choice (T-learner, baselines, AIPW nuisances) may pick from.
    families: tuple[str, ...] = ("ridge", "loglink_glm", "gbm")


def gbm_regressor(config: LearnerConfig) -> LGBMRegressor:
    """A small, regularised LightGBM regressor suited to a few hundred to a few thousand patients."""
    return LGBMRegressor(
        n_estimators=config.n_trees,
        learning_rate=0.03,
        num_leaves=8,
        min_child_samples=10,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=config.random_state,
        n_jobs=1,
        verbose=-1,
    )


def gbm_classifier(config: LearnerConfig) -> LGBMClassifier:
    """LightGBM propensity model with the same regularisation as the outcome models."""
    return LGBMClassifier(
        n_estimators=max(50, config.n_trees // 3),
        learning_rate=0.05,
        num_leaves=8,
        min_child_samples=20,
        random_state=config.random_state,
        n_jobs=1,
        verbose=-1,
    )


def logistic_propensity() -> Pipeline:
    """Multinomial logistic propensity model on standardised covariates."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def base_regressors(config: LearnerConfig) -> dict[str, RegressorMixin]:
    """Outcome-model families a T-learner may choose from for each arm."""
    return {
        "ridge": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
        # A log-link Gaussian GLM: outcome surfaces that grow multiplicatively with covariates.
        "loglink_glm": make_pipeline(
            StandardScaler(),
            TweedieRegressor(power=0, link="log", alpha=1e-3, max_iter=1000, solver="newton-cholesky"),
        ),
        "gbm": gbm_regressor(config),
        "gp": make_pipeline(
            StandardScaler(),
            GaussianProcessRegressor(
                ConstantKernel(1.0) * RBF(5.0) + DotProduct() + WhiteKernel(),
                normalize_y=True,
                random_state=config.random_state,
            ),
        ),
    }


def choose_arm_model(
    X: np.ndarray,
    y: np.ndarray,
    config: LearnerConfig,
    families: tuple[str, ...] | None = None,
    X_valid: np.ndarray | None = None,
    y_valid: np.ndarray | None = None,
) -> tuple[str, dict[str, float]]:
    """Pick one arm's outcome-model family by factual MSE: on validation rows when given, else K-fold CV."""
    candidates = base_regressors(config)
    scores: dict[str, float] = {}
    with warnings.catch_warnings():
        # A family that diverges on this arm shows up as a non-finite score and is dropped below.
        warnings.simplefilter("ignore")
        for name in families or config.families:
            _score_family(name, candidates[name], X, y, config, X_valid, y_valid, scores)
    if not scores:
        raise ModelError("no outcome model family could be fitted to this treatment arm")
    return min(scores, key=scores.__getitem__), scores


def _score_family(
    name: str,
    model: RegressorMixin,
    X: np.ndarray,
    y: np.ndarray,
    config: LearnerConfig,
    X_valid: np.ndarray | None,
    y_valid: np.ndarray | None,
    scores: dict[str, float],
) -> None:
    """Factual MSE of one outcome-model family, written into ``scores`` when it is finite."""
    if name == "loglink_glm" and float(np.mean(y > 0)) < 0.8:
        return  # a log link suits outcomes that are (almost) always positive
    try:
        if X_valid is not None and y_valid is not None and len(y_valid) >= 5:
            fitted = clone(model).fit(X, y)
            scores[name] = float(np.mean((fitted.predict(X_valid) - y_valid) ** 2))
        else:
            folds = KFold(min(config.cv, max(2, len(y) // 5)), shuffle=True, random_state=config.random_state)
            mse = -cross_val_score(clone(model), X, y, cv=folds, scoring="neg_mean_squared_error", error_score=np.nan)
            scores[name] = float(np.mean(mse))
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return  # a family that cannot fit this arm is simply not a candidate
    if not np.isfinite(scores.get(name, np.inf)):
        scores.pop(name, None)


def t_learner_auto(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    config: LearnerConfig,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[TLearner, dict[str, Any]]:
    """T-learner whose outcome model for each arm is chosen by factual MSE (validation rows or inner CV)."""
    models = []
    chosen: dict[str, Any] = {}
    for arm in range(int(t.max()) + 1):
        mask = t == arm
        xv = yv = None
        if valid is not None:
            vmask = valid[1] == arm
            xv, yv = valid[0][vmask], valid[2][vmask]
        name, scores = choose_arm_model(X[mask], y[mask], config, X_valid=xv, y_valid=yv)
        models.append(clone(base_regressors(config)[name]))
        chosen[str(arm)] = {"family": name, "mse": scores}
    return TLearner(models=models), chosen


LearnerFactory = Callable[[LearnerConfig], Any]


def _t_gbm(config: LearnerConfig) -> TLearner:
    return TLearner(models=gbm_regressor(config))


def _x_gbm(config: LearnerConfig) -> XLearner:
    return XLearner(models=gbm_regressor(config), propensity_model=logistic_propensity())


def _dr_forest(config: LearnerConfig) -> ForestDRLearner:
    return ForestDRLearner(
        model_regression=gbm_regressor(config),
        model_propensity=gbm_classifier(config),
        n_estimators=config.forest_trees,
        min_samples_leaf=10,
        min_propensity=0.02,
        cv=config.cv,
        n_jobs=1,
        random_state=config.random_state,
    )


def _causal_forest(config: LearnerConfig) -> CausalForestDML:
    return CausalForestDML(
        model_y=gbm_regressor(config),
        model_t=gbm_classifier(config),
        discrete_treatment=True,
        n_estimators=config.forest_trees,
        min_samples_leaf=10,
        cv=config.cv,
        n_jobs=1,
        random_state=config.random_state,
    )


def _linear_dml(config: LearnerConfig) -> LinearDML:
    return LinearDML(
        model_y=gbm_regressor(config),
        model_t=gbm_classifier(config),
        discrete_treatment=True,
        cv=config.cv,
        random_state=config.random_state,
    )


# Name -> (factory, whether the learner needs bootstrap inference for intervals).
LEARNERS: dict[str, tuple[LearnerFactory, bool]] = {
    "t_gbm": (_t_gbm, True),
    "x_gbm": (_x_gbm, True),
    "dr_forest": (_dr_forest, False),
    "causal_forest": (_causal_forest, False),
    "linear_dml": (_linear_dml, False),
}
# ``t_auto`` is built from the data (per-arm family choice), so it is handled by ``fit_learner``.
LEARNER_NAMES: tuple[str, ...] = ("t_auto", *LEARNERS)


def fit_learner(
    name: str,
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    config: LearnerConfig,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    with_inference: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Fit the learner called ``name`` on (X, t coded 0..k-1 with 0 the reference, y); return it and notes.

    ``with_inference=False`` skips bootstrap refits (point estimates only), for model selection.
    """
    notes: dict[str, Any] = {}
    if name == "t_auto":
        estimator, notes["arms"] = t_learner_auto(X, t, y, config, valid)
        bootstrap = True
    elif name in LEARNERS:
        factory, bootstrap = LEARNERS[name]
        estimator = factory(config)
    else:
        raise ModelError(f"unknown learner {name!r}; choose one of {', '.join(LEARNER_NAMES)}")
    inference: Any = None
    if bootstrap and with_inference:
        inference = BootstrapInference(n_bootstrap_samples=config.n_bootstrap, n_jobs=1)
    try:
        if inference is not None:
            estimator.fit(y, t, X=X, inference=inference)
        else:
            estimator.fit(y, t, X=X)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise ModelError(f"learner {name} could not be fitted: {exc}") from exc
    return estimator, notes
