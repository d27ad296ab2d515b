"""Federated evaluation: each site scores its held-out patients and sends summaries; the server pools them.

A site sends (a) its own metrics (``models/metrics.binary_metrics``) and subgroup metrics by sex and race
(``models/fairness.subgroup_metrics``, Fairlearn ``MetricFrame``), and (b) a ``(3, BINS)`` histogram: per bin of
predicted risk, the number of events, of non-events and the sum of predicted risks. Pooled AUROC is the AUROC of
the histogram (scikit-learn ``roc_auc_score`` with the counts as sample weights: patients sharing a bin count as
ties, an error below 1 / BINS in risk), pooled calibration comes from the same bins, and pooled subgroup
false-negative rates and calibration-in-the-large are exact from the per-group counts. No row, id or individual
prediction leaves the site; groups smaller than ``MIN_GROUP`` report counts only, and groups smaller than
``MIN_CELL`` are not reported at all (small-cell suppression).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from carepilot.models.fairness import subgroup_metrics
from carepilot.models.metrics import binary_metrics

BINS = 1000
THRESHOLD = 0.2
MIN_GROUP = 30
MIN_CELL = 11  # the CMS cell-size suppression threshold (counts 1-10 are never released)
FAIRNESS_ATTRIBUTES = ("sex", "race")


def risk_histogram(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Events, non-events and summed risk per bin of predicted risk, shape ``(3, BINS)``."""
    idx = np.clip((np.asarray(p) * BINS).astype(int), 0, BINS - 1)
    y = np.asarray(y, dtype=int)
    return np.vstack(
        [
            np.bincount(idx, weights=(y == 1).astype(float), minlength=BINS),
            np.bincount(idx, weights=(y == 0).astype(float), minlength=BINS),
            np.bincount(idx, weights=np.asarray(p, dtype=float), minlength=BINS),
        ]
    )


def site_metrics(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> dict[str, float]:
    """A site's held-out metrics and per-group counts and metrics, as a flat ``MetricRecord``-ready dict."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    out: dict[str, float] = {"n": float(len(y)), "events": float(y.sum())}
    if len(np.unique(y)) == 2:
        m = binary_metrics(y, p)
        for key in ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept"):
            out[key] = float(m[key])
    attrs = [a for a in FAIRNESS_ATTRIBUTES if a in groups.columns]
    if attrs and len(y):
        table = groups[attrs].fillna("unknown").astype(str).reset_index(drop=True)
        for rep in subgroup_metrics(y, p, table, threshold=THRESHOLD, min_group=MIN_GROUP):
            for group, row in rep.table.iterrows():
                key = f"{rep.attribute}={group}"
                mask = (table[rep.attribute] == str(group)).to_numpy()
                if mask.sum() < MIN_CELL:
                    continue  # small-cell suppression: a group this small could single out patients
                out[f"{key}:n"] = float(mask.sum())
                out[f"{key}:events"] = float(y[mask].sum())
                out[f"{key}:fn"] = float(((p[mask] < THRESHOLD) & (y[mask] == 1)).sum())
                out[f"{key}:sum_p"] = float(p[mask].sum())
                if mask.sum() >= MIN_GROUP and not np.isnan(row["auroc"]):
                    out[f"{key}:auroc"] = float(row["auroc"])
    return out


def histogram_auroc(hist: np.ndarray) -> float:
    """AUROC of binned predictions (events and non-events per bin as sample weights)."""
    events, non_events = hist[0], hist[1]
    if events.sum() == 0 or non_events.sum() == 0:
        return float("nan")
    centres = (np.arange(BINS) + 0.5) / BINS
    scores = np.concatenate([centres, centres])
    labels = np.concatenate([np.ones(BINS), np.zeros(BINS)])
    weights = np.concatenate([events, non_events])
    keep = weights > 0
    return float(roc_auc_score(labels[keep], scores[keep], sample_weight=weights[keep]))


def calibration_bins(hist: np.ndarray, groups: int = 10) -> dict[str, list[float]]:
    """Mean predicted vs observed risk in about ``groups`` equal-count groups of bins."""
    n = hist[0] + hist[1]
    cumulative = np.cumsum(n)
    if cumulative[-1] == 0:
        return {"predicted": [], "observed": []}
    edges = np.searchsorted(cumulative, np.linspace(0, cumulative[-1], groups + 1)[1:-1])
    predicted, observed = [], []
    for part in np.split(np.arange(BINS), edges):
        count = n[part].sum()
        if count > 0:
            predicted.append(float(hist[2, part].sum() / count))
            observed.append(float(hist[0, part].sum() / count))
    return {"predicted": predicted, "observed": observed}


def pooled(histograms: Sequence[np.ndarray], site_results: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Pooled AUROC, Brier, calibration and subgroup counts from the sites' summaries."""
    hist = np.sum(np.stack(histograms), axis=0)
    n = float(sum(r["n"] for r in site_results.values()))
    brier_sites = [(r["n"], r["brier"]) for r in site_results.values() if "brier" in r]
    events = float(hist[0].sum())
    out: dict[str, Any] = {
        "n": n,
        "events": events,
        "auroc": histogram_auroc(hist),
        "brier": float(sum(k * b for k, b in brier_sites) / max(sum(k for k, _ in brier_sites), 1.0)),
        "calibration_in_the_large": float((events - hist[2].sum()) / n) if n else float("nan"),
        "calibration": calibration_bins(hist),
    }
    groups: dict[str, dict[str, float]] = {}
    for result in site_results.values():
        for key, value in result.items():
            if "=" in key and ":" in key:
                group, stat = key.rsplit(":", 1)
                if stat in ("n", "events", "fn", "sum_p"):
                    groups.setdefault(group, {}).setdefault(stat, 0.0)
                    groups[group][stat] += float(value)
    fairness: dict[str, dict[str, float | None]] = {}
    for group, c in sorted(groups.items()):
        fairness[group] = {
            "n": c["n"],
            "events": c["events"],
            "fnr": c["fn"] / c["events"] if c["events"] else None,
            "calibration_in_the_large": (c["events"] - c["sum_p"]) / c["n"] if c["n"] else None,
        }
    out["subgroups"] = fairness
    return out
