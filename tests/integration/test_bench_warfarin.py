"""The warfarin benchmark in quick mode on the IWPC data (skipped when the shared data is absent)."""

from __future__ import annotations

import pytest

from carepilot.bench import run_benchmark
from tests.conftest import reference


@pytest.mark.slow
def test_quick_warfarin_benchmark_reports_model_and_baselines_on_the_same_folds(settings):
    reference("iwpc_warfarin", "warfarin.csv")
    report = run_benchmark("warfarin", settings, {"quick": "1"})
    assert report.n == 5127
    for key in ("mae", "within_20pct", "band_accuracy", "interval_coverage"):
        assert key in report.metrics
    pg = report.baselines["IWPC pharmacogenetic (this CV)"]
    clinical = report.baselines["IWPC clinical (this CV)"]
    fixed = report.baselines["fixed 35 mg/week (this CV)"]
    # The built-in IWPC equations reproduce their published ordering on this cohort.
    assert pg["mae"] < clinical["mae"] < fixed["mae"]
    assert 7.5 < pg["mae"] < 9.5
    assert report.metrics["mae"] < fixed["mae"]
    assert 0.7 < report.metrics["interval_coverage"] < 0.9
    assert report.baselines["IWPC pharmacogenetic (published, NEJM 2009)"]["mae"] == 8.8
