"""Deterioration features use nothing recorded or measured after the index time; the label looks forward."""

import math
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from carepilot.domain.profile import Coding, Demographics, Encounter, Measurement, PatientProfile, Problem
from carepilot.features.deterioration import (
    FEATURES,
    daily_summaries,
    deterioration_examples,
    features_at,
    stream_features_at,
)

START = datetime(2025, 12, 1, tzinfo=UTC)
INDEX = START + timedelta(days=10)


def _m(rid, concept, value, when):
    return Measurement(rid, concept, Coding("http://loinc.org", "x"), when, value, None)


def _vitals(prefix, when, rr, spo2, sbp, hr, temp):
    return [
        _m(f"{prefix}rr", "respiratory_rate", rr, when),
        _m(f"{prefix}sp", "spo2", spo2, when),
        _m(f"{prefix}bp", "systolic_bp", sbp, when),
        _m(f"{prefix}hr", "heart_rate", hr, when),
        _m(f"{prefix}t", "temperature", temp, when),
    ]


def _profile(future=False):
    measurements = _vitals("a", START - timedelta(days=30), 18, 96, 125, 80, 37.0)
    measurements.append(_m("bnp1", "bnp", 300.0, START - timedelta(days=40)))
    encounters = [Encounter("e0", "AMB", "visit", START - timedelta(days=30), START - timedelta(days=30))]
    problems = [Problem("c1", "heart_failure", Coding("s", "1"), START - timedelta(days=900), None, "active")]
    if future:
        measurements += _vitals("b", INDEX + timedelta(hours=2), 28, 88, 85, 135, 39.5)
        measurements.append(_m("bnp2", "bnp", 4000.0, INDEX + timedelta(days=1)))
        encounters.append(Encounter("e1", "EMER", "emergency", INDEX + timedelta(days=3), INDEX + timedelta(days=3)))
        problems.append(Problem("c2", "copd", Coding("s", "2"), INDEX + timedelta(days=1), None, "active"))
    return PatientProfile(
        demographics=Demographics("p1", date(1950, 1, 1), "female"),
        as_of=START + timedelta(days=60),
        problems=tuple(problems),
        measurements=tuple(measurements),
        encounters=tuple(encounters),
    )


def _readings(future=False):
    rows = []
    days = 20 if future else 10
    for d in range(-10, days):
        day = START + timedelta(days=d)
        surge = 25.0 if d >= 10 else 0.0
        for h in range(0, 24, 2):
            rows.append(("p1", "heart_rate", day + timedelta(hours=h), 60.0 + (h % 5) + surge))
        rows.append(("p1", "steps", day + timedelta(hours=20), 6000.0 - 200 * (d % 3) - 100 * surge))
        rows.append(("p1", "weight", day + timedelta(hours=7), 80.0 + 0.1 * (d % 2) + 0.2 * surge))
        rows.append(("p1", "spo2", day + timedelta(hours=9), 96.0 - 0.2 * surge))
    # A reading one second before the index belongs to the last complete day; one at the index does not.
    if future:
        rows.append(("p1", "heart_rate", INDEX, 150.0))
    return pd.DataFrame(rows, columns=["patient_id", "type", "time", "value"])


def _same(a, b):
    return all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in FEATURES)


def test_features_at_the_index_time_ignore_later_records_and_readings():
    without = features_at(_profile(), daily_summaries(_readings()), INDEX)
    with_future = features_at(_profile(future=True), daily_summaries(_readings(future=True)), INDEX)
    assert _same(without, with_future)
    assert with_future["latest_bnp"] == 300.0 and with_future["has_copd"] == 0.0
    assert with_future["news2"] == 0.0 and with_future["stream_days"] == 20.0
    assert with_future["rhr_current"] < 70.0


def test_stream_features_see_a_rising_heart_rate_once_its_day_has_ended():
    days = daily_summaries(_readings(future=True))
    before = stream_features_at(days, INDEX)
    after = stream_features_at(days, INDEX + timedelta(days=1))
    assert after["rhr_delta"] > 20 and before["rhr_delta"] < 5
    assert after["steps_ratio"] < before["steps_ratio"]


def test_the_label_looks_forward_seven_days_and_days_after_the_event_are_dropped():
    profile = _profile(future=True)
    days = daily_summaries(_readings(future=True))
    rows = deterioration_examples(profile, days, START + timedelta(days=40))
    labelled = {r["index_time"]: r["label"] for r in rows}
    event = INDEX + timedelta(days=3)
    assert labelled[INDEX] == 1
    assert labelled[event - timedelta(days=8)] == 0
    assert max(labelled) < event
    same_day = next(r for r in rows if r["index_time"] == INDEX)
    assert same_day["latest_bnp"] == 300.0
