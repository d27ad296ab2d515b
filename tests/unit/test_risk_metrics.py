"""Metrics against hand-computed values and calibration behaviour on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from carepilot.errors import InputError
from carepilot.models.metrics import (
    auroc_standard_error,
    binary_metrics,
    calibration_slope_intercept,
    net_benefit,
    net_benefit_treat_all,
)


def test_auroc_and_brier_match_hand_computation() -> None:
    y = [0, 0, 1, 1]
    p = [0.1, 0.4, 0.35, 0.8]
    m = binary_metrics(y, p, thresholds=(0.5,))
    # 4 positive/negative pairs, 3 ordered correctly.
    assert m["auroc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["prevalence"] == pytest.approx(0.5)


def test_net_benefit_matches_vickers_formula_by_hand() -> None:
    y = [1, 1, 0, 0, 0]
    p = [0.9, 0.3, 0.6, 0.1, 0.05]
    # t=0.5: treat rows 0 (TP) and 2 (FP): 1/5 - 1/5 * 0.5/0.5
    assert net_benefit(y, p, 0.5) == pytest.approx(0.0)
    # t=0.2: treat rows 0, 1 (TP) and 2 (FP): 2/5 - 1/5 * 0.2/0.8
    assert net_benefit(y, p, 0.2) == pytest.approx(0.35)
    assert net_benefit_treat_all(y, 0.2) == pytest.approx(0.4 - 0.6 * 0.25)


def _calibrated_sample(n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    y = (rng.random(n) < p).astype(int)
    return y, p


def test_calibration_slope_is_one_on_perfectly_calibrated_data() -> None:
    y, p = _calibrated_sample()
    recal = calibration_slope_intercept(y, p)
    assert recal.slope == pytest.approx(1.0, abs=0.06)
    assert recal.intercept == pytest.approx(0.0, abs=0.05)


def test_calibration_slope_falls_below_one_when_predictions_are_over_confident() -> None:
    y, p = _calibrated_sample()
    over = expit(2.0 * logit(p))  # log-odds doubled: too extreme
    recal = calibration_slope_intercept(y, over)
    assert recal.slope == pytest.approx(0.5, abs=0.05)


def test_calibration_intercept_detects_systematic_underestimation() -> None:
    y, p = _calibrated_sample()
    under = expit(logit(p) - 1.0)
    assert calibration_slope_intercept(y, under).intercept == pytest.approx(1.0, abs=0.07)


def test_calibration_slope_agrees_with_unpenalised_logistic_regression() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.6, 3000)
    y = (rng.random(3000) < expit(0.3 + 0.7 * logit(p))).astype(int)
    lp = logit(p).reshape(-1, 1)
    reference = LogisticRegression(C=np.inf).fit(lp, y).coef_[0, 0]
    assert calibration_slope_intercept(y, p).slope == pytest.approx(reference, rel=1e-4)


def test_recalibration_standard_errors_match_a_statsmodels_logit_fit() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.6, 800)
    y = (rng.random(800) < expit(0.2 + 0.8 * logit(p))).astype(int)
    fit = sm.Logit(y, sm.add_constant(logit(p))).fit(disp=0)
    recal = calibration_slope_intercept(y, p)
    assert recal.slope_se == pytest.approx(fit.bse[1], rel=1e-3)
    offset_fit = sm.GLM(y, np.ones((800, 1)), family=sm.families.Binomial(), offset=logit(p)).fit()
    assert recal.intercept_se == pytest.approx(offset_fit.bse[0], rel=1e-3)


def test_auroc_standard_error_matches_hanley_and_mcneil_by_hand() -> None:
    # A = 0.8, 50 events, 50 non-events: Q1 = 0.8/1.2, Q2 = 1.28/1.8 (Hanley & McNeil 1982, eq. 2).
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    by_hand = np.sqrt((0.8 * 0.2 + 49 * (q1 - 0.64) + 49 * (q2 - 0.64)) / 2500)
    assert auroc_standard_error(0.8, 50, 50) == pytest.approx(by_hand, rel=1e-9)
    assert auroc_standard_error(0.8, 500, 500) < auroc_standard_error(0.8, 50, 50)
    assert np.isnan(auroc_standard_error(0.8, 0, 50))


@pytest.mark.parametrize(
    ("y", "p"),
    [([0, 1], [0.2]), ([0, 2], [0.1, 0.2]), ([0, 1], [0.1, 1.5]), ([0, 1], [np.nan, 0.2]), ([], [])],
)
def test_bad_metric_input_raises_input_error(y: list[float], p: list[float]) -> None:
    with pytest.raises(InputError):
        calibration_slope_intercept(y, p)


def test_net_benefit_rejects_threshold_outside_unit_interval() -> None:
    with pytest.raises(InputError, match="threshold"):
        net_benefit([0, 1], [0.1, 0.9], 1.0)
