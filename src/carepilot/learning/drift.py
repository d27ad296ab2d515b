"""Input and prediction drift: the population stability index (PSI) and the change in missingness per feature.

PSI (Yurdakul 2018, *Statistical properties of population stability index*, Western Michigan University; the
credit-scoring index of Siddiqi 2006, *Credit Risk Scorecards*, ch. 8) compares the share of rows in each bin of a
reference sample, ``e``, with the share in a monitored sample, ``a``: ``PSI = sum((a - e) * ln(a / e))``. Bins are
the reference's deciles (so each holds about 10% of the reference), open at both ends so every new value falls in
one; missing values form their own bin. Empty bins get a floor of ``1e-4`` before the log, the usual convention that
keeps the index finite.

A PSI is only meaningful against its sampling noise: for two samples of ``n`` and ``m`` rows drawn from one
distribution, ``PSI / (1/n + 1/m)`` is approximately chi-square with ``B - 1`` degrees of freedom (Yurdakul 2018,
section 3), so on a window of 40 predictions a PSI of 0.25 is chance. ``psi_critical`` gives that bound; the monitor
flags a feature only when its PSI passes both the conventional magnitude threshold and this bound at a
Bonferroni-corrected level. That bound is asymptotic: it wants about five expected rows in every bin (Cochran
1954), so for a small window, or a feature measured in few patients, adjacent value bins are merged until each
expects five rows of the window, and the degrees of freedom fall with them. Rows must also be independent, so the
monitor judges drift on one row per patient (their latest in the window) and the reference counts patients, not
discharges: a patient readmitted three times would otherwise count as three identical lab values. Written here because no installed library computes PSI (scipy has entropy, not this sum
over shared bins); the formula is four lines and checked against a hand-computed example in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from carepilot.errors import InputError

FLOOR = 1e-4
N_BINS = 10


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = FLOOR) -> float:
    """Population stability index between two vectors of bin shares (each summing to 1)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.ndim != 1 or e.size == 0:
        raise InputError(f"PSI needs two share vectors of the same length, got {e.shape} and {a.shape}")
    if (e < 0).any() or (a < 0).any():
        raise InputError("bin shares must not be negative")
    e = np.maximum(e, floor)
    a = np.maximum(a, floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_critical(n_reference: int, n_now: int, bins: int, alpha: float) -> float:
    """The PSI that two samples of one distribution exceed with probability ``alpha`` (Yurdakul 2018)."""
    if n_reference < 1 or n_now < 1 or bins < 2 or not 0 < alpha < 1:
        return float("inf")
    return float(chi2.ppf(1.0 - alpha, bins - 1) * (1.0 / n_reference + 1.0 / n_now))


@dataclass(frozen=True)
class FeatureReference:
    """A feature's reference distribution: interior bin edges, the share per bin and the missing share."""

    name: str
    edges: tuple[float, ...]  # interior edges; bins are (-inf, e0], (e0, e1], ..., (e_last, inf)
    shares: tuple[float, ...]  # len(edges) + 1 shares of the non-missing reference rows
    missing: float

    def shares_of(self, values: Any) -> tuple[np.ndarray, float]:
        """Share of non-missing ``values`` per reference bin, and their missing share."""
        v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        present = v[~np.isnan(v)]
        missing = 1.0 - present.size / v.size if v.size else 0.0
        if present.size == 0:
            return np.zeros(len(self.shares)), missing
        idx = np.searchsorted(np.asarray(self.edges), present, side="left")
        counts = np.bincount(idx, minlength=len(self.shares)).astype(float)
        return counts / present.size, missing

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "edges": list(self.edges), "shares": list(self.shares), "missing": self.missing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureReference:
        return cls(str(data["name"]), tuple(data["edges"]), tuple(data["shares"]), float(data["missing"]))


def reference_of(name: str, values: Any, n_bins: int = N_BINS) -> FeatureReference:
    """Reference bins of one feature from its training values (deciles; fewer for features with few values)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    if v.size == 0:
        raise InputError(f"feature {name!r} has no reference values")
    present = v[~np.isnan(v)]
    missing = 1.0 - present.size / v.size
    if present.size == 0:
        return FeatureReference(name, (), (1.0,), missing)
    quantiles = np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = tuple(float(q) for q in np.unique(quantiles))
    ref = FeatureReference(name, edges, tuple(np.ones(len(edges) + 1) / (len(edges) + 1)), missing)
    shares, _ = ref.shares_of(present)
    return FeatureReference(name, edges, tuple(float(s) for s in shares), missing)


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature in one monitored sample against its reference."""

    feature: str
    psi: float
    missing_reference: float
    missing_now: float
    bins: int = 2  # bins holding part of the reference (the chi-square degrees of freedom + 1)

    @property
    def missing_change(self) -> float:
        return self.missing_now - self.missing_reference


MIN_EXPECTED = 5.0  # rows per bin the chi-square approximation needs (Cochran 1954)


def merged_groups(expected: Sequence[float], n: int, min_expected: float = MIN_EXPECTED) -> list[list[int]]:
    """Adjacent bins merged left to right until each group expects ``min_expected`` of ``n`` rows."""
    groups: list[list[int]] = []
    current: list[int] = []
    mass = 0.0
    for i, e in enumerate(expected):
        current.append(i)
        mass += e
        if mass * n >= min_expected:
            groups.append(current)
            current, mass = [], 0.0
    if current:
        if groups:
            groups[-1].extend(current)  # a short tail joins the last full group
        else:
            groups.append(current)
    return groups


def feature_drift(reference: FeatureReference, values: Any) -> FeatureDrift:
    """PSI over the reference bins (merged to five expected rows each; missing as its own bin), missing shares."""
    shares, missing = reference.shares_of(values)
    n = len(pd.Series(values))
    value_e = [s * (1 - reference.missing) for s in reference.shares]
    value_a = [s * (1 - missing) for s in shares]
    groups = merged_groups(value_e, n)
    expected = [*(sum(value_e[i] for i in g) for g in groups), reference.missing]
    actual = [*(sum(value_a[i] for i in g) for g in groups), missing]
    occupied = sum(1 for e in expected if e > 0)
    return FeatureDrift(reference.name, psi(expected, actual), reference.missing, missing, max(occupied, 2))


def reference_profile(frame: pd.DataFrame, features: Sequence[str], scores: Any | None = None) -> dict[str, Any]:
    """Reference bins of every feature (and of the predicted risk, when given), as JSON-ready data."""
    out: dict[str, Any] = {"features": {f: reference_of(f, frame[f]).to_dict() for f in features if f in frame}}
    if scores is not None:
        out["score"] = reference_of("score", scores).to_dict()
    # Independent units for the noise bound: patients, when the frame says who each row belongs to.
    out["n"] = int(frame["patient_id"].nunique()) if "patient_id" in frame else len(frame)
    return out
