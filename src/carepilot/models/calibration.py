"""Post-hoc probability calibration chosen on validation data, and the calibration curve.

Two calibrators, both fitted on the model's raw probabilities for a held-out calibration split:
Platt scaling (Platt 1999), a logistic regression on logit(p) (scikit-learn ``LogisticRegression``,
effectively unpenalised), and isotonic regression (Zadrozny & Elkan 2002; ``IsotonicRegression``).
They map probabilities directly rather than going through ``CalibratedClassifierCV`` because that class
re-runs the frozen model once per internal fold, five times the cost for the same mapping.

Which method a model uses is decided on the calibration split only, by the mean Brier score of each method
under 2-fold cross-fitting *within* that split (fit on one half, score on the other), so the choice is never
scored on the data it was fitted on. Brier rather than log-loss decides, because isotonic steps reach
exactly 0 or 1 and log-loss then punishes one unlucky patient without bound. Isotonic needs more data than
sigmoid (Niculescu-Mizil & Caruana 2005), which this choice reflects.

Calibration must never reorder patients: isotonic regression is increasing by construction, but a Platt fit on a
small or noisy split can come out with a slope at or below zero, which would invert (or flatten) the model's
ranking. Then only calibration-in-the-large is fitted: the slope is fixed at 1 and the intercept is the maximum
likelihood one (``models.metrics.calibration_slope_intercept``), so the ranking the model learned is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logit
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

from carepilot.errors import ModelError
from carepilot.models.metrics import calibration_slope_intercept

CALIBRATION_METHODS: tuple[str, ...] = ("sigmoid", "isotonic")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS))).reshape(-1, 1)


@dataclass(frozen=True)
class Calibrator:
    """A fitted map from a model's raw probability to a calibrated probability."""

    method: str
    mapping: IsotonicRegression | LogisticRegression

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw model probabilities."""
        if isinstance(self.mapping, IsotonicRegression):
            return np.asarray(self.mapping.predict(np.asarray(raw, dtype=float)))
        return np.asarray(self.mapping.predict_proba(_logit(raw))[:, 1])


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
    """Fit Platt (``sigmoid``) or ``isotonic`` calibration of raw probabilities against outcomes."""
    if method not in CALIBRATION_METHODS:
        raise ModelError(f"unknown calibration method {method!r}; use one of {CALIBRATION_METHODS}")
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise ModelError("the calibration split holds a single outcome class; cannot calibrate")
    if method == "isotonic":
        mapping: IsotonicRegression | LogisticRegression = IsotonicRegression(
            y_min=0.0, y_max=1.0, out_of_bounds="clip"
        ).fit(np.asarray(raw, dtype=float), y)
    else:
        mapping = LogisticRegression(C=1e6).fit(_logit(raw), y)
        if mapping.coef_[0, 0] <= 0.0:  # an inverting Platt map: keep the ranking, shift the level only
            mapping.coef_ = np.ones_like(mapping.coef_)
            mapping.intercept_ = np.array([calibration_slope_intercept(y, np.asarray(raw, dtype=float)).intercept])
    return Calibrator(method, mapping)


@dataclass(frozen=True)
class CalibrationChoice:
    """The chosen method, its fitted calibrator and the cross-fitted Brier score of each method."""

    method: str
    calibrator: Calibrator
    brier: dict[str, float]


def choose_calibration(
    raw: np.ndarray,
    y: np.ndarray,
    methods: Sequence[str] = CALIBRATION_METHODS,
    random_state: int = 0,
) -> CalibrationChoice:
    """Pick the calibration method with the lowest cross-fitted Brier score on the calibration split."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise ModelError("the calibration split holds a single outcome class; cannot calibrate")
    scores: dict[str, float] = {}
    if len(methods) == 1:
        scores[methods[0]] = float("nan")
    else:
        folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=random_state)
        for method in methods:
            losses = []
            for a, b in folds.split(raw.reshape(-1, 1), y):
                cal = fit_calibrator(raw[a], y[a], method)
                losses.append(brier_score_loss(y[b], cal.predict(raw[b])))
            scores[method] = float(np.mean(losses))
    best = min(scores, key=lambda m: (np.nan_to_num(scores[m], nan=0.0), m))
    return CalibrationChoice(best, fit_calibrator(raw, y, best), scores)


def calibration_points(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = 10) -> dict[str, list[float]]:
    """Observed vs predicted risk in quantile bins (sklearn ``calibration_curve``, strategy 'quantile')."""
    observed, predicted = calibration_curve(y_true, y_prob, n_bins=n_bins, strategy="quantile")
    return {"predicted": [float(v) for v in predicted], "observed": [float(v) for v in observed]}
