"""Progression features stop at the landmark; the outcomes are read from what the record shows after it."""

import math
from datetime import UTC, date, datetime, timedelta

from carepilot.domain.profile import Coding, Demographics, Encounter, Measurement, PatientProfile, Problem
from carepilot.features.progression import (
    FEATURES,
    ckd_outcome,
    diabetes_outcome,
    features_at,
    kdigo_category,
    progression_example,
)

LANDMARK = datetime(2024, 1, 1, tzinfo=UTC)
END = LANDMARK + timedelta(days=730)


def _egfr(rid, value, days):
    return Measurement(rid, "egfr", Coding("http://loinc.org", "33914-3"), LANDMARK + timedelta(days=days), value, None)


def _profile(after=()):
    before = [_egfr("b1", 62.0, -300), _egfr("b2", 58.0, -150), _egfr("b3", 55.0, -20)]
    problems = [
        Problem("c1", "type2_diabetes", Coding("s", "44054006"), LANDMARK - timedelta(days=900), None, "active")
    ]
    encounters = []
    measurements = list(before)
    for kind, *rest in after:
        if kind == "egfr":
            measurements.append(_egfr(f"a{len(measurements)}", rest[0], rest[1]))
        elif kind == "problem":
            problems.append(
                Problem(
                    f"p{len(problems)}", rest[0], Coding("s", "x"), LANDMARK + timedelta(days=rest[1]), None, "active"
                )
            )
        elif kind == "visit":
            when = LANDMARK + timedelta(days=rest[1])
            encounters.append(
                Encounter(f"e{len(encounters)}", "IMP", "admission", when, when + timedelta(days=3), reason=rest[0])
            )
    return PatientProfile(
        demographics=Demographics("p1", date(1955, 6, 1), "male"),
        as_of=END,
        problems=tuple(problems),
        measurements=tuple(measurements),
        encounters=tuple(encounters),
    )


def _same(a, b):
    return all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in FEATURES)


def test_features_at_the_landmark_ignore_everything_recorded_later():
    later = [("egfr", 20.0, 1), ("problem", "heart_failure", 2), ("visit", "Heart failure", 3)]
    assert _same(features_at(_profile(), LANDMARK), features_at(_profile(later), LANDMARK))
    row = features_at(_profile(later), LANDMARK)
    assert row["baseline_egfr"] == 58.0 and row["latest_egfr"] == 55.0 and row["has_heart_failure"] == 0.0
    assert row["egfr_slope_per_year"] < 0


def test_ckd_progression_needs_two_consecutive_worse_values():
    assert kdigo_category(58.0) == 3 and kdigo_category(44.0) == 4
    single = ckd_outcome(_profile([("egfr", 40.0, 100), ("egfr", 57.0, 200), ("egfr", 56.0, 400)]), LANDMARK, END)
    assert single is not None and not single.event and single.days == 400
    sustained = ckd_outcome(_profile([("egfr", 57.0, 100), ("egfr", 41.0, 200), ("egfr", 40.0, 300)]), LANDMARK, END)
    assert sustained is not None and sustained.event and sustained.days == 200
    assert ckd_outcome(_profile(), LANDMARK, END) is None  # no eGFR after the landmark: not followed


def test_diabetes_complications_are_new_diagnoses_or_complication_visits_after_the_landmark():
    visit = diabetes_outcome(_profile([("visit", "Myocardial infarction", 90), ("problem", "ckd", 300)]), LANDMARK, END)
    assert visit is not None and visit.event and visit.days == 90
    censored = diabetes_outcome(_profile([("visit", "Appendicitis", 90)]), LANDMARK, END)
    assert censored is not None and not censored.event and censored.days == 730
    row = progression_example(_profile([("problem", "ckd", 300)]), LANDMARK, END, "diabetes")
    assert row is not None and row["event"] and row["time"] == 300 and row["has_ckd"] == 0.0
