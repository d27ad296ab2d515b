"""Post-hoc calibration: it fixes the level of risk and never reorders patients."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from carepilot.errors import ModelError
from carepilot.models.calibration import choose_calibration, fit_calibrator


def test_platt_scaling_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.05, 0.6, 4000)
    y = (rng.random(4000) < truth).astype(int)
    raw = expit(2.0 * logit(truth) + 0.5)  # over-confident and too high
    cal = fit_calibrator(raw, y, "sigmoid")
    assert cal.mapping.coef_[0, 0] == pytest.approx(0.5, abs=0.08)
    assert np.mean(np.abs(cal.predict(raw) - truth)) < 0.03


def test_a_platt_fit_that_would_invert_the_ranking_keeps_it_and_shifts_the_level_only():
    # A small calibration split where, by chance, higher raw risk went with fewer events: an unconstrained
    # Platt fit has a negative slope and would turn a useful model upside down.
    raw = np.linspace(0.05, 0.5, 40)
    y = (raw < 0.2).astype(int)
    cal = fit_calibrator(raw, y, "sigmoid")
    out = cal.predict(raw)
    assert spearmanr(raw, out).statistic == pytest.approx(1.0)
    assert roc_auc_score(y, out) == pytest.approx(roc_auc_score(y, raw))
    assert np.mean(out) == pytest.approx(np.mean(y), abs=0.05)  # calibration-in-the-large still fitted


def test_the_chosen_method_preserves_order_on_noisy_small_splits():
    rng = np.random.default_rng(3)
    for _ in range(20):
        raw = rng.uniform(0.02, 0.6, 50)
        y = (rng.random(50) < 0.2).astype(int)
        if y.min() == y.max():
            continue
        out = choose_calibration(raw, y, random_state=1).calibrator.predict(raw)
        order = np.argsort(raw)
        assert np.all(np.diff(out[order]) >= -1e-12)


def test_a_single_outcome_class_cannot_be_calibrated():
    with pytest.raises(ModelError):
        fit_calibrator(np.array([0.1, 0.2]), np.array([0, 0]), "sigmoid")
