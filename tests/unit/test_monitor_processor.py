"""Stream processor: personal-baseline rules, ordering, duplicates, late and bad readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carepilot.domain.insight import InsightKind, Severity
from carepilot.errors import ConfigurationError
from carepilot.monitoring.alerts import RiskTier
from carepilot.monitoring.processor import PatientContext, StreamProcessor
from carepilot.monitoring.readings import Reason

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _r(kind: str, when: datetime, value: float, unit: str) -> dict[str, object]:
    return {"type": kind, "time": when.isoformat(), "value": value, "unit": unit}


def _heart_rate(days: int, *, rise_from_day: int | None = None, rise: float = 15.0, seed: int = 1) -> list[dict]:
    """Every 30 minutes: resting 60 bpm at night, 70 by day, +-3 bpm noise; optionally a rise at the end."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days * 48):
        when = T0 + timedelta(minutes=30 * i)
        value = 60.0 + (10.0 if 7 <= when.hour < 23 else 0.0) + rng.normal(0, 3)
        if rise_from_day is not None and i >= rise_from_day * 48:
            value += rise
        rows.append(_r("heart_rate", when, round(value), "/min"))
    return rows


def test_resting_heart_rate_rise_raises_an_explained_alert() -> None:
    proc = StreamProcessor()
    alerts = proc.process("p1", _heart_rate(24, rise_from_day=21))
    assert alerts, "a 15 bpm rise over a steady 21-day baseline must alert"
    first = alerts[0]
    assert first.rule == "resting_hr"
    assert first.insight.kind is InsightKind.MONITORING_ALERT
    assert first.triggered_at >= T0 + timedelta(days=21)
    assert first.triggered_at < T0 + timedelta(days=23)
    phrase = first.insight.explanation[0].phrase
    assert "bpm above your 28-day baseline" in phrase
    assert first.insight.source.id == "monitor.resting-hr-baseline"
    assert first.insight.source.version
    assert any("Mishra" in e.citation for e in first.insight.evidence)
    assert "not a calibrated probability" in first.insight.confidence.statement


def test_the_alert_time_is_the_triggering_readings_time() -> None:
    rows = _heart_rate(24, rise_from_day=21)
    alerts = StreamProcessor().process("p1", rows)
    times = {datetime.fromisoformat(str(r["time"])) for r in rows}
    assert alerts and all(a.triggered_at in times for a in alerts)


def test_a_steady_patient_raises_nothing() -> None:
    proc = StreamProcessor()
    assert proc.process("p1", _heart_rate(30)) == []
    assert proc.policy.outcomes.total() == 0


def test_no_alert_without_enough_baseline_days() -> None:
    # A rise on day 6: at most 5 closed baseline days, fewer than the 7 the rule needs.
    assert StreamProcessor().process("p1", _heart_rate(8, rise_from_day=6)) == []


def test_out_of_order_batch_gives_the_same_alerts_as_in_order() -> None:
    rows = _heart_rate(24, rise_from_day=21)
    shuffled = [rows[i] for i in np.random.default_rng(3).permutation(len(rows))]
    ordered = StreamProcessor().process("p1", rows)
    mixed = StreamProcessor().process("p1", shuffled)
    assert [(a.rule, a.triggered_at, a.severity) for a in ordered] == [
        (a.rule, a.triggered_at, a.severity) for a in mixed
    ]


def test_duplicates_are_rejected_within_and_across_batches() -> None:
    proc = StreamProcessor()
    row = _r("heart_rate", T0, 60.0, "/min")
    first = proc.ingest("p1", [row, dict(row)])
    assert first.accepted == 1
    assert [r.reason for r in first.rejected] == [Reason.DUPLICATE]
    again = proc.ingest("p1", [dict(row)])
    assert again.accepted == 0
    assert again.rejected[0].reason is Reason.DUPLICATE
    assert proc.rejected == {"duplicate": 2}


def test_late_readings_within_the_allowance_are_kept_and_older_ones_rejected() -> None:
    proc = StreamProcessor(max_lateness_s=3600)
    proc.process("p1", [_r("heart_rate", T0 + timedelta(hours=10), 60.0, "/min")])
    result = proc.ingest(
        "p1",
        [
            _r("heart_rate", T0 + timedelta(hours=9, minutes=30), 61.0, "/min"),
            _r("heart_rate", T0 + timedelta(hours=8), 62.0, "/min"),
            # Another type has its own clock: a weight from this morning is not late.
            _r("weight", T0 + timedelta(hours=7), 80.0, "kg"),
        ],
    )
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejected] == [(1, Reason.TOO_LATE)]


