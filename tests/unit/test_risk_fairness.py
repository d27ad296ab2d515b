"""Subgroup metrics with Fairlearn: per-group values and the largest gap, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carepilot.errors import InputError
from carepilot.models.fairness import subgroup_markdown, subgroup_metrics


def test_subgroup_values_and_gaps_match_hand_computation() -> None:
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.1, 0.2, 0.1, 0.9, 0.8, 0.7, 0.6])
    sex = pd.DataFrame({"sex": ["F"] * 4 + ["M"] * 4})
    (report,) = subgroup_metrics(y, p, sex, threshold=0.5, min_group=2, min_events=1)
    f, m = report.table.loc["F"], report.table.loc["M"]
    assert f["n"] == 4 and f["events"] == 2
    assert f["fnr"] == pytest.approx(0.5)  # one of two events below 0.5
    assert m["fnr"] == pytest.approx(0.0)
    assert f["calibration_in_the_large"] == pytest.approx(0.5 - 0.325)
    assert m["calibration_in_the_large"] == pytest.approx(0.5 - 0.75)
    # F pairs (event vs non-event): 0.9>0.2, 0.9>0.1, 0.1<0.2, 0.1=0.1 (half) -> 2.5 / 4
    assert f["auroc"] == pytest.approx(0.625) and m["auroc"] == pytest.approx(1.0)
    assert report.largest_gap["fnr"] == pytest.approx(0.5)
    assert report.largest_gap["calibration_in_the_large"] == pytest.approx(0.425)
    assert report.largest_gap["auroc"] == pytest.approx(0.375)


def test_small_groups_report_no_auroc_and_missing_values_form_a_group() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    p = rng.random(100)
    race = pd.DataFrame({"race": ["A"] * 90 + [None] * 10})
    (report,) = subgroup_metrics(y, p, race, min_group=30)
    assert set(report.table.index) == {"A", "missing"}
    assert np.isnan(report.table.loc["missing", "auroc"])
    assert "| race | missing |" in subgroup_markdown([report])
    assert report.to_dict()["groups"][1]["auroc"] is None


def test_largest_gap_ignores_groups_below_the_minimum_size() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 203)
    p = np.clip(y * 0.3 + 0.35, 0, 1)
    p[-3:] = 0.99  # three patients with an unrecorded sex, badly over-predicted
    sex = pd.DataFrame({"sex": ["F"] * 100 + ["M"] * 100 + [None] * 3})
    (report,) = subgroup_metrics(y, p, sex, min_group=30)
    assert report.table.loc["missing", "calibration_in_the_large"] < -0.3
    assert report.largest_gap["calibration_in_the_large"] < 0.1


def test_mismatched_lengths_are_an_input_error() -> None:
    with pytest.raises(InputError, match="differ in length"):
        subgroup_metrics([0, 1], [0.1, 0.2], pd.DataFrame({"sex": ["F"]}))
