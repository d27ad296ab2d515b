"""``carepilot effects fit|predict|evaluate`` on a small hand-written CSV, and a bad CSV's exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from carepilot.cli import main

pytestmark = pytest.mark.slow


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["carepilot", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _write_csv(path: Path, n: int = 150, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["age,sex,egfr,arm,hba1c_change,p_received"]
    arms = ["sulfonylurea", "sglt2_inhibitor", "dpp4_inhibitor"]
    for i in range(n):
        age = rng.normal(60, 8)
        egfr = rng.normal(70, 12)
        arm = arms[i % 3]
        y = -0.5 - 0.02 * (age - 60) + (-0.7 if arm == "sglt2_inhibitor" else 0.0) + rng.normal(0, 0.2)
        sex = "" if i % 11 == 0 else ("female" if i % 2 else "male")  # some missing text values
        egfr_text = "" if i % 13 == 0 else f"{egfr:.1f}"  # some missing numbers
        lines.append(f"{age:.0f},{sex},{egfr_text},{arm},{y:.3f},0.3333")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_fit_predict_and_evaluate_work_on_a_small_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAREPILOT_HOME", str(tmp_path / "home"))
    data = tmp_path / "d.csv"
    _write_csv(data)
    model = tmp_path / "model.joblib"
    small = ["--learner", "linear_dml", "--trees", "20", "--bootstrap", "5"]
    args = ["effects", "fit", "--csv", str(data), "--treatment", "arm", "--outcome", "hba1c_change"]
    args += ["--covariates", "age,sex,egfr"]
    assert _run(monkeypatch, *args, "--model-out", str(model), "--lower-is-better", "--json", *small) == 0
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["learner"] == "linear_dml"
    assert set(summary["options"]) == {"sulfonylurea", "sglt2_inhibitor", "dpp4_inhibitor"}
    assert (tmp_path / "model.joblib.sha256").is_file()

    new = tmp_path / "new.csv"
    new.write_text("age,sex,egfr\n65,female,50\n52,,\n", encoding="utf-8")
    out = tmp_path / "pred.json"
    assert _run(monkeypatch, "effects", "predict", "--model", str(model), "--csv", str(new), "--json", str(out)) == 0
    capsys.readouterr()  # the predict table
    rows = orjson.loads(out.read_bytes())
    assert len(rows) == 2
    for row in rows:
        assert row["effect_low"] <= row["effect"] <= row["effect_high"]
        assert row["reference"] == "dpp4_inhibitor"  # the first option in sorted order by default
        assert set(row["effects"]) == {"sglt2_inhibitor", "sulfonylurea"}
        assert isinstance(row["overlap_ok"], bool)
    assert rows[0]["best_option"] == "sglt2_inhibitor"  # lower HbA1c is better and SGLT2i lowers it most

    evaluate = ["effects", "evaluate", "--csv", str(data), "--treatment", "arm", "--outcome", "hba1c_change"]
    known = ["--propensity", "p_received", "--covariates", "age,sex,egfr"]
    code = _run(monkeypatch, *evaluate, *known, "--lower-is-better", "--folds", "3", "--json", *small)
    assert code == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["best_single_option"] == "sglt2_inhibitor"
    d = report["learned_minus_best_single"]
    assert d["low"] <= d["difference"] <= d["high"]
    assert "recommend" in report["recommendation"] or "better" in report["recommendation"]


def test_a_bad_csv_gives_a_clear_error_and_a_non_zero_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("age,arm,change\n60,a,high\n61,b,0.2\n", encoding="utf-8")
    code = _run(monkeypatch, "effects", "fit", "--csv", str(bad), "--treatment", "arm", "--outcome", "change")
    assert code == 2
    err = capsys.readouterr().err
    assert "must be numeric" in err and "change" in err
    code = _run(monkeypatch, "effects", "fit", "--csv", str(bad), "--treatment", "drug", "--outcome", "change")
    assert code == 2
    assert "missing column" in capsys.readouterr().err


def test_a_tampered_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "m.joblib"
    model.write_bytes(b"not a model")
    (tmp_path / "m.joblib.sha256").write_text("0" * 64 + "  m.joblib\n", encoding="utf-8")
    new = tmp_path / "new.csv"
    new.write_text("age\n60\n", encoding="utf-8")
    code = _run(
        monkeypatch,
        "effects",
        "predict",
        "--model",
        str(model),
        "--csv",
        str(new),
        "--json",
        str(tmp_path / "o"),
    )
    assert code == 1
