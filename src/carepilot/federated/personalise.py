"""A site's personalised model: the global model fine-tuned on the site's own patients, kept at the site.

Sites differ in case mix, so one global model can rank a site's patients less well than a model of its own, while
a model of its own is noisy at a small site. Ditto (Li, Hu, Beirami, Smith 2021, "Ditto: Fair and Robust
Federated Learning Through Personalization", ICML) interpolates: each site minimises its own loss plus
``(mu / 2) ||theta - theta_global||^2``. A large ``mu`` keeps the global model; ``mu -> 0`` is the site alone.

The site chooses ``mu`` from ``MU_GRID`` (and the global model itself, so personalising can never look worse than
the global model on the data that decides) by log-loss on its calibration patients, refits Platt scaling on them,
and keeps the result. Only metrics on its held-out patients and a risk histogram leave the site, as in the final
evaluation of the global model. The same L2 strength as the federation is used. This is the objective and solver
of ``federated/logistic.py`` with a different anchor, which is why it is written here and not taken from a
library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit

from carepilot.features.readmission import FEATURES
from carepilot.federated.logistic import decision, local_fit, platt_fit
from carepilot.federated.preprocessing import PooledPreprocessing
from carepilot.federated.sites import SiteData

MU_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
STEPS = 200  # L-BFGS iterations: a full fit from the global start, not one round's worth of local work


@dataclass(frozen=True)
class Personalised:
    """The site's chosen model: weights, Platt map, the proximal strength (``inf`` = the global model kept)."""

    theta: np.ndarray
    platt: np.ndarray
    mu: float
    calibration_log_loss: float

    def predict(self, prep: PooledPreprocessing, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated risk for rows of the site's feature frame."""
        z = decision(self.theta, prep.transform(frame[list(FEATURES)]))
        return np.asarray(expit(self.platt[0] * z + self.platt[1]))


def _log_loss(theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    z = decision(theta, X)
    return float(-np.mean(y * log_expit(z) + (1.0 - y) * log_expit(-z)))


def personalise(
    data: SiteData,
    prep: PooledPreprocessing,
    theta_global: np.ndarray,
    lam: float,
    mu_grid: Sequence[float] = MU_GRID,
) -> Personalised:
    """Fine-tune the global model at this site (Ditto), choosing ``mu`` on the site's calibration patients."""
    fit = data.fit_rows
    X = prep.transform(fit[list(FEATURES)])
    y = fit["label"].to_numpy(dtype=float)
    Xc = prep.transform(data.calibration[list(FEATURES)])
    yc = data.calibration["label"].to_numpy(dtype=float)
    candidates = [(_log_loss(theta_global, Xc, yc), float("inf"), np.asarray(theta_global, dtype=float))]
    if len(np.unique(y)) == 2:
        for mu in mu_grid:
            theta, _ = local_fit(theta_global, X, y, lam=lam, mu=mu, steps=STEPS)
            candidates.append((_log_loss(theta, Xc, yc), float(mu), theta))
    loss, mu, theta = min(candidates, key=lambda c: c[0])
    platt = platt_fit(decision(theta, Xc), yc) if len(np.unique(yc)) == 2 else np.array([1.0, 0.0])
    return Personalised(theta, platt, mu, loss)
