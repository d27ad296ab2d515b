"""A short run of the ``fuzz-api`` benchmark: schemathesis cases against every operation, no 5xx and no crash."""

from __future__ import annotations

import pytest

from carepilot.bench import run_benchmark

pytestmark = pytest.mark.slow


def test_a_few_hundred_generated_cases_get_no_server_error(settings):
    report = run_benchmark("fuzz-api", settings, {"cases": "250", "seed": "7"})
    metrics = report.metrics
    assert metrics["cases"] >= 250
    assert metrics["server_errors"] == 0 and metrics["crashes"] == 0, metrics["failures"]
    # Every operation of the OpenAPI document was exercised, and the handlers (not only the auth check) answered.
    assert len(metrics["cases_per_operation"]) >= 10
    assert metrics["status_counts"].get("200", 0) >= 1 and metrics["status_counts"].get("400", 0) >= 1
