"""The IHDP and ACTG 175 benchmarks run end to end on reduced settings and report consistent numbers."""

from __future__ import annotations

import orjson
import pytest

from carepilot.bench import run_benchmark
from carepilot.config import Settings
from tests.conftest import reference

pytestmark = pytest.mark.slow


def test_ihdp_benchmark_reports_pehe_coverage_candidates_and_selection(settings: Settings) -> None:
    reference("ihdp", "ihdp_npci_1.csv")
    report = run_benchmark(
        "ihdp", settings, {"realizations": "1", "bootstrap": "10", "trees": "100", "forest_trees": "40"}
    )
    m = report.metrics
    for key in ("sqrt_pehe_in", "sqrt_pehe_out", "ate_error_in", "ate_error_out", "interval_coverage"):
        assert key in m and f"{key}_sd" in m
    assert 0.0 <= m["interval_coverage"] <= 1.0
    assert m["selected"]["1"] in m["candidates"]
    # Even one realisation should land well below BART's published 2.3 out-of-sample.
    assert m["sqrt_pehe_out"] < 2.3
    assert "CFR-WASS (Shalit 2017, Table 1)" in report.baselines
    assert any("target sqrt_pehe_out" in note for note in report.notes)
    orjson.loads(report.to_json())


def test_actg175_benchmark_reports_the_rule_against_the_best_arm(settings: Settings) -> None:
    report = run_benchmark("actg175", settings, {"folds": "2", "trees": "40", "forest_trees": "40"})
    m = report.metrics
    assert report.n == 2139
    assert m["difference_ci_low"] <= m["difference"] <= m["difference_ci_high"]
    assert m["best_arm"] == "ZDV+ddI"  # the trial's best arm by its own numbers
    assert abs(m["best_arm_value"] - 403.2) < 10  # AIPW with known propensities sits near the arm mean
    if m["difference_ci_low"] > 0:
        assert m["beats_best_arm"]
    else:
        assert not m["beats_best_arm"] and "ZDV+ddI" in m["recommendation"]
