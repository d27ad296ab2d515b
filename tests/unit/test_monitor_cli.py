"""``carepilot monitor``: cgm-metrics, news2 and replay from the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

from carepilot.cli.app import app

runner = CliRunner()
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _cgm_file(tmp_path: Path, values: list[float]) -> Path:
    rows = [
        {
            "type": "cgm_glucose",
            "value": v,
            "unit": "mg/dL",
            "time": (T0 + timedelta(minutes=5 * i)).isoformat(),
        }
        for i, v in enumerate(values)
    ]
    rows.append({"type": "cgm_glucose", "value": 120.0, "unit": "mg/dL", "time": "2026-03-01T00:00:00"})
    path = tmp_path / "cgm.json"
    path.write_bytes(orjson.dumps(rows))
    return path


def test_cgm_metrics_json_has_the_consensus_keys_as_fractions(tmp_path: Path) -> None:
    path = _cgm_file(tmp_path, [50.0, 60.0, 100.0, 150.0, 200.0, 300.0])
    result = runner.invoke(app, ["monitor", "cgm-metrics", "--readings", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    for key in (
        "gmi",
        "mean_glucose",
        "cv",
        "time_below_54",
        "time_54_69",
        "time_in_range",
        "time_181_250",
        "time_above_250",
        "data_sufficiency",
    ):
        assert key in out
    assert out["mean_glucose"] == pytest.approx(860 / 6)
    assert out["time_in_range"] == pytest.approx(2 / 6)
    for key in ("cv", "time_below_54", "time_in_range", "data_sufficiency"):
        assert 0.0 <= out[key] <= 1.0
    assert out["rejected"] == 1
    assert out["rejected_reasons"] == {"naive_timestamp": 1}


def test_cgm_metrics_table_and_agp_png(tmp_path: Path) -> None:
    values = (120 + 40 * np.sin(np.arange(288 * 3) / 40)).tolist()
    path = _cgm_file(tmp_path, values)
    png = tmp_path / "agp.png"
    result = runner.invoke(app, ["monitor", "cgm-metrics", "--readings", str(path), "--agp", str(png)])
    assert result.exit_code == 0, result.output
    assert "time in range" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cgm_metrics_without_cgm_readings_or_with_bad_json_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "hr.json"
    path.write_bytes(orjson.dumps([{"type": "heart_rate", "value": 60, "unit": "/min", "time": T0.isoformat()}]))
    result = runner.invoke(app, ["monitor", "cgm-metrics", "--readings", str(path)])
    assert result.exit_code == 2 and "error" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["monitor", "cgm-metrics", "--readings", str(bad)])
    assert result.exit_code == 2 and "bad.json" in result.stderr
    obj = tmp_path / "obj.json"
    obj.write_text('{"type": "cgm_glucose"}')
    result = runner.invoke(app, ["monitor", "cgm-metrics", "--readings", str(obj)])
    assert result.exit_code == 2 and "error" in result.stderr


def test_cgm_metrics_refuses_a_file_mixing_patients(tmp_path: Path) -> None:
    rows = [
        {"patient_id": pid, "type": "cgm_glucose", "value": 120, "unit": "mg/dL", "time": T0.isoformat()}
        for pid in ("syn-1", "syn-2")
    ]
    path = tmp_path / "mixed.json"
    path.write_bytes(orjson.dumps(rows))
    result = runner.invoke(app, ["monitor", "cgm-metrics", "--readings", str(path)])
    assert result.exit_code == 2
    assert "2 patients" in result.stderr


def test_news2_json() -> None:
    args = [
        "monitor",
        "news2",
        "--rr",
        "22",
        "--spo2",
        "95",
        "--sbp",
        "105",
        "--hr",
        "115",
        "--temp",
        "38.5",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    # RR 22 -> 2, SpO2 95 -> 1, SBP 105 -> 1, pulse 115 -> 2, temp 38.5 -> 1, air 0, alert 0
    assert out["score"] == 7
    assert out["risk"] == "high"
    assert out["parameters"]["pulse"] == 2


def test_news2_rejects_an_unknown_consciousness_level() -> None:
    args = [
        "monitor",
        "news2",
        "--rr",
        "16",
        "--spo2",
        "97",
        "--sbp",
        "120",
        "--hr",
        "70",
        "--temp",
        "37",
        "--consciousness",
        "X",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "consciousness" in result.stderr.lower()


def _population(tmp_path: Path) -> Path:
    rng = np.random.default_rng(4)
    rows = []
    for pid, rise in (("syn-1", True), ("syn-2", False)):
        for i in range(24 * 48):
            when = T0 + timedelta(minutes=30 * i)
            value = 60 + (10 if 7 <= when.hour < 23 else 0) + rng.normal(0, 3) + (15 if rise and i >= 21 * 48 else 0)
            rows.append((pid, "heart_rate", when, round(value), "/min", "watch"))
    frame = pd.DataFrame(rows, columns=["patient_id", "type", "time", "value", "unit", "device"])
    (tmp_path / "streams").mkdir()
    (tmp_path / "truth").mkdir()
    frame.to_parquet(tmp_path / "streams" / "readings.parquet")
    truth = pd.DataFrame(
        {
            "patient_id": ["syn-1"],
            "drift_start": [T0 + timedelta(days=21)],
            "event_time": [T0 + timedelta(days=24)],
        }
    )
    truth.to_parquet(tmp_path / "truth" / "deterioration.parquet")
    return tmp_path


def test_replay_reports_sensitivity_burden_and_lead_time(tmp_path: Path) -> None:
    root = _population(tmp_path)
    result = runner.invoke(app, ["monitor", "replay", str(root), "--json"])
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["patients"] == 2
    assert out["events"] == 1
    assert out["sensitivity"] == 1.0
    assert out["observable_events"] == 1
    assert out["sensitivity_observable"] == 1.0
    assert 0 < out["median_lead_hours"] <= 72
    assert out["alerts_per_patient_week"] > 0
    assert out["ppv"] == 1.0


def test_replay_of_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["monitor", "replay", str(tmp_path)])
    assert result.exit_code == 2 and "error" in result.stderr
