"""StreamService on a real database: compact storage, de-duplication, state rebuilt after a restart, acks kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.errors import NotFoundError
from carepilot.ingest.pipeline import Ingestor
from carepilot.insights.monitoring import MonitoringAlertProvider, StreamService, monitoring_panel
from carepilot.insights.service import InsightContext
from carepilot.store.profiles import load_profile
from carepilot.store.readings import ReadingRepository
from tests import samples as s
from tests.cds_support import dump

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


@pytest.fixture
def readings(repo, database, tmp_path) -> ReadingRepository:
    bundle = s.bundle([s.patient("mon-1", family="Quill"), s.patient("mon-2", family="Reed")])
    Ingestor(repo, "test").ingest([dump(tmp_path / "p.json", bundle)])
    return ReadingRepository(database)


def service(readings: ReadingRepository) -> StreamService:
    return StreamService(readings, clock=lambda: NOW)


def low(minutes: int, value: float = 45.0) -> dict:
    return {
        "type": "cgm_glucose",
        "value": value,
        "unit": "mg/dL",
        "time": (T0 + timedelta(minutes=minutes)).isoformat(),
    }


def test_readings_are_stored_once_per_patient_type_and_instant(readings):
    svc = service(readings)
    first = svc.post("mon-1", [low(0, 120), low(5, 121), low(5, 999 / 9)])
    again = svc.post("mon-1", [low(0, 120), low(5, 121)])
    assert (first.accepted, first.duplicate) == (2, 1)
    assert (again.accepted, again.duplicate) == (0, 2)
    assert readings.count("mon-1") == 2 and readings.count("mon-2") == 0


def test_an_unknown_patient_is_refused(readings):
    with pytest.raises(NotFoundError):
        service(readings).post("nobody", [low(0)])


def test_engine_state_is_rebuilt_from_the_store_after_a_restart(readings):
    before = service(readings)
    assert before.post("mon-1", [low(0), low(5)]).alerts == []  # 10 minutes below 54: not yet an event
    after = service(readings)  # a new process: empty engine, same store
    raised = after.post("mon-1", [low(10)]).alerts
    assert [a.rule for a in raised] == ["glucose_low"]
    assert [a.id for a in readings.alerts("mon-1")] == [raised[0].id]


def test_an_acknowledgement_survives_a_restart_and_hides_the_card(readings, repo):
    svc = service(readings)
    alert = svc.post("mon-1", [low(0), low(5), low(10)]).alerts[0]
    provider = MonitoringAlertProvider(readings)
    profile = load_profile(repo, "mon-1")
    cards = provider.insights(profile, InsightContext(hook="patient-view"))
    assert [i.id for i in cards] == [alert.id] and cards[0] == alert.insight
    assert svc.acknowledge("mon-1", alert.id, "nurse-7") == [alert.id]
    assert provider.insights(profile, InsightContext(hook="patient-view")) == []
    restarted = service(readings)
    # A second event 2 hours later falls in the acknowledged episode's quiet window: nothing new is raised.
    later = restarted.post("mon-1", [low(120), low(125), low(130)])
    assert later.alerts == []
    assert restarted.processor.policy.is_acknowledged(alert.id)  # the stored acknowledgement was re-applied
    assert readings.alerts("mon-1", status="acknowledged")[0].acknowledged_by == "nurse-7"


def test_acknowledging_another_patients_alert_is_not_found(readings):
    svc = service(readings)
    alert = svc.post("mon-1", [low(0), low(5), low(10)]).alerts[0]
    with pytest.raises(NotFoundError):
        svc.acknowledge("mon-2", alert.id, "nurse-7")


def test_the_monitoring_panel_has_an_agp_only_for_patients_with_cgm(readings):
    svc = service(readings)
    svc.post("mon-1", [low(5 * i, 100 + i % 20) for i in range(300)])
    hr = [
        {
            "type": "heart_rate",
            "value": 60 + i % 5,
            "unit": "/min",
            "time": (T0 + timedelta(minutes=10 * i)).isoformat(),
        }
        for i in range(50)
    ]
    svc.post("mon-2", hr)
    with_cgm, without = monitoring_panel(readings, "mon-1"), monitoring_panel(readings, "mon-2")
    assert with_cgm.agp is not None and with_cgm.metrics is not None and with_cgm.metrics.n_readings == 300
    assert without.agp is None and next(title for title, _, _ in without.trends).startswith("Resting heart rate")
    assert not monitoring_panel(readings, "nobody")


def test_an_opt_out_of_decision_support_stores_readings_but_raises_no_alert(readings, repo):
    consent = StaticConsent({ConsentScope.DECISION_SUPPORT: ["mon-2"]})
    svc = StreamService(readings, clock=lambda: NOW, consent=consent)
    posted = svc.post("mon-2", [low(0), low(5), low(10)])
    assert posted.accepted == 3 and posted.alerts == [] and not posted.monitored
    assert svc.post("mon-2", [low(0), low(5), low(10)]).duplicate == 3
    assert readings.count("mon-2") == 3 and readings.alerts("mon-2") == []
    other = svc.post("mon-1", [low(0), low(5), low(10)])
    assert other.monitored and len(other.alerts) == 1
    provider = MonitoringAlertProvider(readings, consent=StaticConsent({ConsentScope.DECISION_SUPPORT: ["mon-1"]}))
    declined = provider.insights(load_profile(repo, "mon-1"), InsightContext(hook="patient-view"))
    assert [type(d).__name__ for d in declined] == ["Declined"]


def test_the_alert_tier_follows_the_patients_stored_risk_score(readings, database):
    from sqlalchemy import insert

    from carepilot.monitoring.alerts import RiskTier
    from carepilot.store import tables as t

    with database.write() as conn:
        conn.execute(
            insert(t.risk_scores),
            [
                {
                    "run_id": "r1",
                    "patient_id": "mon-1",
                    "model": "deterioration",
                    "model_version": "1",
                    "index_time": NOW,
                    "probability": 0.4,
                    "engine": "local",
                    "scored_at": NOW,
                },
            ],
        )
    svc = service(readings)
    svc.post("mon-1", [low(0, 120)])
    svc.post("mon-2", [low(0, 120)])
    assert svc.processor.context("mon-1").risk_tier is RiskTier.HIGH
    assert svc.processor.context("mon-2").risk_tier is RiskTier.MEDIUM
