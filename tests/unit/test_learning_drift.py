"""PSI and missingness drift against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carepilot.errors import InputError
from carepilot.learning.drift import FeatureReference, feature_drift, merged_groups, psi, reference_of


def test_psi_matches_a_hand_computed_example():
    # (0.3-0.25)ln(0.3/0.25) + (0.2-0.25)ln(0.2/0.25) + (0.25-0.25)*0 + (0.25-0.25)*0
    expected = 0.05 * math.log(1.2) + (-0.05) * math.log(0.8)
    assert psi([0.25, 0.25, 0.25, 0.25], [0.3, 0.2, 0.25, 0.25]) == pytest.approx(expected)
    assert expected == pytest.approx(0.020273, abs=1e-6)


def test_psi_is_zero_for_identical_shares_and_finite_for_empty_bins():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert np.isfinite(psi([0.5, 0.5], [1.0, 0.0]))
    with pytest.raises(InputError):
        psi([0.5, 0.5], [1.0])


def test_feature_drift_counts_missing_values_as_their_own_bin():
    ref = FeatureReference("x", edges=(1.0,), shares=(0.5, 0.5), missing=0.0)
    # now: one of four missing, the others split 2 below / 1 above the edge (40 rows: no bin needs merging)
    drift = feature_drift(ref, [0.5, 0.7, 3.0, float("nan")] * 10)
    expected = psi([0.5, 0.5, 0.0], [0.5, 0.25, 0.25])
    assert drift.psi == pytest.approx(expected)
    assert drift.missing_change == pytest.approx(0.25)


def test_a_unit_change_is_a_large_psi_and_resampling_is_small():
    rng = np.random.default_rng(0)
    creatinine = rng.lognormal(0.0, 0.3, 5000)  # mg/dL
    ref = reference_of("creatinine", creatinine)
    assert feature_drift(ref, rng.lognormal(0.0, 0.3, 2000)).psi < 0.05
    assert feature_drift(ref, 88.4 * rng.lognormal(0.0, 0.3, 2000)).psi > 1.0  # µmol/L read as mg/dL


def test_sparse_bins_are_merged_until_each_expects_five_rows():
    assert merged_groups([0.1] * 10, n=100) == [[i] for i in range(10)]
    assert merged_groups([0.1] * 10, n=25) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert merged_groups([0.1] * 10, n=20) == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]  # the short tail joins
    ref = reference_of("x", np.arange(1000.0))
    many = feature_drift(ref, np.arange(0.0, 1000.0, 5.0))  # 200 rows: ten bins
    few = feature_drift(ref, np.arange(0.0, 1000.0, 50.0))  # 20 rows: bins merged in threes (six expected)
    assert many.bins == 10 and few.bins == 3  # no missing values in the reference, so no missing bin
