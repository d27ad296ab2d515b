"""CGM consensus metrics against hand-computed vectors (Battelino et al., Diabetes Care 2019)."""

from __future__ import annotations

import numpy as np
import pytest

from carepilot.errors import InputError
from carepilot.monitoring.cgm import (
    ambulatory_glucose_profile,
    cgm_metrics,
    data_sufficiency,
    glucose_management_indicator,
    range_fractions,
)

T0 = 1_772_323_200.0  # 2026-03-01T00:00:00Z
FIVE_MIN = 300.0


def test_gmi_follows_the_bergenstal_formula() -> None:
    # 3.31 + 0.02392 x 154 = 6.99368 (154 mg/dL is the textbook example of a GMI near 7%).
    assert glucose_management_indicator(154.0) == pytest.approx(6.99368)


def test_metrics_of_six_readings_match_hand_computation() -> None:
    values = np.array([50.0, 60.0, 100.0, 150.0, 200.0, 300.0])
    times = T0 + np.arange(6) * FIVE_MIN
    m = cgm_metrics(times, values)
    # mean 860/6; sample SD sqrt(45333.33/5) = 95.2190; CV = 95.2190/143.3333.
    assert m.mean_glucose == pytest.approx(143.333333, abs=1e-5)
    assert m.gmi == pytest.approx(3.31 + 0.02392 * 143.333333, abs=1e-6)
    assert m.sd == pytest.approx(95.21905, abs=1e-4)
    assert m.cv == pytest.approx(0.664319, abs=1e-5)
    assert m.time_below_54 == pytest.approx(1 / 6)
    assert m.time_54_69 == pytest.approx(1 / 6)
    assert m.time_in_range == pytest.approx(2 / 6)
    assert m.time_181_250 == pytest.approx(1 / 6)
    assert m.time_above_250 == pytest.approx(1 / 6)
    assert m.data_sufficiency == pytest.approx(6 / 4032)
    assert not m.sufficient


def test_range_edges_follow_the_consensus_bands() -> None:
    values = np.array([53.9, 54.0, 69.9, 70.0, 180.0, 180.5, 250.0, 250.1])
    below_54, r54_69, tir, r181_250, above_250 = range_fractions(values)
    assert (below_54, r54_69, tir, r181_250, above_250) == (1 / 8, 2 / 8, 2 / 8, 2 / 8, 1 / 8)
    assert below_54 + r54_69 + tir + r181_250 + above_250 == pytest.approx(1.0)


def test_fourteen_full_days_are_fully_sufficient_and_half_the_readings_are_not() -> None:
    n = 14 * 288
    full = T0 + np.arange(n) * FIVE_MIN
    assert cgm_metrics(full, np.full(n, 120.0)).data_sufficiency == pytest.approx(1.0)
    half = full[::2]
    m = cgm_metrics(half, np.full(len(half), 120.0))
    assert m.data_sufficiency == pytest.approx(0.5)
    assert not m.sufficient
    seventy = full[np.arange(n) % 10 < 7]
    assert cgm_metrics(seventy, np.full(len(seventy), 120.0)).sufficient


def test_one_minute_readings_count_once_per_five_minutes() -> None:
    times = T0 + np.arange(288 * 5) * 60.0  # one day at 1-minute cadence
    assert data_sufficiency(times, times.max() - 14 * 86_400, times.max()) == pytest.approx(288 / 4032, abs=1 / 4032)


def test_only_the_last_fourteen_days_are_used() -> None:
    old = T0 + np.arange(288) * FIVE_MIN  # a day of lows, 20 days before the rest
    recent = T0 + 20 * 86_400 + np.arange(288) * FIVE_MIN
    m = cgm_metrics(np.concatenate([old, recent]), np.concatenate([np.full(288, 45.0), np.full(288, 120.0)]))
    assert m.n_readings == 288
    assert m.time_below_54 == 0.0
    assert m.mean_glucose == pytest.approx(120.0)


def test_no_readings_is_an_input_error() -> None:
    with pytest.raises(InputError):
        cgm_metrics(np.array([]), np.array([]))
    with pytest.raises(InputError):
        cgm_metrics(np.array([T0]), np.array([100.0, 120.0]))


def test_agp_percentiles_by_time_of_day() -> None:
    # Three days; at 00:00-00:15 glucose is 100, 110, 120 across days; at 12:00 it is 200, 210, 220.
    times, values = [], []
    for day in range(3):
        times += [T0 + day * 86_400, T0 + day * 86_400 + 12 * 3600]
        values += [100.0 + 10 * day, 200.0 + 10 * day]
    agp = ambulatory_glucose_profile(np.array(times), np.array(values), bin_minutes=15, min_per_bin=3)
    assert len(agp.minute) == 96
    assert agp.percentiles[50][0] == pytest.approx(110.0)
    assert agp.percentiles[5][0] == pytest.approx(101.0)  # linear interpolation: 100 + 0.1 x 10
    assert agp.percentiles[50][48] == pytest.approx(210.0)
    assert np.isnan(agp.percentiles[50][1])
    assert agp.n[0] == 3


def test_agp_rejects_bins_that_do_not_divide_a_day() -> None:
    with pytest.raises(InputError):
        ambulatory_glucose_profile(np.array([T0]), np.array([100.0]), bin_minutes=7)
