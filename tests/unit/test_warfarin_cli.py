"""``carepilot warfarin dose`` and ``carepilot oncology match`` on the command line."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from carepilot.cli.app import app
from carepilot.cli.console import settings


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("CAREPILOT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    settings.cache_clear()
    yield CliRunner()
    settings.cache_clear()


def test_warfarin_dose_json_matches_the_hand_computed_equation(runner):
    result = runner.invoke(
        app,
        [
            "warfarin",
            "dose",
            "--age-decade",
            "6",
            "--height",
            "170",
            "--weight",
            "80",
            "--cyp2c9",
            "*1/*3",
            "--vkorc1",
            "A/G",
            "--race",
            "white",
            "--amiodarone",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = orjson.loads(result.stdout)
    root = 5.6044 - 0.2614 * 6 + 0.0087 * 170 + 0.0128 * 80 - 0.8677 - 0.9357 - 0.5503
    assert payload["algorithm"] == "pharmacogenetic"
    assert payload["weekly_dose_mg"] == pytest.approx(root**2, abs=0.01)


def test_warfarin_dose_without_genotype_says_clinical(runner):
    result = runner.invoke(app, ["warfarin", "dose", "--age", "72", "--height", "160", "--weight", "60"])
    assert result.exit_code == 0, result.output
    assert "clinical algorithm used" in result.stdout
    assert "mg/week" in result.stdout


def test_warfarin_dose_needs_an_age(runner):
    result = runner.invoke(app, ["warfarin", "dose", "--height", "160"])
    assert result.exit_code != 0


def test_oncology_match_json_without_civic(runner):
    result = runner.invoke(
        app, ["oncology", "match", "--variant", "EGFR:L858R", "--tumor", "lung", "--no-civic", "--json"]
    )
    assert result.exit_code == 0, result.output
    [row] = orjson.loads(result.stdout)
    assert row["gene"] == "EGFR" and row["variant"] == "L858R"
    assert [p["therapy"] for p in row["standard_of_care"]] == ["osimertinib"]