def test_bad_readings_are_rejected_with_reasons_while_the_rest_are_processed() -> None:
    proc = StreamProcessor()
    rows = _heart_rate(24, rise_from_day=21)
    bad = [
        {"type": "heart_rate", "time": "2026-03-05T10:00:00", "value": 80, "unit": "/min"},
        {"type": "heart_rate", "time": "2026-03-05T10:00:00Z", "value": 900, "unit": "/min"},
        {"type": "mood", "time": "2026-03-05T10:00:00Z", "value": 3, "unit": "1"},
        {"type": "heart_rate", "time": "2026-03-05T10:00:00Z", "value": 80, "unit": "mg"},
        {
            "patient_id": "someone-else",
            "type": "heart_rate",
            "time": "2026-03-05T10:00:00Z",
            "value": 80,
            "unit": "/min",
        },
    ]
    result = proc.ingest("p1", bad + rows)
    assert result.accepted == len(rows)
    assert [r.reason for r in result.rejected] == [
        Reason.NAIVE_TIMESTAMP,
        Reason.IMPLAUSIBLE_VALUE,
        Reason.UNKNOWN_TYPE,
        Reason.BAD_UNIT,
        Reason.WRONG_PATIENT,
    ]
    assert result.alerts, "the good readings still raise their alert"


def _weights(values: list[float]) -> list[dict[str, object]]:
    return [_r("weight", T0 + timedelta(days=d, hours=7), w, "kg") for d, w in enumerate(values)]


def test_heart_failure_weight_gain_of_two_kg_in_three_days() -> None:
    proc = StreamProcessor()
    proc.set_context("p1", PatientContext(heart_failure=True))
    alerts = proc.process("p1", _weights([80.0, 80.2, 79.9, 80.1, 80.0, 80.6, 81.2, 82.1]))
    assert [a.rule for a in alerts] == ["hf_weight_gain"]
    assert alerts[0].triggered_at == T0 + timedelta(days=7, hours=7)
    # The lowest weight in the 3 days before is 80.0 (day 4): 82.1 - 80.0.
    assert "weight up 2.1 kg" in alerts[0].insight.explanation[0].phrase
    assert any("ESC" in e.label for e in alerts[0].insight.evidence)


def test_weight_gain_below_two_kg_or_over_more_than_three_days_is_quiet() -> None:
    proc = StreamProcessor(default_context=PatientContext(heart_failure=True))
    assert proc.process("p1", _weights([80.0, 80.5, 81.0, 81.5, 81.9])) == []  # 1.9 kg max within 3 days
    proc = StreamProcessor(default_context=PatientContext(heart_failure=True))
    # 0.3 kg a day: 0.9 kg in any 3 days, 2.1 kg in 7 days, 2.4 kg in 8 days (outside both windows).
    assert proc.process("p2", _weights([80.0 + 0.3 * d for d in range(9)])) == []


def test_a_slower_gain_of_five_pounds_in_a_week_also_alerts() -> None:
    proc = StreamProcessor(default_context=PatientContext(heart_failure=True))
    # 0.4 kg a day: never 2 kg in 3 days, but 2.4 kg by day 6 (>= 2.3 kg within 7 days).
    alerts = proc.process("p1", _weights([80.0 + 0.4 * d for d in range(9)]))
    assert {a.rule for a in alerts} == {"hf_weight_gain"}
    assert [a.action.value for a in alerts] == [
        "raised",
        "escalated",
    ]  # still rising a day later, unacknowledged
    assert alerts[0].triggered_at == T0 + timedelta(days=6, hours=7)
    assert "in 6.0 days" in alerts[0].insight.explanation[0].phrase


def test_weight_rule_is_off_for_patients_known_not_to_have_heart_failure() -> None:
    proc = StreamProcessor(default_context=PatientContext(heart_failure=False))
    assert proc.process("p1", _weights([80.0, 80.0, 80.0, 83.0])) == []


def _cgm(values: list[float], start: datetime = T0) -> list[dict[str, object]]:
    return [_r("cgm_glucose", start + timedelta(minutes=5 * i), v, "mg/dL") for i, v in enumerate(values)]


def test_level2_hypoglycaemia_alerts_after_fifteen_minutes_once_per_event() -> None:
    proc = StreamProcessor()
    alerts = proc.process("p1", _cgm([110, 90, 52, 50]))
    assert alerts == []  # two low readings: 10 minutes
    alerts = proc.process("p1", _cgm([49, 48, 47], start=T0 + timedelta(minutes=20)))
    assert [a.rule for a in alerts] == ["glucose_low"]
    assert alerts[0].severity is Severity.CRITICAL
    assert alerts[0].triggered_at == T0 + timedelta(minutes=20)
    assert proc.policy.outcomes.total() == 1  # the continuing event raised no second candidate


def test_mmol_glucose_is_converted_before_the_hypoglycaemia_rule() -> None:
    rows = [_r("cgm_glucose", T0 + timedelta(minutes=5 * i), 2.8, "mmol/L") for i in range(3)]
    assert [a.rule for a in StreamProcessor().process("p1", rows)] == ["glucose_low"]


