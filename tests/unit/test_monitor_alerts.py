"""Alert policy: de-duplication, suppression, escalation, acknowledgement, tiers and burden."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carepilot.domain.insight import Confidence, Factor, InsightKind, Severity
from carepilot.errors import InputError, NotFoundError
from carepilot.monitoring.alerts import (
    AlertCandidate,
    AlertPolicy,
    Outcome,
    RiskTier,
    parse_rule_table,
    rule_table,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
H = 3600.0


def _cand(rule: str = "resting_hr", hours: float = 0.0, severity: Severity = Severity.WARNING, pid: str = "p1"):
    return AlertCandidate(
        patient_id=pid,
        rule=rule,
        triggered_at=T0 + hours * H,
        severity=severity,
        title=f"{rule} fired",
        detail="detail",
        factors=(Factor(rule, 1.0, f"{rule} phrase"),),
        confidence=Confidence("moderate", "rule-based"),
    )


def test_first_candidate_raises_an_insight_with_evidence_and_rule_version() -> None:
    policy = AlertPolicy()
    alert = policy.decide(_cand("spo2_low", severity=Severity.CRITICAL), RiskTier.MEDIUM)
    assert alert is not None
    assert alert.action is Outcome.RAISED
    insight = alert.insight
    assert insight.kind is InsightKind.MONITORING_ALERT
    assert insight.severity is Severity.CRITICAL
    assert insight.source.id == "monitor.spo2-low"
    assert insight.source.version == rule_table().rules["spo2_low"].version
    assert insight.source.kind == "rule"
    assert any("Royal College of Physicians" in e.citation for e in insight.evidence)
    assert insight.explanation[0].phrase == "spo2_low phrase"
    assert alert.triggered_at == datetime(2026, 3, 1, tzinfo=UTC)


def test_repeats_of_an_open_alert_are_deduplicated() -> None:
    policy = AlertPolicy()
    assert policy.decide(_cand(hours=0), RiskTier.MEDIUM) is not None
    assert policy.decide(_cand(hours=1), RiskTier.MEDIUM) is None
    assert policy.decide(_cand(hours=2), RiskTier.MEDIUM) is None
    assert policy.outcomes == {"raised": 1, "duplicate": 2}
    assert policy.burden.raised["p1"] == 1


def test_patients_are_independent() -> None:
    policy = AlertPolicy()
    assert policy.decide(_cand(pid="p1"), RiskTier.MEDIUM) is not None
    assert policy.decide(_cand(pid="p2"), RiskTier.MEDIUM) is not None


def test_a_higher_severity_escalates_the_open_alert() -> None:
    policy = AlertPolicy()
    first = policy.decide(_cand(hours=0), RiskTier.MEDIUM)
    second = policy.decide(_cand("spo2_low", hours=1, severity=Severity.CRITICAL), RiskTier.MEDIUM)
    assert first is not None and second is not None
    assert second.action is Outcome.ESCALATED
    assert second.escalates == first.id
    assert second.episode_id == first.episode_id
    assert second.severity is Severity.CRITICAL
    assert second.insight.title.startswith("Escalated:")
    # Both signals explain the escalated alert, the new one first.
    assert [f.label for f in second.insight.explanation] == ["spo2_low", "resting_hr"]


def test_a_condition_still_firing_unacknowledged_escalates_after_the_tier_time() -> None:
    policy = AlertPolicy()
    policy.decide(_cand(hours=0), RiskTier.MEDIUM)
    assert policy.decide(_cand(hours=23), RiskTier.MEDIUM) is None
    later = policy.decide(_cand(hours=24), RiskTier.MEDIUM)  # medium tier: escalate after 24 h
    assert later is not None and later.action is Outcome.ESCALATED
    assert later.severity is Severity.CRITICAL
    assert "unacknowledged" in later.insight.detail
    # Critical is the top: nothing more to escalate.
    assert policy.decide(_cand(hours=48), RiskTier.MEDIUM) is None


def test_high_tier_escalates_sooner() -> None:
    policy = AlertPolicy()
    policy.decide(_cand(hours=0), RiskTier.HIGH)
    assert policy.decide(_cand(hours=8), RiskTier.HIGH) is not None


def test_several_distinct_signals_escalate_and_fewer_are_merged() -> None:
    policy = AlertPolicy()
    policy.decide(_cand("resting_hr", hours=0), RiskTier.MEDIUM)
    assert policy.decide(_cand("activity_drop", hours=1), RiskTier.MEDIUM) is None
    assert policy.outcomes["merged"] == 1
    third = policy.decide(_cand("spo2_drop", hours=2), RiskTier.MEDIUM)  # medium tier: 3 signals escalate
    assert third is not None and third.action is Outcome.ESCALATED
    assert "3 concurrent signals" in third.insight.detail
    assert {f.label for f in third.insight.explanation} == {"resting_hr", "activity_drop", "spo2_drop"}


def test_acknowledgement_suppresses_for_the_window_then_a_new_alert_may_follow() -> None:
    policy = AlertPolicy()
    first = policy.decide(_cand(hours=0), RiskTier.MEDIUM)
    assert first is not None
    policy.acknowledge(first.id, datetime(2026, 3, 1, 2, tzinfo=UTC), by="nurse-7")
    assert policy.is_acknowledged(first.id)
    # Suppressed even at a higher severity while inside the 48 h window after acknowledgement.
    assert policy.decide(_cand("spo2_low", hours=30, severity=Severity.CRITICAL), RiskTier.MEDIUM) is None
    assert policy.outcomes["acknowledged"] == 1
    again = policy.decide(_cand(hours=51), RiskTier.MEDIUM)
    assert again is not None and again.action is Outcome.RAISED
    assert again.episode_id != first.episode_id


def test_acknowledging_an_unknown_alert_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        AlertPolicy().acknowledge("no-such-alert", datetime(2026, 3, 1, tzinfo=UTC))


def test_a_quiet_gap_closes_the_episode() -> None:
    policy = AlertPolicy()
    first = policy.decide(_cand(hours=0), RiskTier.MEDIUM)
    second = policy.decide(_cand(hours=49), RiskTier.MEDIUM)  # medium episode gap: 48 h
    assert first is not None and second is not None
    assert second.action is Outcome.RAISED
    assert second.episode_id != first.episode_id


def test_info_candidates_only_reach_high_tier_patients() -> None:
    policy = AlertPolicy()
    assert policy.decide(_cand("activity_trend", severity=Severity.INFO), RiskTier.MEDIUM) is None
    assert policy.outcomes["below_tier"] == 1
    assert policy.decide(_cand("activity_trend", severity=Severity.INFO), RiskTier.HIGH) is not None


def test_a_weak_signal_joins_an_open_alert_as_context() -> None:
    policy = AlertPolicy()
    policy.decide(_cand("resting_hr", hours=0), RiskTier.MEDIUM)
    assert policy.decide(_cand("activity_drop", hours=1, severity=Severity.INFO), RiskTier.MEDIUM) is None
    assert policy.decide(_cand("activity_drop", hours=2, severity=Severity.INFO), RiskTier.MEDIUM) is None
    later = policy.decide(_cand("spo2_low", hours=2, severity=Severity.CRITICAL), RiskTier.MEDIUM)
    assert later is not None
    assert [f.label for f in later.insight.explanation] == ["spo2_low", "resting_hr", "activity_drop"]


def test_burden_counts_alerts_per_patient_week() -> None:
    policy = AlertPolicy()
    policy.burden.observe("p1", T0, T0 + 7 * 24 * H)
    policy.burden.observe("p2", T0, T0 + 3.5 * 24 * H)
    policy.burden.observe("p2", T0 + 3.5 * 24 * H, T0 + 7 * 24 * H)
    policy.decide(_cand(pid="p1"), RiskTier.MEDIUM)
    policy.decide(_cand(pid="p1", hours=1), RiskTier.MEDIUM)  # duplicate: not counted
    policy.decide(_cand(pid="p2"), RiskTier.MEDIUM)
    policy.decide(_cand(pid="p2", hours=30), RiskTier.MEDIUM)  # escalation: counted
    assert policy.burden.patient_weeks == pytest.approx(2.0)
    assert policy.burden.per_patient_week() == pytest.approx(1.5)


def test_rule_table_is_checked_when_parsed() -> None:
    with pytest.raises(InputError, match="tier"):
        parse_rule_table('[rules.x]\nid = "x"\nversion = "1"\ntopic = "t"\ntiers.low = { severity = "info" }\n')
    with pytest.raises(InputError, match="evidence"):
        parse_rule_table(
            '[rules.x]\nid = "x"\nversion = "1"\ntopic = "t"\nevidence = ["nowhere"]\n'
            'tiers.low = { severity = "info" }\ntiers.medium = { severity = "info" }\n'
            'tiers.high = { severity = "info" }\n'
        )


def test_every_rule_cites_evidence_and_has_a_version() -> None:
    table = rule_table()
    assert table.version != "unversioned"
    for rule in table.rules.values():
        assert rule.evidence, rule.name
        assert rule.version, rule.name


def test_the_patients_modelled_risk_places_them_in_a_tier():
    from carepilot.monitoring.alerts import RiskTier, rule_table

    table = rule_table()
    low, high = table.risk_tiers["deterioration"]
    assert table.tier_for({"deterioration": high}) is RiskTier.HIGH
    assert table.tier_for({"deterioration": low / 2}) is RiskTier.LOW
    assert table.tier_for({"deterioration": (low + high) / 2}) is RiskTier.MEDIUM
    # the deterioration score decides before the readmission score; no score at all stays medium
    assert table.tier_for({"readmission": 0.5, "deterioration": low / 2}) is RiskTier.LOW
    assert table.tier_for({"readmission": 0.5}) is RiskTier.HIGH
    assert table.tier_for({}) is RiskTier.MEDIUM


def test_risk_tier_cut_offs_out_of_order_are_refused():
    from carepilot.errors import InputError
    from carepilot.monitoring.alerts import parse_rule_table

    text = resources_text().replace(
        "[risk_tiers.deterioration]\nlow = 0.01\nhigh = 0.10", "[risk_tiers.deterioration]\nlow = 0.2\nhigh = 0.1"
    )
    with pytest.raises(InputError, match="deterioration"):
        parse_rule_table(text)


def resources_text() -> str:
    from importlib import resources

    return resources.files("carepilot.monitoring").joinpath("data/rules.toml").read_text(encoding="utf-8")
