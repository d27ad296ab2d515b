"""PHQ-9 / GAD-7 scoring and bands, response and remission, trial adequacy, and the mental-health Insights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carepilot.domain.insight import InsightKind, Severity
from carepilot.domain.phq import (
    QuestionnaireError,
    Score,
    course,
    gad7_severity,
    is_remission,
    is_response,
    phq9_severity,
    score_gad7,
    score_phq9,
)
from carepilot.domain.profile import Coding, Demographics, Measurement, Medication, PatientProfile, Problem
from carepilot.insights.mental_health import MentalHealthProvider, item9_alert
from carepilot.insights.service import InsightContext
from carepilot.models.registry import ModelRegistry

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_phq9_total_is_the_sum_of_nine_items():
    assert score_phq9([0, 1, 2, 3, 0, 1, 2, 3, 1]) == 13
    assert score_gad7([3] * 7) == 21


@pytest.mark.parametrize("items", [[1] * 8, [1] * 10, [0, 0, 0, 0, 0, 0, 0, 0, 4], [0, 0, 0, 0, 0, 0, 0, 0, -1]])
def test_malformed_answers_are_refused_with_a_clear_error(items):
    with pytest.raises(QuestionnaireError, match="PHQ-9"):
        score_phq9(items)


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands_follow_kroenke_2001(score, band):
    assert phq9_severity(score) == band


@pytest.mark.parametrize(
    ("score", "band"), [(4, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"), (21, "severe")]
)
def test_gad7_bands_follow_spitzer_2006(score, band):
    assert gad7_severity(score) == band


def test_out_of_range_totals_are_refused():
    with pytest.raises(QuestionnaireError):
        phq9_severity(28)
    with pytest.raises(QuestionnaireError):
        gad7_severity(22)


def test_response_is_a_drop_of_at_least_half_and_remission_is_under_five():
    assert is_response(20, 10) and not is_response(20, 11)
    assert not is_response(0, 0)
    assert is_remission(4) and not is_remission(5)


def weeks(n: float) -> datetime:
    return NOW - timedelta(weeks=n)


def test_a_course_finds_the_baseline_and_judges_only_after_an_adequate_trial():
    start = weeks(10)
    scores = [Score(start - timedelta(days=3), 18), Score(weeks(6), 15), Score(weeks(1), 14)]
    c = course(scores, "sertraline", start, NOW)
    assert c.baseline.value == 18 and c.latest.value == 14
    assert c.adequate_trial and c.not_improving and c.status == "not improving after an adequate trial"
    early = course(scores, "sertraline", weeks(4), NOW)
    assert not early.not_improving
    responded = course([Score(start, 18), Score(weeks(1), 8)], "sertraline", start, NOW)
    assert responded.responded and not responded.not_improving and responded.status == "response"
    remitted = course([Score(start, 8), Score(weeks(1), 4)], "sertraline", start, NOW)
    assert remitted.status == "remission"


def measurement(concept: str, value: float, when: datetime) -> Measurement:
    return Measurement(f"o-{concept}-{when.timestamp()}", concept, Coding("http://loinc.org", "x"), when, value, None)


def patient(measurements=(), medications=(), pgx=()) -> PatientProfile:
    return PatientProfile(
        Demographics("p-mh", None, "female", name="Test Patient"),
        NOW,
        problems=(Problem("c1", "depression", Coding("s", "35489007"), NOW - timedelta(days=900), None, "active"),),
        measurements=tuple(measurements) + tuple(pgx),
        medications=tuple(medications),
    )


def test_item9_above_zero_raises_a_critical_alert_with_a_safety_plan_prompt():
    p = patient(
        [measurement("phq9", 17, NOW - timedelta(days=2)), measurement("phq9_item9", 2, NOW - timedelta(days=2))]
    )
    alert = item9_alert(p)
    assert alert is not None
    assert alert.kind == InsightKind.MONITORING_ALERT and alert.severity == Severity.CRITICAL
    assert "safety plan" in alert.detail.lower() and "Stanley" in alert.evidence[0].label
    assert alert.actions[0]["status"] == "draft"


def test_item9_zero_or_a_later_zero_answer_raises_nothing():
    assert item9_alert(patient([measurement("phq9_item9", 0, NOW - timedelta(days=2))])) is None
    later_zero = [
        measurement("phq9_item9", 1, NOW - timedelta(days=20)),
        measurement("phq9_item9", 0, NOW - timedelta(days=2)),
    ]
    assert item9_alert(patient(later_zero)) is None
    stale = [measurement("phq9_item9", 2, NOW - timedelta(days=200))]
    assert item9_alert(patient(stale)) is None


def sertraline(start: datetime) -> Medication:
    return Medication(
        "m-ser",
        "sertraline",
        Coding("http://www.nlm.nih.gov/research/umls/rxnorm", "36437", "sertraline"),
        "active",
        start,
    )


def test_not_improving_after_an_adequate_trial_lists_alternatives_without_the_current_drug(tmp_path: Path):
    start = weeks(9)
    p = patient(
        [measurement("phq9", 18, start), measurement("phq9", 16, weeks(4)), measurement("phq9", 15, weeks(1))],
        [sertraline(start)],
    )
    provider = MentalHealthProvider(ModelRegistry(tmp_path / "models"), tmp_path / "no-reference-data")
    found = provider.insights(p, InsightContext())
    (switch,) = [i for i in found if i.kind == InsightKind.TREATMENT_OPTION]
    assert "not improving on sertraline" in switch.title
    assert "Escitalopram" in switch.detail and "Bupropion" in switch.detail and "Mirtazapine" in switch.detail
    assert "**Sertraline**" not in switch.detail
    assert "effect model gave no ranking" in switch.detail  # no model registered here: says so


def test_a_cyp2c19_poor_metaboliser_sees_escitalopram_moved_below_the_others(tmp_path: Path):
    start = weeks(9)
    panel = Measurement(
        "o-pgx",
        "pgx_phenotype",
        Coding("http://loinc.org", "79716-7"),
        NOW - timedelta(days=300),
        None,
        None,
        text_value="CYP2C19 Poor Metabolizer",
    )
    p = patient(
        [measurement("phq9", 18, start), measurement("phq9", 17, weeks(1))],
        [sertraline(start)],
    )
    provider = MentalHealthProvider(ModelRegistry(tmp_path / "models"), tmp_path / "no-reference-data")
    options, _ = provider.ranked_options(p, "sertraline")
    assert [o.key for o in options] == ["escitalopram", "bupropion", "mirtazapine"]
    flagged = patient(
        [measurement("phq9", 18, start), measurement("phq9", 17, weeks(1))], [sertraline(start)], pgx=(panel,)
    )
    options, _ = provider.ranked_options(flagged, "sertraline")
    assert [o.key for o in options][-1] == "escitalopram"
    assert options[-1].pgx, "the CPIC warning is named"


def test_a_patient_in_response_gets_no_switch_prompt(tmp_path: Path):
    start = weeks(9)
    p = patient([measurement("phq9", 18, start), measurement("phq9", 7, weeks(1))], [sertraline(start)])
    provider = MentalHealthProvider(ModelRegistry(tmp_path / "models"), tmp_path / "none")
    assert provider.insights(p, InsightContext()) == []
