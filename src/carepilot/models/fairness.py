"""Subgroup performance of a risk model with Fairlearn's ``MetricFrame``.

Per group (sex, race, ethnicity, age band, site: whichever columns are given): patients, events, AUROC,
false-negative rate at a decision threshold, and calibration-in-the-large as observed minus mean predicted
risk (Van Calster et al. 2019). The largest gap of each metric is the max-min spread over the groups with
at least ``min_group`` patients (what ``MetricFrame.difference()`` reports, restricted to those groups; it
is computed from ``by_group`` because Fairlearn has no size filter), so a handful of
patients with an unrecorded value cannot dominate it. AUROC is reported as missing for groups smaller than
``min_group`` or with fewer than ``min_events`` events or non-events, rather than as a misleading number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_negative_rate
from sklearn.metrics import roc_auc_score

from carepilot.errors import InputError

FAIRNESS_METRICS: tuple[str, ...] = ("n", "events", "auroc", "fnr", "calibration_in_the_large")


@dataclass(frozen=True)
class SubgroupReport:
    """Per-group metrics for one attribute and the largest gap between its groups."""

    attribute: str
    table: pd.DataFrame
    largest_gap: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        rows = [{"group": str(g), **{k: _clean(v) for k, v in row.items()}} for g, row in self.table.iterrows()]
        return {"attribute": self.attribute, "groups": rows, "largest_gap": self.largest_gap}


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def subgroup_metrics(
    y_true: Any,
    y_prob: Any,
    groups: pd.DataFrame | Mapping[str, Any],
    threshold: float = 0.2,
    min_group: int = 30,
    min_events: int = 5,
) -> list[SubgroupReport]:
    """Subgroup AUROC, false-negative rate at ``threshold`` and calibration-in-the-large per attribute."""
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(y_prob, dtype=float)
    frame = pd.DataFrame(groups)
    if len(frame) != len(y) or len(p) != len(y):
        raise InputError(f"group table ({len(frame)}), outcomes ({len(y)}), risks ({len(p)}) differ in length")

    def auroc(yt: np.ndarray, yp: np.ndarray) -> float:
        events = int(np.sum(yt))
        if len(yt) < min_group or min(events, len(yt) - events) < min_events:
            return float("nan")
        return float(roc_auc_score(yt, yp))

    def fnr(yt: np.ndarray, yp: np.ndarray) -> float:
        if yt.sum() == 0:
            return float("nan")
        return float(false_negative_rate(yt, (yp >= threshold).astype(int)))

    def citl(yt: np.ndarray, yp: np.ndarray) -> float:
        return float(np.mean(yt) - np.mean(yp))

    metrics = {
        "n": lambda yt, yp: float(len(yt)),
        "events": lambda yt, yp: float(np.sum(yt)),
        "auroc": auroc,
        "fnr": fnr,
        "calibration_in_the_large": citl,
    }
    reports = []
    for column in frame.columns:
        values = frame[column].astype("object").where(frame[column].notna(), "missing").astype(str)
        mf = MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=values)
        table = mf.by_group
        eligible = table[table["n"] >= min_group]
        largest = {
            k: _clean(float(eligible[k].max() - eligible[k].min()) if eligible[k].notna().any() else np.nan)
            for k in ("auroc", "fnr", "calibration_in_the_large")
        }
        reports.append(SubgroupReport(str(column), table, largest))
    return reports


def subgroup_markdown(reports: list[SubgroupReport]) -> str:
    """The subgroup tables as one markdown table (attribute, group, metrics)."""
    lines = [
        "| attribute | group | n | events | AUROC | FNR | obs - pred |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for rep in reports:
        for group, row in rep.table.iterrows():
            cells = [_fmt(row[m]) for m in FAIRNESS_METRICS]
            lines.append(f"| {rep.attribute} | {group} | " + " | ".join(cells) + " |")
        gap = rep.largest_gap
        lines.append(
            f"| {rep.attribute} | *largest gap* | | | {_fmt(gap['auroc'])} | {_fmt(gap['fnr'])} | "
            f"{_fmt(gap['calibration_in_the_large'])} |"
        )
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.3f}" if isinstance(value, float) else str(value)
