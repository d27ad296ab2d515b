"""Care-gap rules: each fires on the data it names and stays silent otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carepilot.domain.insight import InsightKind
from carepilot.domain.profile import Coding, Demographics, Measurement, Medication, PatientProfile, Problem
from carepilot.errors import InputError
from carepilot.insights.care_gaps import CareGapProvider, care_gap_table, evaluate, parse_rules
from carepilot.insights.service import InsightContext

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def problem(concept: str) -> Problem:
    return Problem(f"c-{concept}", concept, Coding("s", "x", concept), NOW - timedelta(days=3000), None, "active")


def measure(concept: str, value: float, days_ago: int, unit: str = "") -> Measurement:
    return Measurement(
        f"o-{concept}-{days_ago}", concept, Coding("l", "x"), NOW - timedelta(days=days_ago), value, unit
    )


def med(concept: str) -> Medication:
    return Medication(f"m-{concept}", concept, Coding("r", "x", concept), "active", NOW - timedelta(days=400))


def profile(problems=(), measurements=(), medications=()) -> PatientProfile:
    return PatientProfile(
        Demographics("p1", None, "female"),
        NOW,
        problems=tuple(problems),
        measurements=tuple(measurements),
        medications=tuple(medications),
    )


def topics(p: PatientProfile) -> set[str]:
    return {i.topic or "" for i in evaluate(p, care_gap_table())}


def test_diabetes_without_recent_hba1c_is_a_gap_with_a_draft_lab_order():
    found = evaluate(profile([problem("type2_diabetes")], [measure("hba1c", 7.0, 200)]), care_gap_table())
    gap = next(i for i in found if i.topic == "diabetes-hba1c-overdue")
    assert gap.kind == InsightKind.CARE_GAP
    assert gap.actions[0]["resourceType"] == "ServiceRequest"
    assert gap.actions[0]["status"] == "draft" and gap.actions[0]["intent"] == "proposal"
    assert gap.actions[0]["code"]["coding"][0]["code"] == "4548-4"
    assert gap.explanation[0].contribution > 1.0  # 200 days over a 183-day window
    assert gap.source.id == "care-gaps/diabetes-hba1c-overdue" and gap.source.version == care_gap_table().version
    assert "ADA" in gap.evidence[0].label


def test_recent_hba1c_closes_the_gap():
    assert "diabetes-hba1c-overdue" not in topics(profile([problem("type2_diabetes")], [measure("hba1c", 7.0, 30)]))


def test_hba1c_above_nine_fires_and_eight_does_not():
    assert "diabetes-hba1c-above-9" in topics(profile([problem("type2_diabetes")], [measure("hba1c", 9.6, 30)]))
    assert "diabetes-hba1c-above-9" not in topics(profile([problem("type2_diabetes")], [measure("hba1c", 8.0, 30)]))


def test_kidney_screening_names_only_the_missing_test():
    p = profile([problem("type2_diabetes")], [measure("egfr", 70, 20), measure("hba1c", 7, 20)])
    gap = next(i for i in evaluate(p, care_gap_table()) if i.topic == "diabetes-kidney-screening-overdue")
    assert [a["code"]["text"] for a in gap.actions] == ["Urine albumin/creatinine ratio"]


def test_hypertension_gap_uses_either_pressure():
    diastolic_only = profile(
        [problem("hypertension")], [measure("systolic_bp", 128, 10), measure("diastolic_bp", 92, 10)]
    )
    controlled = profile([problem("hypertension")], [measure("systolic_bp", 128, 10), measure("diastolic_bp", 78, 10)])
    assert "hypertension-above-goal" in topics(diastolic_only)
    assert "hypertension-above-goal" not in topics(controlled)


def test_heart_failure_without_sglt2_inhibitor_says_consider():
    found = evaluate(profile([problem("heart_failure")]), care_gap_table())
    gap = next(i for i in found if i.topic == "heart-failure-sglt2i")
    assert gap.title.lower().startswith("heart failure: consider")
    assert gap.actions[0]["resourceType"] == "MedicationRequest" and gap.actions[0]["intent"] == "proposal"
    assert "heart-failure-sglt2i" not in topics(profile([problem("heart_failure")], medications=[med("dapagliflozin")]))


def test_ldl_190_without_statin_and_silence_on_a_statin():
    assert "ldl-190-no-statin" in topics(profile(measurements=[measure("ldl", 201, 100)]))
    assert "ldl-190-no-statin" not in topics(
        profile(measurements=[measure("ldl", 201, 100)], medications=[med("atorvastatin")])
    )
    assert "ldl-190-no-statin" not in topics(profile(measurements=[measure("ldl", 160, 100)]))


def test_no_condition_no_gaps():
    assert evaluate(profile(), care_gap_table()) == []


def test_every_rule_has_a_citation_and_url():
    table = care_gap_table()
    assert len(table.rules) == 6
    for rule in table.rules:
        assert rule.evidence.citation and rule.evidence.url and rule.evidence.url.startswith("https://")


def test_a_broken_rule_table_names_the_rule():
    with pytest.raises(InputError, match="r1"):
        parse_rules('[[rule]]\nid = "r1"\ntype = "overdue"\n')
    with pytest.raises(InputError, match="type"):
        parse_rules('[[rule]]\nid = "r2"\ntype = "sideways"\n')


def test_provider_contract():
    provider = CareGapProvider()
    out = provider.insights(profile([problem("heart_failure")]), InsightContext(hook="patient-view"))
    assert provider.name == "care_gaps" and len(out) == 1
