"""Discrimination, calibration and clinical-usefulness metrics for binary risk predictions.

AUROC, AUPRC (average precision) and the Brier score come from scikit-learn. Two things are written here
because no installed library computes them in the form clinical reporting asks for:

* calibration slope and intercept: the logistic recalibration model ``logit P(y=1) = a + b logit(p)``
  (Cox 1958, *Biometrika* 45:562; Van Calster et al. 2019, *BMC Medicine* 17:230). The slope is ``b`` of
  that fit; the intercept is "calibration-in-the-large", ``a`` with ``b`` fixed at 1 (logit(p) as offset).
  Fitted with statsmodels-free Newton-Raphson on one or two parameters, unpenalised (sklearn's
  ``LogisticRegression(penalty=None)`` cannot take an offset).
* net benefit at a threshold: ``TP/n - FP/n * t/(1-t)`` (Vickers & Elkin 2006, *Med Decis Making* 26:565).

Standard errors, for monitors that must tell a real change from sampling noise on a few hundred outcomes: the
recalibration coefficients' from the inverse Fisher information of the same fit, and the AUROC's by Hanley &
McNeil (1982, *Radiology* 143:29, eq. 2), which needs only the AUROC and the two class sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from carepilot.errors import InputError

_EPS = 1e-6
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3)


@dataclass(frozen=True)
class Recalibration:
    """Result of logistic recalibration of predicted probabilities against outcomes."""

    slope: float
    intercept: float
    slope_se: float = float("nan")
    intercept_se: float = float("nan")


def _checked(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_prob, dtype=float).ravel()
    if y.shape != p.shape:
        raise InputError(f"outcomes ({y.size}) and probabilities ({p.size}) differ in length")
    if y.size == 0:
        raise InputError("no outcomes to score")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError("outcomes must be 0 or 1")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InputError("probabilities must lie in [0, 1] without missing values")
    return y, p


def _newton_logistic(
    x: NDArray[np.float64], y: NDArray[np.float64], offset: NDArray[np.float64], iterations: int = 50
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Maximum-likelihood logistic coefficients for design ``x`` with a fixed offset (IRLS), and their SEs."""
    beta = np.zeros(x.shape[1])
    hessian = np.eye(x.shape[1])
    for _ in range(iterations):
        mu = expit(x @ beta + offset)
        w = mu * (1.0 - mu)
        hessian = x.T @ (x * w[:, None]) + 1e-10 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = expit(x @ beta + offset)
    information = x.T @ (x * (mu * (1.0 - mu))[:, None]) + 1e-10 * np.eye(x.shape[1])
    return beta, np.sqrt(np.diag(np.linalg.inv(information)))


def calibration_slope_intercept(y_true: ArrayLike, y_prob: ArrayLike) -> Recalibration:
    """Calibration slope and intercept (calibration-in-the-large) by logistic recalibration (Cox 1958)."""
    y, p = _checked(y_true, y_prob)
    lp = logit(np.clip(p, _EPS, 1 - _EPS))
    ones = np.ones_like(lp)
    slope, slope_se = _newton_logistic(np.column_stack([ones, lp]), y, np.zeros_like(lp))
    intercept, intercept_se = _newton_logistic(ones[:, None], y, lp)
    return Recalibration(
        slope=float(slope[1]),
        intercept=float(intercept[0]),
        slope_se=float(slope_se[1]),
        intercept_se=float(intercept_se[0]),
    )


def auroc_standard_error(auroc: float, n_events: int, n_non_events: int) -> float:
    """Standard error of an AUROC from its value and the class sizes (Hanley & McNeil 1982, eq. 2)."""
    if n_events < 1 or n_non_events < 1 or not 0.0 <= auroc <= 1.0:
        return float("nan")
    q1 = auroc / (2.0 - auroc)
    q2 = 2.0 * auroc * auroc / (1.0 + auroc)
    var = (
        auroc * (1.0 - auroc) + (n_events - 1) * (q1 - auroc * auroc) + (n_non_events - 1) * (q2 - auroc * auroc)
    ) / (n_events * n_non_events)
    return float(np.sqrt(max(var, 0.0)))


def net_benefit(y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> float:
    """Net benefit of treating patients whose risk is at or above ``threshold`` (Vickers & Elkin 2006)."""
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold {threshold} must be strictly between 0 and 1")
    y, p = _checked(y_true, y_prob)
    treat = p >= threshold
    n = y.size
    tp = float(np.sum(treat & (y == 1)))
    fp = float(np.sum(treat & (y == 0)))
    return tp / n - fp / n * threshold / (1.0 - threshold)


def net_benefit_treat_all(y_true: ArrayLike, threshold: float) -> float:
    """Net benefit of treating everyone, the reference line of a decision curve."""
    y = np.asarray(y_true, dtype=float)
    prevalence = float(y.mean())
    return prevalence - (1.0 - prevalence) * threshold / (1.0 - threshold)


def binary_metrics(
    y_true: ArrayLike, y_prob: ArrayLike, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> dict[str, float]:
    """AUROC, AUPRC, Brier, calibration slope/intercept and net benefit at each threshold."""
    y, p = _checked(y_true, y_prob)
    if len(np.unique(y)) < 2:
        raise InputError("metrics need both outcome classes present")
    recal = calibration_slope_intercept(y, p)
    out = {
        "auroc": float(roc_auc_score(y, p)),
        "auprc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "calibration_slope": recal.slope,
        "calibration_intercept": recal.intercept,
        "prevalence": float(y.mean()),
    }
    for t in thresholds:
        out[f"net_benefit_{t:g}"] = net_benefit(y, p, t)
        out[f"net_benefit_treat_all_{t:g}"] = net_benefit_treat_all(y, t)
    return out
