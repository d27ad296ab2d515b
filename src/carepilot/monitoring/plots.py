"""Ambulatory glucose profile (AGP) chart as PNG bytes, drawn with matplotlib (Agg backend, no display).

Layout after the AGP report of the international consensus (Battelino 2019): median line, 25-75th and 5-95th
percentile bands by time of day, and the 70-180 mg/dL target range shaded.
"""

from __future__ import annotations

import io

import numpy as np

from carepilot.monitoring.cgm import AgpProfile, CgmMetrics


def render_agp_png(profile: AgpProfile, metrics: CgmMetrics | None = None, *, title: str = "") -> bytes:
    """The AGP chart of ``profile`` as PNG bytes; ``metrics`` adds a one-line summary under the title."""
    from matplotlib.figure import (
        Figure,
    )  # imported here: matplotlib is slow to import and only charts need it

    fig = Figure(figsize=(9, 4.5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    hours = (profile.minute + profile.bin_minutes / 2) / 60.0
    p = profile.percentiles
    ax.axhspan(70, 180, color="#d9f0d3", zorder=0, label="target 70-180 mg/dL")
    ax.fill_between(hours, p[5], p[95], color="#9ecae1", alpha=0.5, label="5-95th percentile", linewidth=0)
    ax.fill_between(hours, p[25], p[75], color="#3182bd", alpha=0.6, label="25-75th percentile", linewidth=0)
    ax.plot(hours, p[50], color="#08306b", linewidth=2, label="median")
    for level in (54, 70, 180, 250):
        ax.axhline(level, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlim(0, 24)
    top = np.nanmax(p[95]) if np.isfinite(p[95]).any() else 300.0
    ax.set_ylim(0, max(300.0, float(top) + 20))
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("time of day (h)")
    ax.set_ylabel("glucose (mg/dL)")
    heading = title or "Ambulatory glucose profile"
    if metrics is not None:
        heading += (
            f"\nTIR {metrics.time_in_range:.0%}  <54 {metrics.time_below_54:.1%}  >250 "
            f"{metrics.time_above_250:.0%}  GMI {metrics.gmi:.1f}%  CV {metrics.cv:.0%}  "
            f"data {metrics.data_sufficiency:.0%}"
        )
    ax.set_title(heading, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
