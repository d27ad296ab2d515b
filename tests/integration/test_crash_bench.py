"""kill -9 of the server during concurrent hook, feedback and ingest writes loses no acknowledged write."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from tests.integration.conftest import PG_URL, _reset_postgres


def crash(tmp_path, *options: str) -> dict:
    out = tmp_path / "crash.json"
    env = {**os.environ, "CAREPILOT_HOME": str(tmp_path / "home")}
    args = [sys.executable, "-m", "carepilot", "bench", "crash", "--json", str(out)]
    for option in options:
        args += ["-o", option]
    done = subprocess.run(args, env=env, capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return orjson.loads(out.read_bytes())["metrics"]


def check(metrics: dict, cycles: int) -> None:
    assert metrics["cycles"] == cycles
    assert metrics["acknowledged_ingest_resources"] > 0, "no write was acknowledged: the run tested nothing"
    assert metrics["lost"] == 0, metrics["lost_by_kind"]
    assert metrics["integrity_failures"] == 0
    assert metrics["audit_chain_breaks"] == 0


@pytest.mark.slow
def test_no_acknowledged_write_is_lost_when_the_server_is_killed_on_sqlite(tmp_path):
    check(crash(tmp_path, "cycles=3", "max_ms=2000"), 3)


@pytest.mark.slow
@pytest.mark.postgres
def test_no_acknowledged_write_is_lost_when_the_server_is_killed_on_postgresql(tmp_path):
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (set CAREPILOT_TEST_DATABASE_URL); CI sets it")
    _reset_postgres(PG_URL)
    check(crash(tmp_path, "cycles=3", "max_ms=2000", "db=postgresql", f"url={PG_URL}"), 3)
