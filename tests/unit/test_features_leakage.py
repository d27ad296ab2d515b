"""No feature uses data recorded after its index time."""

import math
from datetime import UTC, date, datetime, timedelta

from carepilot.domain.profile import Coding, Demographics, Encounter, Measurement, PatientProfile, Problem
from carepilot.features.readmission import FEATURES, features_at, readmission_examples

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _measure(rid, concept, value, when):
    return Measurement(rid, concept, Coding("http://loinc.org", "x"), when, value, None)


def _profile(extra_after=False):
    encounters = [
        Encounter("e1", "IMP", "admission", T0 - timedelta(days=4), T0, "home"),
        Encounter("e0", "EMER", "emergency", T0 - timedelta(days=100), T0 - timedelta(days=100), None),
    ]
    measurements = [
        _measure("m1", "hba1c", 7.5, T0 - timedelta(days=10)),
        _measure("m2", "egfr", 55.0, T0 - timedelta(days=2)),
    ]
    problems = [Problem("c1", "heart_failure", Coding("s", "1"), T0 - timedelta(days=400), None, "active")]
    if extra_after:
        encounters.append(Encounter("e2", "IMP", "readmission", T0 + timedelta(days=10), T0 + timedelta(days=14)))
        measurements += [
            _measure("m3", "hba1c", 11.0, T0 + timedelta(hours=1)),
            _measure("m4", "bnp", 900.0, T0 + timedelta(days=5)),
        ]
        problems.append(Problem("c2", "ckd", Coding("s", "2"), T0 + timedelta(days=3), None, "active"))
    return PatientProfile(
        demographics=Demographics("p", date(1950, 1, 1), "male"),
        as_of=T0 + timedelta(days=365),
        problems=tuple(problems),
        measurements=tuple(measurements),
        encounters=tuple(encounters),
    )


def _same(a, b):
    return all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in FEATURES)


def test_features_at_the_index_time_ignore_everything_recorded_later():
    without_future = features_at(_profile(), T0, T0 - timedelta(days=4))
    with_future = features_at(_profile(extra_after=True), T0, T0 - timedelta(days=4))
    assert _same(without_future, with_future)
    assert with_future["latest_hba1c"] == 7.5 and with_future["has_ckd"] == 0.0
    assert math.isnan(with_future["latest_bnp"])
    assert with_future["prior_emergency_365d"] == 1.0 and with_future["has_heart_failure"] == 1.0


def test_the_label_looks_forward_but_the_features_do_not():
    (row,) = [
        r
        for r in readmission_examples(_profile(extra_after=True), T0 + timedelta(days=200))
        if r["encounter_id"] == "e1"
    ]
    assert row["label"] == 1
    assert row["latest_hba1c"] == 7.5


def test_discharges_whose_outcome_window_is_not_yet_observed_are_left_out():
    assert readmission_examples(_profile(), T0 + timedelta(days=10)) == []
