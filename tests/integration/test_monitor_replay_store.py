"""``carepilot monitor replay DIR --store`` writes readings and alerts into the store for the patients it knows."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from carepilot.bootstrap import open_store
from carepilot.cli.app import app
from carepilot.config import Settings
from carepilot.ingest.pipeline import Ingestor
from carepilot.store.readings import ReadingRepository
from tests import samples as s
from tests.cds_support import dump
from tests.unit.test_monitor_cli import _population


def test_replay_with_store_writes_known_patients_readings_and_alerts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    _, repo = open_store(settings)
    Ingestor(repo, "test").ingest([dump(tmp_path / "p.json", s.bundle([s.patient("syn-1")]))])
    (tmp_path / "pop").mkdir()
    root = _population(tmp_path / "pop")
    result = CliRunner().invoke(
        app, ["monitor", "replay", str(root), "--store", "--json"], env={"CAREPILOT_HOME": str(home)}
    )
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["store"]["patients"] == 1 and out["store"]["unknown_patients"] == 1
    db, _ = open_store(settings)
    readings = ReadingRepository(db)
    assert readings.count("syn-1") == out["store"]["readings"] == 24 * 48
    assert readings.count("syn-2") == 0
    stored = readings.alerts("syn-1")
    assert len(stored) == out["store"]["alerts"] >= 1 and all(a.status == "open" for a in stored)
