"""Local steps of L2 logistic regression for FedAvg / FedProx, and a site's Platt recalibration.

The objective is scikit-learn's ``LogisticRegression`` (L2) written per example, so that the sites' weighted
average is the pooled objective: ``mean log-loss + (lam / 2) ||w||^2`` with ``lam = 1 / (C * N)`` for the pooled
row count ``N`` (the intercept is not penalised). FedProx (Li et al. 2020, "Federated Optimization in
Heterogeneous Networks", MLSys) adds ``(mu / 2) ||theta - theta_global||^2`` to each site's local objective;
``mu = 0`` is FedAvg (McMahan et al. 2017). The local solver is SciPy's L-BFGS-B limited to a few iterations per
round: scikit-learn's solvers can neither start from the global parameters with a proximal term nor stop after
a fixed amount of local work, which is why the objective is written out here.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from carepilot.errors import ModelError
from carepilot.models.metrics import calibration_slope_intercept


def objective(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, lam: float, mu: float, anchor: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean log-loss + L2 on the weights + FedProx proximal term, and its gradient (``theta = [w, b]``)."""
    w, b = theta[:-1], theta[-1]
    z = X @ w + b
    # log-loss = -[y log s(z) + (1 - y) log s(-z)], in a numerically stable form.
    loss = -np.mean(y * log_expit(z) + (1.0 - y) * log_expit(-z))
    residual = (expit(z) - y) / len(y)
    grad = np.concatenate([X.T @ residual, [residual.sum()]])
    loss += 0.5 * lam * float(w @ w)
    grad[:-1] += lam * w
    if mu > 0:
        diff = theta - anchor
        loss += 0.5 * mu * float(diff @ diff)
        grad += mu * diff
    return float(loss), grad


def local_fit(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, *, lam: float, mu: float = 0.0, steps: int = 10
) -> tuple[np.ndarray, float]:
    """Start from the global parameters and take ``steps`` L-BFGS iterations; returns (parameters, loss)."""
    if len(y) == 0:
        raise ModelError("no training rows at this site")
    anchor = np.asarray(theta, dtype=float).copy()
    result = minimize(
        objective,
        anchor.copy(),
        args=(X, y.astype(float), lam, mu, anchor),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max(int(steps), 1)},
    )
    return np.asarray(result.x, dtype=float), float(result.fun)


def decision(theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Log-odds of the logistic model."""
    return np.asarray(X @ theta[:-1] + theta[-1])


def platt_fit(log_odds: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Platt scaling (Platt 1999) on a site's calibration rows: ``[a, b]`` with ``p = s(a * z + b)``.

    Unpenalised, like ``models/calibration.py``'s sigmoid calibrator; solved by L-BFGS on two parameters. As
    there, a slope at or below zero (a small, noisy site) would invert the ranking, so the site then fits only
    calibration-in-the-large (``a = 1``).
    """
    if len(np.unique(y)) < 2:
        raise ModelError("the site's calibration rows hold a single outcome class")
    z = np.asarray(log_odds, dtype=float).reshape(-1, 1)
    fit, _ = local_fit(np.array([1.0, 0.0]), z, np.asarray(y, dtype=float), lam=0.0, steps=100)
    if fit[0] <= 0.0:
        return np.array([1.0, calibration_slope_intercept(y, expit(z.ravel())).intercept])
    return fit
