"""Time-to-event models in scikit-learn conventions, from scikit-survival.

``SurvivalModel(estimator=...)``:

* ``"cox"``: Cox proportional hazards (Cox 1972) with a small ridge penalty for stability
  (``CoxPHSurvivalAnalysis``, Efron ties); numeric inputs standardised, categoricals one-hot.
* ``"rsf"``: random survival forest (Ishwaran et al. 2008, ``RandomSurvivalForest``).
* ``"gbsa"``: gradient-boosted Cox model (Ridgeway 1999; ``GradientBoostingSurvivalAnalysis``).

Outcomes are scikit-survival structured arrays (``Surv.from_arrays(event, time)``). Metrics: Harrell's
C-index (Harrell et al. 1982) and the integrated Brier score with inverse-probability-of-censoring weights
(Graf et al. 1999), both from ``sksurv.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored, integrated_brier_score

from carepilot.errors import InputError, ModelError

SURVIVAL_ESTIMATORS: tuple[str, ...] = ("cox", "rsf", "gbsa")


def _check_outcome(y: Any) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.names is None or len(arr.dtype.names) != 2:
        raise InputError("survival outcome must be a structured array of (event, time); use sksurv.util.Surv")
    event_field, time_field = arr.dtype.names
    if (arr[time_field] <= 0).any():
        raise InputError("survival times must be positive")
    if not arr[event_field].any():
        raise ModelError("no events in the outcome; cannot fit a survival model")
    return arr


class SurvivalModel(BaseEstimator):
    """Cox, random survival forest or boosted Cox on a DataFrame; higher ``predict`` = higher risk."""

    def __init__(
        self,
        estimator: str = "cox",
        alpha: float = 0.01,
        n_estimators: int = 300,
        min_samples_leaf: int = 15,
        max_features: str | float = "sqrt",
        learning_rate: float = 0.05,
        max_depth: int = 2,
        subsample: float = 0.8,
        categorical_features: Sequence[str] | None = None,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.estimator = estimator
        self.alpha = alpha
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _model(self) -> Any:
        if self.estimator == "cox":
            return CoxPHSurvivalAnalysis(alpha=self.alpha, ties="efron")
        if self.estimator == "rsf":
            return RandomSurvivalForest(
                n_estimators=self.n_estimators,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
        return GradientBoostingSurvivalAnalysis(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
        )

    def fit(self, X: pd.DataFrame, y: Any) -> SurvivalModel:
        """Fit preprocessing and the survival estimator; returns self."""
        if self.estimator not in SURVIVAL_ESTIMATORS:
            raise ModelError(f"unknown survival estimator {self.estimator!r}; use one of {SURVIVAL_ESTIMATORS}")
        if not isinstance(X, pd.DataFrame):
            raise InputError("SurvivalModel.fit takes a pandas DataFrame of features")
        y_arr = _check_outcome(y)
        if len(X) != len(y_arr):
            raise InputError(f"{len(X)} feature rows but {len(y_arr)} outcomes")
        categorical = (
            list(self.categorical_features)
            if self.categorical_features is not None
            else [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        )
        numeric = [c for c in X.columns if c not in categorical]
        parts: list[tuple[str, Any, list[str]]] = []
        if numeric:
            steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
            if self.estimator == "cox":
                steps.append(("scale", StandardScaler()))
            parts.append(("num", Pipeline(steps), numeric))
        if categorical:
            onehot = OneHotEncoder(drop="if_binary", handle_unknown="ignore", sparse_output=False)
            impute = SimpleImputer(strategy="most_frequent")
            parts.append(("cat", Pipeline([("impute", impute), ("onehot", onehot)]), categorical))
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.pipeline_ = Pipeline([("prep", ColumnTransformer(parts)), ("model", self._model())])
        self.pipeline_.fit(X, y_arr)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk score (higher = earlier event expected)."""
        check_is_fitted(self, "pipeline_")
        return np.asarray(self.pipeline_.predict(X[list(self.feature_names_in_)]))

    def survival_at(self, X: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        """Survival probability of each row at each time, shape (n_rows, n_times)."""
        check_is_fitted(self, "pipeline_")
        prep = self.pipeline_.named_steps["prep"]
        fns = self.pipeline_.named_steps["model"].predict_survival_function(
            prep.transform(X[list(self.feature_names_in_)])
        )
        return np.vstack([fn(times) for fn in fns])


def c_index(y: Any, risk: np.ndarray) -> float:
    """Harrell's concordance index of a risk score against a structured survival outcome."""
    arr = _check_outcome(y)
    event_field, time_field = arr.dtype.names  # type: ignore[misc]
    return float(concordance_index_censored(arr[event_field].astype(bool), arr[time_field], risk)[0])


def evaluation_times(y_train: Any, y_test: Any, n: int = 20) -> np.ndarray:
    """Times for the integrated Brier score: 10th-80th percentiles of test follow-up, inside both ranges."""
    train, test = _check_outcome(y_train), _check_outcome(y_test)
    time_field = test.dtype.names[1]  # type: ignore[index]
    lo, hi = np.percentile(test[time_field], [10, 80])
    hi = min(hi, test[time_field].max() - 1e-6, train[time_field].max() - 1e-6)
    return np.linspace(lo, hi, n)


def integrated_brier(y_train: Any, y_test: Any, survival: np.ndarray, times: np.ndarray) -> float:
    """IPCW integrated Brier score over ``times`` (Graf et al. 1999)."""
    return float(integrated_brier_score(y_train, y_test, survival, times))
