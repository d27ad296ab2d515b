"""Synthetic readmission frames for the federated tests (random numbers, no patient data)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from carepilot.features.readmission import FEATURES


def site_frame(site: str, n_patients: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """One site's examples: ``FEATURES`` with gaps, a label from a known logistic model, demographics."""
    rng = np.random.default_rng(seed)
    n = n_patients * 2  # two discharges per patient
    X = rng.normal(shift, 1.0, size=(n, len(FEATURES)))
    X[rng.random(X.shape) < 0.1] = np.nan
    beta = np.linspace(-0.6, 0.6, len(FEATURES))
    z = np.nan_to_num(X) @ beta - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    frame = pd.DataFrame(X, columns=list(FEATURES))
    frame.insert(0, "patient_id", [f"{site}-p{i // 2}" for i in range(n)])
    frame["label"] = y
    frame["sex"] = rng.choice(["female", "male"], n)
    frame["race"] = rng.choice(["white", "black", "asian"], n)
    frame["site"] = site
    return frame
