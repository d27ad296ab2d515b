"""Nudge safety rules, the bandit's learning and the synthetic response truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carepilot.domain.nudges import ARMS, Arm, NudgeContext, NudgeSettings, in_quiet_hours, may_send, needs_nudge
from carepilot.errors import InputError
from carepilot.learning.nudges import NudgeBandit
from carepilot.synth.nudges import nudge_truth

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_switch_off_wins_over_everything():
    ok, reason = may_send(NudgeSettings("p", enabled=False, reason="in hospice"), [], AT)
    assert not ok and "switched off" in reason and "hospice" in reason


def test_at_most_two_messages_in_any_seven_days():
    s = NudgeSettings("p")
    assert may_send(s, [AT - timedelta(days=3)], AT)[0]
    ok, reason = may_send(s, [AT - timedelta(days=3), AT - timedelta(days=6)], AT)
    assert not ok and "frequency cap" in reason
    assert may_send(s, [AT - timedelta(days=3), AT - timedelta(days=8)], AT)[0]


def test_quiet_hours_wrap_past_midnight():
    s = NudgeSettings("p")  # 21:00-08:00
    assert in_quiet_hours(22, s) and in_quiet_hours(3, s) and not in_quiet_hours(9, s) and not in_quiet_hours(20, s)
    assert not may_send(s, [], AT.replace(hour=23))[0]


def test_nudges_go_to_low_adherence_or_open_care_gaps_only():
    assert needs_nudge(0.6, 0) and needs_nudge(0.95, 1)
    assert not needs_nudge(0.9, 0) and not needs_nudge(float("nan"), 0)


def test_the_bandit_learns_a_context_dependent_best_arm():
    rng = np.random.default_rng(0)
    young = NudgeContext(30, False, 0.7, False, False, 1, "sms")
    old = NudgeContext(75, True, 0.7, False, False, 3, "phone")
    good = {id(young): Arm("reminder", "sms", "evening").key, id(old): Arm("encouragement", "phone", "morning").key}
    bandit = NudgeBandit(seed=1).fit([], [], [])
    for _ in range(60):
        contexts = [young, old] * 10
        arms = bandit.choose(contexts)
        rewards = [
            float(rng.random() < (0.6 if a.key == good[id(c)] else 0.1)) for c, a in zip(contexts, arms, strict=True)
        ]
        bandit.update(contexts, arms, rewards)
    picks_young = [a.key for a in bandit.choose([young] * 50)]
    picks_old = [a.key for a in bandit.choose([old] * 50)]
    assert picks_young.count(good[id(young)]) > 35
    assert picks_old.count(good[id(old)]) > 35


def test_an_unreachable_channel_is_never_chosen():
    bandit = NudgeBandit(seed=2).fit([], [], [])
    ctx = NudgeContext(50, True, 0.5, False, False, 2)
    arms = bandit.choose([ctx] * 40, [frozenset({"email"})] * 40)
    assert {a.channel for a in arms} == {"email"}


def test_mismatched_history_is_refused():
    with pytest.raises(InputError):
        NudgeBandit().fit([NudgeContext(50, True, 0.5, False, False, 2)], [], [])


def truth(seed: int):
    n = 400
    rng = np.random.default_rng(123)
    return nudge_truth(
        seed,
        np.array([f"p{i}" for i in range(n)]),
        rng.uniform(18, 90, n),
        rng.random(n) < 0.5,
        rng.beta(4, 1.3, n),
        rng.random(n) < 0.2,
        rng.random(n) < 0.2,
        rng.integers(0, 5, n),
    )


def test_truth_is_deterministic_per_seed_and_has_one_row_per_patient_and_arm():
    a, b, c = truth(3), truth(3), truth(4)
    assert len(a) == 400 * len(ARMS)
    assert a.equals(b) and not a.equals(c)
    assert a["p_response"].between(0, 1).all()


def test_the_preferred_channel_and_depression_move_responses_the_documented_way():
    t = truth(5)
    on_pref = t[t["channel"] == t["preferred_channel"]]["p_response"].mean()
    off_pref = t[t["channel"] != t["preferred_channel"]]["p_response"].mean()
    assert on_pref > off_pref + 0.05
    dep = t[t["depression"]]
    enc = dep[dep["message"] == "encouragement"]["p_response"].mean()
    edu = dep[dep["message"] == "education"]["p_response"].mean()
    assert enc > edu
