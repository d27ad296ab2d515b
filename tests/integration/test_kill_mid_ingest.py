"""Killing ingest mid-run keeps every committed batch intact, and a re-run completes the rest."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import orjson
import pytest

from tests import samples
from tests.cli import run_json

BATCH = 100
N_OBS = 4000


def _count(db_path, sql):
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_kill_mid_ingest_keeps_committed_batches_and_a_rerun_completes(tmp_path):
    data = tmp_path / "Observation.ndjson"
    with data.open("wb") as fh:
        fh.write(orjson.dumps(samples.patient("p1")) + b"\n")
        for i in range(N_OBS):
            fh.write(orjson.dumps(samples.observation(f"o{i}", "p1", value=5 + (i % 50) / 10)) + b"\n")
    home = tmp_path / "home"
    env = {**os.environ, "CAREPILOT_HOME": str(home), "CAREPILOT_INGEST_BATCH_SIZE": str(BATCH)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "carepilot", "ingest", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db_path = home / "carepilot.db"
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                committed = _count(db_path, "SELECT count(*) FROM resources")
            except sqlite3.OperationalError:
                committed = 0  # schema not created yet
            if committed >= 3 * BATCH:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed; make the input larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    committed = _count(db_path, "SELECT count(*) FROM resources")
    assert 0 < committed < N_OBS + 1
    assert committed % BATCH == 0, "a batch was partially committed"
    assert _count(db_path, "SELECT count(*) FROM observations") == committed - 1  # the patient is not an observation
    assert _count(db_path, "PRAGMA integrity_check") == "ok"

    rerun = run_json(home, "ingest", str(data), extra_env={"CAREPILOT_INGEST_BATCH_SIZE": str(BATCH)})
    assert rerun["unchanged"] == committed
    assert rerun["accepted"] == N_OBS + 1 - committed
    assert _count(db_path, "SELECT count(*) FROM resources") == N_OBS + 1
    assert _count(db_path, "SELECT count(*) FROM resource_history") == N_OBS + 1
