"""The readmission and GBSG2 benchmarks run end to end on a quick setting and report honest JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carepilot.bench import run_benchmark
from carepilot.config import Settings
from tests.conftest import reference

pytestmark = pytest.mark.slow


def test_readmission_quick_run_reports_both_models_and_subgroups(settings: Settings, tmp_path: Path) -> None:
    reference("diabetes130", "diabetic_data.csv")
    report = run_benchmark("readmission", settings, {"sample": "5000", "folds": "2", "plots": str(tmp_path / "img")})
    data = json.loads(report.to_json())
    assert data["benchmark"] == "readmission"
    assert 4000 <= data["n"] <= 5000
    m = data["metrics"]
    for model in ("logistic", "lightgbm"):
        for key in ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept", "auroc_sd"):
            assert isinstance(m[model][key], float), (model, key)
        assert len(m[model]["auroc_folds"]) == 2
        assert 0.55 < m[model]["auroc"] < 0.8  # real signal, far from perfect
    assert m["auroc"] == m["lightgbm"]["auroc"]
    assert isinstance(m["target_met"], bool)
    assert {s["attribute"] for s in m["subgroups"]} == {"sex", "race", "age_band"}
    assert "L2 logistic, patient-grouped CV" in data["baselines"]
    assert (tmp_path / "img" / "readmission_calibration.png").is_file()


def test_readmission_benchmark_without_data_is_a_clear_error(tmp_path: Path) -> None:
    from carepilot.errors import BenchmarkError

    empty = Settings(home=tmp_path / "home", reference_data=tmp_path / "nothing")
    with pytest.raises(BenchmarkError, match="reference data not found"):
        run_benchmark("readmission", empty, {"sample": "100"})


def test_gbsg2_quick_run_reports_c_index_and_integrated_brier(settings: Settings) -> None:
    report = run_benchmark("gbsg2", settings, {"repeats": "1", "folds": "3"})
    m = json.loads(report.to_json())["metrics"]
    assert report.n == 686
    for model in ("cox", "rsf", "gbsa"):
        assert 0.6 < m[model]["c_index"] < 0.8
        assert 0.1 < m[model]["integrated_brier"] < 0.25
        assert m[model]["c_index_sd"] >= 0.0
    assert "cox_rsf_blend" in m
    assert m["c_index"] == m["rsf"]["c_index"]
