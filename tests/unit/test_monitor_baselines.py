"""Personal baselines: robust z-scores, weight gain, pooled CV, CUSUM, quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from carepilot.monitoring.baselines import (
    MAD_TO_SD,
    Cusum,
    compare_to_baseline,
    fit_baseline,
    pooled_cv,
    quantile,
    weight_gain,
)


def test_robust_baseline_uses_median_and_scaled_mad() -> None:
    history = [60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73]  # median 66.5, MAD 3.5
    cmp = compare_to_baseline(history, 80.0)
    assert cmp is not None
    assert cmp.center == pytest.approx(66.5)
    assert cmp.scale == pytest.approx(3.5 * MAD_TO_SD)
    assert cmp.z == pytest.approx((80 - 66.5) / (3.5 * 1.4826))
    assert cmp.delta == pytest.approx(13.5)


def test_one_wild_day_moves_the_robust_baseline_far_less_than_the_mean() -> None:
    history = [60.0] * 7 + [61.0] * 7 + [150.0]
    robust = fit_baseline(history)
    mean = fit_baseline(history, method="mean")
    assert robust is not None and mean is not None
    assert robust.center == 61.0
    assert mean.center > 65.0


def test_too_few_days_gives_no_baseline_and_a_floor_bounds_the_scale() -> None:
    assert compare_to_baseline([60.0] * 13, 70.0) is None
    cmp = compare_to_baseline([60.0] * 14, 62.0, scale_floor=2.0)
    assert cmp is not None and cmp.z == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fit_baseline([1.0] * 20, method="mode")


def test_weight_gain_against_the_lowest_weight_in_the_window() -> None:
    day = 86_400.0
    earlier = [(0.0, 80.0), (1 * day, 79.5), (2 * day, 80.4), (3 * day, 81.0)]
    gain, since = weight_gain(earlier, 4 * day, 81.6, days=3.0)  # type: ignore[misc]
    assert gain == pytest.approx(81.6 - 79.5)
    assert since == 1 * day
    assert weight_gain([(0.0, 80.0)], 4 * day, 90.0) is None  # nothing within 3 days


def test_pooled_cv_from_daily_sums_equals_the_cv_of_all_values() -> None:
    rng = np.random.default_rng(0)
    days = [rng.normal(150, 40, 288) for _ in range(5)]
    cv = pooled_cv([len(d) for d in days], [d.sum() for d in days], [(d * d).sum() for d in days])
    every = np.concatenate(days)
    assert cv == pytest.approx(every.std(ddof=1) / every.mean())
    assert pooled_cv([1], [100.0], [10_000.0]) is None


def test_cusum_alarms_on_a_sustained_shift_not_on_noise() -> None:
    rng = np.random.default_rng(1)
    quiet = Cusum(k=0.5, h=5.0)
    assert not any(quiet.update(z) for z in rng.normal(0, 1, 60))
    shifted = Cusum(k=0.5, h=5.0)
    alarms = [shifted.update(z) for z in rng.normal(1.5, 1, 20)]
    assert any(alarms)
    first = alarms.index(True)
    assert 2 <= first <= 12
    assert shifted.alarm_run >= 3
    falling = Cusum(direction=-1)
    assert any(falling.update(-2.0) for _ in range(5))
    with pytest.raises(ValueError):
        Cusum(direction=0)


@pytest.mark.parametrize("q", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_quantile_matches_numpy_percentile(q: float) -> None:
    values = np.random.default_rng(2).normal(70, 10, 100)  # even length: interpolates
    assert quantile(values.copy(), q) == pytest.approx(np.percentile(values, q * 100))
    assert np.isnan(quantile(np.array([]), 0.5))