def test_sustained_low_spo2_uses_the_news2_threshold_and_scale() -> None:
    rows = [_r("spo2", T0 + timedelta(minutes=10 * i), v, "%") for i, v in enumerate([96, 90, 91, 90])]
    assert [a.rule for a in StreamProcessor().process("p1", rows)] == ["spo2_low"]
    scale2 = StreamProcessor(default_context=PatientContext(spo2_scale=2))
    assert scale2.process("p1", rows) == []  # 90% is inside the 88-92% target on scale 2


def test_blood_pressure_extremes_need_consecutive_readings_unless_high_tier() -> None:
    rows = [_r("systolic_bp", T0 + timedelta(hours=12 * i), v, "mmHg") for i, v in enumerate([128, 186, 130])]
    assert StreamProcessor().process("p1", rows) == []
    high = StreamProcessor(default_context=PatientContext(risk_tier=RiskTier.HIGH))
    alerts = high.process("p1", rows)
    assert [a.rule for a in alerts] == ["bp_extreme"]
    assert alerts[0].severity is Severity.CRITICAL


def _steps(days: int, *, drop_from_day: int | None = None, seed: int = 2) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        total = 8000 * rng.lognormal(0, 0.1) * (0.3 if drop_from_day is not None and d >= drop_from_day else 1.0)
        for h in range(7, 23):
            rows.append(_r("steps", T0 + timedelta(days=d, hours=h, minutes=59), round(total / 16), "/d"))
    return rows


def test_activity_drop_against_the_personal_baseline() -> None:
    medium = StreamProcessor()
    result = medium.ingest("p1", _steps(22, drop_from_day=20))
    assert result.alerts == []  # alone, an activity drop is context for medium-tier patients
    assert "activity_drop" in {c.rule for c in result.candidates}
    alerts = StreamProcessor(default_context=PatientContext(risk_tier=RiskTier.HIGH)).process(
        "p1", _steps(22, drop_from_day=20)
    )
    assert alerts and alerts[0].rule == "activity_drop"
    assert "below your 28-day baseline" in alerts[0].insight.explanation[0].phrase
    assert alerts[0].triggered_at >= T0 + timedelta(days=20)


def test_cusum_flags_a_slow_resting_heart_rate_trend_for_high_tier_patients() -> None:
    rows = _heart_rate(20)
    rng = np.random.default_rng(5)
    for i in range(20 * 48, 30 * 48):  # +1 bpm a day, too slow for the single-day rule at first
        when = T0 + timedelta(minutes=30 * i)
        day = i // 48 - 19
        value = 60.0 + (10.0 if 7 <= when.hour < 23 else 0.0) + rng.normal(0, 3) + 1.0 * day
        rows.append(_r("heart_rate", when, round(value), "/min"))
    proc = StreamProcessor(default_context=PatientContext(risk_tier=RiskTier.HIGH))
    candidates = proc.ingest("p1", rows).candidates
    trend = [c for c in candidates if c.rule == "resting_hr_trend"]
    assert trend, "a +1 bpm/day drift must cross the CUSUM threshold within 10 days"
    assert "trending up" in trend[0].factors[0].phrase
    steady = StreamProcessor(default_context=PatientContext(risk_tier=RiskTier.HIGH))
    assert not [c for c in steady.ingest("p1", _heart_rate(30)).candidates if c.rule == "resting_hr_trend"]


def test_lateness_allowance_must_stay_within_the_shortest_window() -> None:
    with pytest.raises(ConfigurationError):
        StreamProcessor(max_lateness_s=3 * 3600)


def test_alerts_do_not_depend_on_how_the_stream_is_chunked() -> None:
    from carepilot.monitoring.readings import validate_records
    from carepilot.monitoring.replay import replay

    rows = []
    for pid, rise in (("a", 21), ("b", None), ("c", 19)):
        rows += [{**r, "patient_id": pid} for r in _heart_rate(24, rise_from_day=rise, seed=len(rows))]
    rows += [{**r, "patient_id": "c"} for r in _weights([80.0, 80.1, 80.0, 80.2, 81.0, 81.9, 82.6])]
    validated = validate_records(rows)
    whole = StreamProcessor(default_context=PatientContext(heart_failure=True)).process_batch(validated)
    runs = [
        replay(validated, StreamProcessor(default_context=PatientContext(heart_failure=True)), chunk_seconds=c)
        for c in (300.0, 3600.0, 86_400.0)
    ]
    expected = [(a.patient_id, a.rule, a.triggered_at, a.action) for a in whole]
    assert expected, "the planted rises must alert"
    for run in runs:
        got = [(a.patient_id, a.rule, a.triggered_at, a.action) for a in run.alerts]
        assert sorted(got) == sorted(expected)
