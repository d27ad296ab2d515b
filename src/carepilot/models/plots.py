"""Calibration curve figures, drawn on a bare ``matplotlib.figure.Figure`` (Agg canvas, no display,
no global pyplot state)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from carepilot.models.calibration import calibration_points


def plot_calibration(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str, n_bins: int = 10
) -> Path:
    """Write a reliability diagram (observed vs predicted risk per quantile bin) for each named model."""
    fig = Figure(figsize=(5.5, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax, hist = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    top = 0.0
    for name, (y, p) in curves.items():
        pts = calibration_points(np.asarray(y), np.asarray(p), n_bins=n_bins)
        ax.plot(pts["predicted"], pts["observed"], marker="o", label=name)
        hist.hist(p, bins=40, histtype="step", label=name)
        top = max(top, *pts["predicted"], *pts["observed"])
    lim = min(1.0, top * 1.1 + 0.01)
    ax.plot([0, lim], [0, lim], linestyle="--", color="grey", label="perfect calibration")
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.set_ylabel("observed event rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    hist.set_xlabel("predicted risk")
    hist.set_ylabel("patients")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
