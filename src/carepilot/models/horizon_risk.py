"""A survival model read at a fixed horizon: per-patient risk, bootstrap interval, OOD check and SHAP factors.

``HorizonRisk`` wraps ``SurvivalModel`` (Cox, random survival forest or boosted Cox) and answers the question a
clinician asks of a progression model, "how likely is this patient to progress within ``horizon_days``?", as
``1 - S(horizon | x)``. Around that number it keeps what a risk Insight needs:

* an interval: percentile bootstrap over refits on resampled patients (Efron & Tibshirani 1993, ch. 13);
* an out-of-distribution check: training ranges and an ``IsolationForest`` (Liu et al. 2008), as
  ``RiskClassifier`` does;
* an explanation: SHAP values of the horizon risk from the model-agnostic permutation explainer
  (``shap.PermutationExplainer``; Lundberg & Lee 2017) against a small training background, in percentage points.
  A permutation explainer is used because scikit-survival's ensembles are not among the models ``TreeExplainer``
  reads; with a few dozen features it gives exact Shapley values for the chosen background (antithetic sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shap
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.utils.validation import check_is_fitted

from carepilot.errors import InputError
from carepilot.models.risk import OutOfDistribution
from carepilot.models.survival import SurvivalModel, _check_outcome


@dataclass(frozen=True)
class Contribution:
    """One feature's SHAP value on the horizon risk (probability scale)."""

    feature: str
    value: Any
    shap: float


class HorizonRisk(BaseEstimator):
    """Risk of an event within ``horizon_days`` from a survival model, with interval, OOD check and SHAP."""

    def __init__(
        self,
        survival: SurvivalModel | None = None,
        horizon_days: float = 365.0,
        n_bootstrap: int = 10,
        interval_level: float = 0.95,
        ood_quantile: float = 0.005,
        background_size: int = 20,
        random_state: int = 0,
    ) -> None:
        self.survival = survival
        self.horizon_days = horizon_days
        self.n_bootstrap = n_bootstrap
        self.interval_level = interval_level
        self.ood_quantile = ood_quantile
        self.background_size = background_size
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any) -> HorizonRisk:
        """Fit the survival model, its bootstrap members and the training envelope; returns self."""
        if not isinstance(X, pd.DataFrame):
            raise InputError("HorizonRisk.fit takes a pandas DataFrame of features")
        y_arr = _check_outcome(y)
        base = self.survival if self.survival is not None else SurvivalModel("cox")
        self.model_ = clone(base).fit(X, y_arr)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        rng = np.random.default_rng(self.random_state)
        self.members_: list[SurvivalModel] = []
        event_field = y_arr.dtype.names[0]  # type: ignore[index]
        for _ in range(int(self.n_bootstrap)):
            rows = rng.integers(0, len(X), len(X))
            if not y_arr[event_field][rows].any():
                continue
            self.members_.append(clone(base).fit(X.iloc[rows], y_arr[rows]))
        self.ranges_ = {c: (float(X[c].min()), float(X[c].max())) for c in X.columns if X[c].notna().any()}
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
        filled = self.imputer_.transform(X)
        self.forest_ = IsolationForest(n_estimators=100, max_samples=min(256, len(X)), random_state=self.random_state)
        self.forest_.fit(filled)
        self.threshold_ = float(np.quantile(self.forest_.score_samples(filled), self.ood_quantile))
        k = min(self.background_size, len(X))
        self.background_ = X.sample(n=k, random_state=self.random_state).reset_index(drop=True)
        return self

    def _risk(self, model: SurvivalModel, X: pd.DataFrame) -> np.ndarray:
        # The survival curves as one array on the estimator's event-time grid (``return_array=True``) rather than
        # one step-function object per row: the same values, and the SHAP explainer calls this on many rows.
        prep, estimator = model.pipeline_.named_steps["prep"], model.pipeline_.named_steps["model"]
        curves = estimator.predict_survival_function(
            prep.transform(X[list(model.feature_names_in_)]), return_array=True
        )
        k = int(np.searchsorted(estimator.unique_times_, self.horizon_days, side="right")) - 1
        survival = curves[:, k] if k >= 0 else np.ones(len(X))
        return np.asarray(1.0 - survival, dtype=float)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the event within the horizon for each row."""
        check_is_fitted(self, "model_")
        return self._risk(self.model_, X[list(self.feature_names_in_)])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The survival model's risk score (higher = earlier event), for the C-index."""
        check_is_fitted(self, "model_")
        return self.model_.predict(X[list(self.feature_names_in_)])

    def predict_interval(self, X: pd.DataFrame, level: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """Bootstrap percentile interval of the horizon risk (None without bootstrap members)."""
        check_is_fitted(self, "model_")
        if not self.members_:
            return None
        level = self.interval_level if level is None else level
        Xc = X[list(self.feature_names_in_)]
        draws = np.column_stack([self._risk(m, Xc) for m in self.members_])
        alpha = (1.0 - level) / 2.0
        return np.quantile(draws, alpha, axis=1), np.quantile(draws, 1.0 - alpha, axis=1)

    def out_of_distribution(self, X: pd.DataFrame) -> list[OutOfDistribution]:
        """For each row, why it lies outside the training data (ranges, isolation forest)."""
        check_is_fitted(self, "forest_")
        Xc = X[list(self.feature_names_in_)]
        scores = self.forest_.score_samples(self.imputer_.transform(Xc))
        out = []
        for i in range(len(Xc)):
            reasons = []
            for c, (lo, hi) in self.ranges_.items():
                v = Xc.iloc[i][c]
                if pd.notna(v) and (v < lo or v > hi):
                    reasons.append(f"{c}={v:g} is outside the training range [{lo:g}, {hi:g}]")
            if scores[i] < self.threshold_:
                reasons.append("the combination of values is rarer than 99.5% of training patients")
            out.append(OutOfDistribution(tuple(reasons), float(scores[i])))
        return out

    def contributions(self, row: pd.DataFrame) -> list[Contribution]:
        """SHAP values of one patient's horizon risk per feature (probability scale), largest first."""
        check_is_fitted(self, "model_")
        if len(row) != 1:
            raise InputError(f"explain one patient at a time; got {len(row)} rows")
        cols = list(self.feature_names_in_)

        def f(values: np.ndarray) -> np.ndarray:
            return self._risk(self.model_, pd.DataFrame(values, columns=cols))

        background = self.background_[cols].to_numpy(dtype=float)
        explainer = shap.PermutationExplainer(f, background, seed=self.random_state)
        x = row[cols].to_numpy(dtype=float)
        values = explainer(x, max_evals=4 * len(cols) + 1, silent=True).values[0]
        out = [Contribution(c, row.iloc[0][c], float(v)) for c, v in zip(cols, values, strict=True)]
        return sorted(out, key=lambda c: -abs(c.shap))
