"""Monitoring report: drift alerts beat sampling noise, performance windows carry intervals, feedback is reviewed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pandas as pd
import pytest

from carepilot.errors import InputError
from carepilot.learning.drift import psi_critical, reference_profile
from carepilot.learning.feedback_review import review, threshold_effects
from carepilot.learning.monitoring import load_thresholds, monitor
from carepilot.learning.retraining import split_window

T0 = datetime(2025, 1, 1, tzinfo=UTC)
pytestmark = pytest.mark.slow  # bootstrap intervals over several windows


def served(n: int, rng: np.random.Generator, shift_after: int | None = None, hours: int = 12) -> pd.DataFrame:
    creat = rng.lognormal(0, 0.3, n)
    if shift_after is not None:
        creat[shift_after:] *= 88.4
    score = rng.uniform(0.02, 0.6, n)
    label = (rng.random(n) < score).astype(float)
    return pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "index_time": [T0 + timedelta(hours=hours * i) for i in range(n)],
            "score": score,
            "features": [orjson.dumps({"latest_creatinine": float(c)}).decode() for c in creat],
            "label": label,
        }
    )


def reference(rng: np.random.Generator) -> dict:
    frame = pd.DataFrame({"latest_creatinine": rng.lognormal(0, 0.3, 2000)})
    return reference_profile(frame, ["latest_creatinine"], scores=rng.uniform(0.02, 0.6, 2000))


def test_no_alert_without_a_shift_and_an_input_drift_alert_with_one():
    rng = np.random.default_rng(1)
    th = load_thresholds()
    calm = monitor("m", served(240, rng), pd.DataFrame(), reference(rng), {}, pd.DataFrame(), th, n_resamples=10)
    assert [a for a in calm.alerts if a.topic == "input_drift"] == []
    shifted = monitor(
        "m", served(240, rng, shift_after=200), pd.DataFrame(), reference(rng), {}, pd.DataFrame(), th, n_resamples=10
    )
    alert = next(a for a in shifted.alerts if a.topic == "input_drift")
    assert alert.kind == "model_alert" and alert.explanation[0].label == "latest_creatinine"
    assert alert.source.version == th["version"]


def test_performance_windows_have_bootstrap_intervals_and_an_auroc_drop_alerts():
    rng = np.random.default_rng(2)
    th = load_thresholds()
    report = monitor(
        "m",
        served(600, rng, hours=2),
        pd.DataFrame(),
        reference(rng),
        {"auroc": 0.95},
        pd.DataFrame(),
        th,
        n_resamples=30,
    )
    rows = [r for r in report.performance if r.get("auroc") is not None]
    assert rows and all(r["auroc_ci"][0] <= r["auroc"] <= r["auroc_ci"][1] for r in rows)
    assert any(a.topic == "performance" for a in report.alerts)  # true AUROC ~0.7, card says 0.95


def test_a_performance_dip_within_sampling_noise_raises_no_alert():
    # True AUROC about 0.7 and the card says 0.76: past the 0.05 drop threshold, but on 100-150 outcomes a
    # window's AUROC has a standard error near 0.05, so the dip is chance and must not page the owner.
    rng = np.random.default_rng(5)
    th = load_thresholds()
    report = monitor(
        "m",
        served(300, rng, hours=12),
        pd.DataFrame(),
        reference(rng),
        {"auroc": 0.76},
        pd.DataFrame(),
        th,
        n_resamples=0,
        window_days=75,
    )
    judged = [r for r in report.performance if r["n"] >= th["performance"]["min_outcomes"]]
    assert judged and all(r["auroc_se"] > 0.03 for r in judged)
    latest = min(judged, key=lambda r: r["window"])  # the window the alert rule judges
    assert latest["auroc"] < 0.76 - th["performance"]["auroc_drop"]
    assert not any(a.topic == "performance" for a in report.alerts)


def test_psi_noise_bound_shrinks_with_sample_size():
    assert psi_critical(1000, 20, 11, 0.01) > 0.5 > psi_critical(1000, 2000, 11, 0.01)


def test_feedback_review_flags_the_most_overridden_card_type_and_suggests_without_applying():
    th = load_thresholds()
    feedback = pd.DataFrame(
        {
            "kind": ["risk"] * 30 + ["pgx"] * 30,
            "outcome": ["overridden"] * 24 + ["accepted"] * 6 + ["accepted"] * 27 + ["overridden"] * 3,
            "override_code": ["not-relevant"] * 24 + [None] * 33 + ["other"] * 3,
            "override_display": ["Not relevant to this patient"] * 24 + [None] * 36,
        }
    )
    rng = np.random.default_rng(3)
    preds = served(400, rng).assign(model_name="readmission")
    report = review(feedback, preds, th)
    assert [f["card_type"] for f in report.flagged] == ["risk"]
    assert report.rates[0]["override_reasons"] == {"Not relevant to this patient": 24}
    effects = report.suggestions[0]["effects"]
    volumes = [e["alerts_per_100"] for e in effects]
    assert volumes == sorted(volumes, reverse=True)  # higher threshold, fewer alerts
    assert "never" in report.note


def test_threshold_effects_match_a_hand_count():
    effects = threshold_effects(np.array([0.1, 0.4, 0.5, 0.9]), np.array([0, 1, 0, 1]), [0.45])
    assert effects == [{"threshold": 0.45, "alerts_per_100": 50.0, "sensitivity": 0.5, "ppv": 0.5}]


def test_retraining_window_is_split_in_time_and_by_patient():
    times = [T0 + timedelta(days=i) for i in range(200)]
    frame = pd.DataFrame({"index_time": times, "patient_id": [f"p{i % 150}" for i in range(200)], "label": 0})
    train, holdout = split_window(frame, window_days=150, holdout_fraction=0.25)
    assert train["index_time"].max() < holdout["index_time"].min()
    assert set(train["patient_id"]).isdisjoint(set(holdout["patient_id"]))
    assert train["index_time"].min() > times[-1] - timedelta(days=150)
    with pytest.raises(InputError):
        split_window(frame, window_days=150, holdout_fraction=0.9)
