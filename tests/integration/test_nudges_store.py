"""Nudge settings, messages and responses in the store; the planner's safety rules; the CLI."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from carepilot.bootstrap import open_store
from carepilot.config import Settings
from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.domain.nudges import Arm, NudgeContext
from carepilot.errors import InputError, NotFoundError
from carepilot.learning.nudges import NudgePlanner
from carepilot.store.nudges import NudgeRepository
from tests import cds_support as cs
from tests import engagement_support as es
from tests.cli import run, run_json

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def stores(settings: Settings):
    settings.ensure_home()
    cs.ingest_population(settings, es.population())
    db, repo = open_store(settings)
    return repo, NudgeRepository(db)


def test_settings_default_to_on_with_a_cap_and_a_switch_off_persists(stores):
    _, nudges = stores
    s = nudges.settings("p1")
    assert s.enabled and s.max_per_week == 2
    nudges.save_settings(replace(s, enabled=False, reason="bereavement", updated_by="dr-a"))
    again = nudges.settings("p1")
    assert not again.enabled and again.reason == "bereavement" and again.updated_by == "dr-a"
    with pytest.raises(InputError):
        nudges.save_settings(replace(s, max_per_week=9))


def test_the_planner_nudges_low_adherence_only_and_the_cap_suppresses_the_third(stores):
    repo, nudges = stores
    planner = NudgePlanner(repo, nudges, StaticConsent(), seed=3)
    ids = [es.DEPRESSED, cs.WELL]
    first = planner.plan(ids, MONDAY)
    assert [p.patient_id for p in first] == [es.DEPRESSED]  # PDC under 80%; the well patient has no dispenses
    assert first[0].status == "planned" and "sertraline" in first[0].text
    planner.plan(ids, MONDAY + timedelta(days=2))
    third = planner.plan(ids, MONDAY + timedelta(days=4))
    assert third[0].status == "suppressed" and "frequency cap" in third[0].reason
    assert len(nudges.sent_times(es.DEPRESSED)) == 2


def test_a_switched_off_patient_gets_nothing_sent(stores):
    repo, nudges = stores
    nudges.save_settings(replace(nudges.settings(es.DEPRESSED), enabled=False))
    (planned,) = NudgePlanner(repo, nudges, StaticConsent()).plan([es.DEPRESSED], MONDAY)
    assert planned.status == "suppressed" and "switched off" in planned.reason
    assert nudges.sent_times(es.DEPRESSED) == []


def test_consent_opt_outs_are_honoured(stores):
    repo, nudges = stores
    no_support = StaticConsent({ConsentScope.DECISION_SUPPORT: [es.DEPRESSED]})
    assert NudgePlanner(repo, nudges, no_support).plan([es.DEPRESSED], MONDAY) == []
    ctx = NudgeContext(40, True, 0.5, True, False, 1)
    nudges.record_message("p9", Arm("reminder", "sms", "morning"), ctx, ("t", "1"), "planned", None, MONDAY)
    assert len(nudges.history()[0]) == 1
    assert nudges.history(exclude=frozenset({"p9"})) == ([], [], [])


def test_a_response_within_seven_days_is_a_reward_for_the_learner(stores):
    _, nudges = stores
    ctx = NudgeContext(40, True, 0.5, True, False, 1)
    answered = nudges.record_message("p1", Arm("reminder", "sms", "morning"), ctx, ("t", "1"), "planned", None, MONDAY)
    nudges.record_message("p1", Arm("education", "email", "evening"), ctx, ("t", "1"), "planned", None, MONDAY)
    nudges.record_response(answered.id, "refill", MONDAY + timedelta(days=3))
    contexts, arms, rewards = nudges.history()
    assert sorted(zip((a.key for a in arms), rewards, strict=True)) == [
        ("education/email/evening", 0.0),
        ("reminder/sms/morning", 1.0),
    ]
    assert contexts[0] == ctx
    with pytest.raises(NotFoundError):
        nudges.record_response("no-such-message", "refill")
    with pytest.raises(InputError):
        nudges.record_response(answered.id, "telepathy")


def test_cli_plans_switches_off_and_shows(settings: Settings):
    settings.ensure_home()
    cs.ingest_population(settings, es.population())
    planned = run_json(settings.home, "nudges", "plan", es.DEPRESSED)
    assert planned["planned"][0]["status"] == "planned"
    assert run(settings.home, "nudges", "off", es.DEPRESSED, "--reason", "asked to stop").exit_code == 0
    shown = run_json(settings.home, "nudges", "show", es.DEPRESSED)
    assert shown["settings"]["enabled"] is False and len(shown["messages"]) == 1
    again = run_json(settings.home, "nudges", "plan", es.DEPRESSED)
    assert again["planned"][0]["status"] == "suppressed"
