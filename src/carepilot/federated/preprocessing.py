"""The readmission model's preprocessing fitted federatedly from per-site sufficient statistics.

Central training (``models/risk.py``) imputes each numeric feature with its median, adds a missing-value
indicator for every feature with gaps, and standardises the result. A median cannot be aggregated exactly from
sites' summaries, so the federated preprocessor imputes with the *mean* instead; everything else is the same.
Each site sends, per feature, ``[rows, observed rows, sum, sum of squares]`` (one ``(4, d)`` array of counts
and sums, never a row); the server adds them up and derives the imputation values, which columns need a missing
indicator, and the mean and standard deviation of each transformed column exactly as ``StandardScaler`` would
compute them on the pooled, imputed data (population variance, Chan et al. 1979 pairwise combination reduces
to plain sums here because the sums are exact in float64 at these sizes).

The assembled preprocessor is a real fitted scikit-learn ``ColumnTransformer`` (``SimpleImputer`` with
indicators, then ``StandardScaler``) whose learned attributes are set from the pooled statistics, so the
federated model explains and serves through the same code as a centrally trained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from carepilot.errors import InputError, ModelError

STAT_ROWS = 4  # rows, observed, sum, sum of squares


def site_statistics(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Per-feature ``[rows, observed, sum, sum of squares]`` of one site's training rows, shape ``(4, d)``."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InputError(f"feature column(s) missing from the site's frame: {missing}")
    values = frame[list(features)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    observed = ~np.isnan(values)
    filled = np.where(observed, values, 0.0)
    return np.vstack(
        [
            np.full(values.shape[1], float(values.shape[0])),
            observed.sum(axis=0).astype(float),
            filled.sum(axis=0),
            (filled**2).sum(axis=0),
        ]
    )


@dataclass(frozen=True)
class PooledPreprocessing:
    """Imputation values, indicator columns and standardisation derived from the pooled statistics."""

    features: tuple[str, ...]
    impute: np.ndarray  # (d,) mean of the observed values (0 where nothing was observed anywhere)
    indicator: np.ndarray  # (m,) indices of features with at least one missing value somewhere
    center: np.ndarray  # (d + m,) mean of each transformed column
    scale: np.ndarray  # (d + m,) standard deviation of each transformed column (1 where constant)
    n: int

    @property
    def width(self) -> int:
        """Number of transformed columns (features plus missing indicators)."""
        return len(self.features) + len(self.indicator)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Impute, add indicators and standardise, as the fitted scikit-learn preprocessor does."""
        values = frame[list(self.features)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(values)
        imputed = np.where(missing, self.impute, values)
        raw = np.hstack([imputed, missing[:, self.indicator].astype(float)])
        return (raw - self.center) / self.scale

    def to_vector(self) -> list[float]:
        """Flat list for a Flower ``ConfigRecord`` (the server sends it to every site)."""
        d, m = len(self.features), len(self.indicator)
        return [
            float(d),
            float(m),
            float(self.n),
            *self.impute,
            *self.indicator.astype(float),
            *self.center,
            *self.scale,
        ]

    @classmethod
    def from_vector(cls, features: Sequence[str], vector: Sequence[float]) -> PooledPreprocessing:
        """Inverse of ``to_vector``; refuses a vector built for another feature list."""
        v = np.asarray(vector, dtype=float)
        d, m, n = int(v[0]), int(v[1]), int(v[2])
        if d != len(features) or len(v) != 3 + d + m + 2 * (d + m):
            raise ModelError(f"preprocessing vector does not match the {len(features)} features of this model")
        at = 3
        impute = v[at : at + d]
        at += d
        indicator = v[at : at + m].astype(int)
        at += m
        center = v[at : at + d + m]
        at += d + m
        return cls(tuple(features), impute, indicator, center, v[at : at + d + m], n)


def pool_statistics(features: Sequence[str], stats: Sequence[np.ndarray]) -> PooledPreprocessing:
    """Combine the sites' ``(4, d)`` statistics into the pooled preprocessing."""
    if not stats:
        raise ModelError("no site sent feature statistics")
    total = np.sum(np.stack([np.asarray(s, dtype=float) for s in stats]), axis=0)
    if total.shape != (STAT_ROWS, len(features)):
        raise ModelError(f"feature statistics have shape {total.shape}, expected {(STAT_ROWS, len(features))}")
    n, observed, sums, squares = total
    rows = float(n[0])
    if rows < 2:
        raise ModelError("fewer than two training rows across all sites")
    safe = np.maximum(observed, 1.0)
    mean = np.where(observed > 0, sums / safe, 0.0)
    # Imputed rows sit exactly at the mean: they add to the row count but not to the squared deviations.
    deviations = np.maximum(squares - observed * mean**2, 0.0)
    var_imputed = deviations / rows
    indicator = np.flatnonzero(observed < rows)
    share_missing = 1.0 - observed[indicator] / rows
    center = np.concatenate([mean, share_missing])
    var = np.concatenate([var_imputed, share_missing * (1.0 - share_missing)])
    scale = np.sqrt(var)
    scale[scale < 1e-12] = 1.0  # StandardScaler leaves constant columns unscaled
    return PooledPreprocessing(tuple(features), mean, indicator, center, scale, int(rows))


def fitted_preprocessor(prep: PooledPreprocessing) -> ColumnTransformer:
    """A fitted ``ColumnTransformer`` (impute + indicators, then scale) carrying the pooled statistics.

    It is fitted once on a two-row frame with gaps exactly where the pooled data had them, so every internal
    attribute scikit-learn needs exists, and the learned values are then replaced by the pooled ones.
    """
    features = list(prep.features)
    dummy = pd.DataFrame([np.zeros(len(features)), np.ones(len(features))], columns=features)
    for j in prep.indicator:
        dummy.iloc[1, j] = np.nan
    numeric = Pipeline([("impute", SimpleImputer(strategy="mean", add_indicator=True)), ("scale", StandardScaler())])
    transformer = ColumnTransformer([("num", numeric, features)], remainder="drop", verbose_feature_names_out=True)
    transformer.fit(dummy)
    fitted = transformer.named_transformers_["num"]
    fitted.named_steps["impute"].statistics_ = prep.impute.copy()
    scaler = fitted.named_steps["scale"]
    scaler.mean_ = prep.center.copy()
    scaler.var_ = prep.scale.copy() ** 2
    scaler.scale_ = prep.scale.copy()
    scaler.n_samples_seen_ = prep.n
    return transformer
