"""The calibration plot is written as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from carepilot.models.calibration import calibration_points
from carepilot.models.plots import plot_calibration


def test_calibration_plot_writes_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.5, 2000)
    y = (rng.random(2000) < p).astype(int)
    out = plot_calibration({"model": (y, p)}, tmp_path / "img" / "cal.png", "test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibration_points_follow_the_diagonal_for_calibrated_risks() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 20000)
    y = (rng.random(20000) < p).astype(int)
    pts = calibration_points(y, p)
    assert np.allclose(pts["observed"], pts["predicted"], atol=0.05)
