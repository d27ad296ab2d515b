"""Shared fixtures: settings pointing at a temporary home, reference data that skips when absent."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from carepilot.config import Settings, repo_root

REFERENCE_DATA = Path(os.environ.get("CAREPILOT_REFERENCE_DATA", repo_root().parent / "shared" / "data"))


def reference(*parts: str) -> Path:
    """Path inside the shared reference data; skips the calling test with a clear message when absent."""
    path = REFERENCE_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (set CAREPILOT_REFERENCE_DATA to the shared data folder)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", reference_data=REFERENCE_DATA)


# -- PHI never in logs: every log record of the whole run is searched for the canary patient's identifiers ---------
# The canary is synthetic; tests/integration/test_phi_logs.py ingests it and drives it through the CLI, the API and
# the CDS hooks. Resource ids may be logged (ids and counts only); names, birth dates and identifiers may not.
PHI_CANARY = {
    "id": "canary-7f3a",
    "family": "Canaryvale",
    "given": "Wrenfield",
    "birth_date": "1947-08-19",
    "mrn": "MRN-CANARY-5521",
    "ssn": "987-65-4329",
    "phone": "555-019-7731",
    "street": "41 Larkspur Row",
}
PHI_NEEDLES = tuple(PHI_CANARY[k] for k in ("family", "given", "birth_date", "mrn", "ssn", "phone", "street"))


class PhiLogCollector(logging.Handler):
    """Collects every log record of the run (logger name and message) and the ones that hold a canary value."""

    def __init__(self, needles: tuple[str, ...]) -> None:
        super().__init__(level=logging.NOTSET)
        self.needles = tuple(n.lower() for n in needles)
        self.records: list[tuple[str, str]] = []
        self.hits: list[tuple[str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a malformed format string still has its parts searched
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.records.append((record.name, text))
        lowered = text.lower()
        for needle in self.needles:
            if needle in lowered:
                self.hits.append((record.name, needle, text[:300]))


PHI_LOGS = PhiLogCollector(PHI_NEEDLES)
PHI_CHECK_TEST = "test_no_log_record_of_the_whole_run_holds_the_canary_patients_identifiers"


@pytest.fixture(scope="session", autouse=True)
def phi_log_collector() -> Iterator[PhiLogCollector]:
    """Attach the collector to the root logger for the whole run, at INFO (what a deployment would log)."""
    root = logging.getLogger()
    level = root.level
    root.addHandler(PHI_LOGS)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    # SQLAlchemy logs every statement at INFO; its parameters are hidden (Database sets hide_parameters), and a
    # test checks that, so the statements themselves are left out here to keep the run fast.
    sql = logging.getLogger("sqlalchemy")
    sql_level = sql.level
    sql.setLevel(logging.WARNING)
    yield PHI_LOGS
    sql.setLevel(sql_level)
    root.removeHandler(PHI_LOGS)
    root.setLevel(level)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the whole-run PHI log check after every other test."""
    last = [i for i in items if i.name == PHI_CHECK_TEST]
    items[:] = [i for i in items if i.name != PHI_CHECK_TEST] + last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a canary value reached any log record, even one written after the check ran."""
    if PHI_LOGS.hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        sys.stderr.write(f"\nPHI in logs: {len(PHI_LOGS.hits)} records hold canary values, e.g. {PHI_LOGS.hits[:3]}\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The phi-logs figure: how many log records the run wrote and how many hold a canary value."""
    terminalreporter.write_line(
        f"phi-logs: {len(PHI_LOGS.records)} log records searched, {len(PHI_LOGS.hits)} hold canary values"
    )
