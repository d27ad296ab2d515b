"""The ambulatory glucose profile: percentiles by time of day against a hand-computed vector, and its SVG chart."""

from __future__ import annotations

import re

import numpy as np
import pytest

from carepilot.monitoring.cgm import ambulatory_glucose_profile
from carepilot.web.charts import agp_chart

DAY = 86_400.0
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def five_days_at(minute: float, values: list[float]) -> np.ndarray:
    return np.array([START + d * DAY + minute * 60 for d in range(len(values))])


def test_agp_percentiles_match_a_hand_computed_vector():
    # Five days at 00:05 of 100, 120, 140, 160, 180 mg/dL. Linear interpolation between order statistics
    # (Hyndman & Fan type 7, numpy's default): rank = p/100 x (n - 1).
    # p5: rank 0.2 -> 100 + 0.2 x 20 = 104; p25: rank 1 -> 120; p50 -> 140; p75 -> 160; p95: rank 3.8 -> 176.
    times = five_days_at(5, [180, 100, 160, 120, 140])
    values = np.array([180.0, 100.0, 160.0, 120.0, 140.0])
    agp = ambulatory_glucose_profile(times, values, bin_minutes=15)
    got = [agp.percentiles[p][0] for p in (5, 25, 50, 75, 95)]
    assert got == pytest.approx([104.0, 120.0, 140.0, 160.0, 176.0])
    assert agp.n[0] == 5 and agp.n.sum() == 5
    assert np.isnan(agp.percentiles[50][1:]).all()


def test_agp_places_readings_on_the_patients_clock():
    times = five_days_at(23 * 60 + 30, [90, 95, 100])  # 23:30 UTC
    agp = ambulatory_glucose_profile(times, np.array([90.0, 95.0, 100.0]), bin_minutes=60, utc_offset_minutes=60)
    assert agp.n[0] == 3 and agp.percentiles[50][0] == pytest.approx(95.0)  # 00:30 local


def full_profile():
    minutes = np.arange(0, 1440, 5)
    times = np.concatenate([START + d * DAY + minutes * 60 for d in range(14)])
    rng = np.random.default_rng(3)
    values = 140 + 40 * np.sin(times / DAY * 2 * np.pi) + rng.normal(0, 15, len(times))
    return ambulatory_glucose_profile(times, values)


def test_the_agp_chart_draws_both_bands_the_median_and_the_target_range():
    svg = str(agp_chart(full_profile()))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="agp-outer"') == 1 and svg.count('class="agp-inner"') == 1
    assert svg.count('class="agp-median"') == 1 and 'class="agp-target"' in svg
    assert "00:00" in svg and "24:00" in svg
    median = re.search(r'<polyline points="([^"]+)" class="agp-median"', svg)
    assert median is not None and len(median.group(1).split()) == 96


def test_bins_without_enough_readings_break_the_bands_instead_of_bridging_them():
    profile = full_profile()
    for p in profile.percentiles.values():
        p[40:44] = np.nan
    svg = str(agp_chart(profile))
    assert svg.count('class="agp-outer"') == 2 and svg.count('class="agp-median"') == 2


def test_the_agp_chart_keeps_extreme_values_inside_the_plot():
    profile = full_profile()
    profile.percentiles[95][:] = 2000.0
    svg = str(agp_chart(profile))
    ys = [float(y) for y in re.findall(r",(-?[\d.]+)", svg)]
    assert min(ys) >= 0
