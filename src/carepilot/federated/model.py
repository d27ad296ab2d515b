"""The federated readmission model as a ``RiskClassifier``, so it registers, explains and serves like any other.

Its pipeline is a real fitted scikit-learn ``Pipeline`` (the pooled preprocessor, then a ``LogisticRegression``
carrying the global weights) and its calibrator is the federated Platt map, so ``predict_proba``, the SHAP
explanation and the risk Insight run unchanged. Two things differ from a centrally fitted model, because no
site's rows ever reach the server: there is no bootstrap interval (the Insight then says it gives none), and the
out-of-distribution check is an envelope of pooled means and standard deviations (a value more than
``z_limit`` standard deviations from the pooled mean is declined) instead of ranges and an isolation forest,
both of which would need individual rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from carepilot.errors import ModelError
from carepilot.federated.preprocessing import PooledPreprocessing, fitted_preprocessor
from carepilot.models.calibration import Calibrator
from carepilot.models.risk import OutOfDistribution, RiskClassifier, _Envelope


class FederatedRiskClassifier(RiskClassifier):
    """A logistic risk model assembled from federated parameters (see the module docstring)."""

    z_limit: float = 8.0

    def fit(self, X: Any, y: Any, groups: Any = None) -> FederatedRiskClassifier:
        """Refused: this model is trained across sites (``carepilot federate``), never on one table."""
        raise ModelError("a federated model is fitted across sites with `carepilot federate`, not with fit()")

    @classmethod
    def assemble(
        cls,
        prep: PooledPreprocessing,
        theta: np.ndarray,
        platt: Sequence[float] | np.ndarray,
        summary: dict[str, Any] | None = None,
    ) -> FederatedRiskClassifier:
        """Build the fitted model from the pooled preprocessing, global weights ``[w, b]`` and Platt ``[a, b]``."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (prep.width + 1,):
            raise ModelError(f"weights have shape {theta.shape}, expected {(prep.width + 1,)}")
        model = cls.shared_parts(prep, "logistic", platt, summary)
        logistic = LogisticRegression()
        logistic.classes_ = np.array([0, 1])
        logistic.coef_ = theta[:-1].reshape(1, -1).copy()
        logistic.intercept_ = np.array([theta[-1]])
        logistic.n_features_in_ = prep.width
        logistic.n_iter_ = np.array([0])
        model.pipeline_ = Pipeline([("prep", fitted_preprocessor(prep)), ("model", logistic)])
        # The linear SHAP background is the pooled mean, which is 0 in every standardised column.
        model.background_ = np.zeros((1, prep.width))
        return model

    @classmethod
    def shared_parts(
        cls,
        prep: PooledPreprocessing,
        estimator: str,
        platt: Sequence[float] | np.ndarray,
        summary: dict[str, Any] | None = None,
    ) -> FederatedRiskClassifier:
        """The fitted state every federated model shares (columns, Platt map, pooled envelope), no pipeline yet."""
        model = cls(estimator=estimator, calibration="sigmoid")
        features = list(prep.features)
        model.feature_names_in_ = np.asarray(features, dtype=object)
        model.n_features_in_ = len(features)
        model.classes_ = np.array([0, 1])
        model.categorical_ = []
        model.numeric_ = features
        mapping = LogisticRegression(C=1e6)
        mapping.classes_ = np.array([0, 1])
        mapping.coef_ = np.array([[float(platt[0])]])
        mapping.intercept_ = np.array([float(platt[1])])
        mapping.n_features_in_ = 1
        model.calibrator_ = Calibrator("sigmoid", mapping)
        model.calibration_method_ = "sigmoid"
        model.calibration_brier_ = {}
        model.bootstrap_members_ = []
        model.best_params_ = {}
        model.tuning_scores_ = []
        model.envelope_ = _Envelope()
        model.pooled_ = prep
        model.training_summary_ = dict(summary or {"n": prep.n, "features": features})
        return model

    def out_of_distribution(self, X: Any) -> list[OutOfDistribution]:
        """Flag rows with a value more than ``z_limit`` pooled standard deviations from the pooled mean."""
        prepared = self.prepare(X)
        prep: PooledPreprocessing = self.pooled_
        d = len(prep.features)
        z = prep.transform(prepared)[:, :d]
        raw = prepared[list(prep.features)].to_numpy(dtype=float)
        out: list[OutOfDistribution] = []
        for i in range(len(prepared)):
            reasons = tuple(
                f"{prep.features[j]}={raw[i, j]:g} lies {abs(z[i, j]):.0f} standard deviations from the pooled mean"
                for j in range(d)
                if not np.isnan(raw[i, j]) and abs(z[i, j]) > self.z_limit
            )
            out.append(OutOfDistribution(reasons, float(np.max(np.abs(z[i]))) if d else 0.0))
        return out
