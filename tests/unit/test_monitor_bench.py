"""The ``stream`` benchmark runs standalone on its generated stream and reports every metric."""

from __future__ import annotations

import pytest

from carepilot.bench import run_benchmark
from carepilot.config import Settings


@pytest.mark.slow
def test_stream_benchmark_runs_on_its_own_generated_stream(settings: Settings) -> None:
    report = run_benchmark("stream", settings, {"patients": "4", "days": "24", "seed": "3"})
    m = report.metrics
    for key in (
        "readings_per_s",
        "ratio_vs_parse",
        "alert_latency_ms_p99",
        "sensitivity",
        "alerts_per_patient_week",
        "median_lead_hours",
    ):
        assert key in m
    assert m["readings_per_s"] > 0
    assert m["ratio_vs_parse"] > 0
    assert m["rejected"].get("unknown_type", 0) + m["rejected"].get("implausible_value", 0) > 0
    assert any("generated" in note for note in report.notes)
    assert report.dataset == "generated"
    # The HTTP path posted the same kind of readings to a server process and had them stored.
    assert m["http_readings_per_s"] > 0 and 0 < m["http_accepted"] <= m["http_readings"]
    assert m["http_requests"] >= m["http_patients"] >= 1
