"""MonitoringAlertProvider: a patient's open monitoring alerts as Insights, with the full Insight contract."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from carepilot.domain.insight import Confidence, Evidence, Factor, Insight, InsightKind, Severity, Source
from carepilot.domain.profile import Demographics, PatientProfile
from carepilot.insights.monitoring import MonitoringAlertProvider, insight_from_payload, open_alerts
from carepilot.insights.service import InsightContext
from carepilot.store.feedback import insight_payload
from carepilot.store.readings import StoredAlert

AT = datetime(2026, 3, 9, 8, tzinfo=UTC)


def insight(title: str, severity: Severity = Severity.WARNING) -> Insight:
    return Insight(
        patient_id="p1",
        as_of=AT,
        kind=InsightKind.MONITORING_ALERT,
        title=title,
        detail="Resting HR 92/min vs own 28-day baseline 71.",
        confidence=Confidence("moderate", "28 of 28 baseline days; not a calibrated probability."),
        source=Source("monitor.resting-hr-baseline", "1.1.0", "rule", "28-day personal baseline"),
        explanation=(Factor("resting heart rate", 21.0, "resting HR 92/min vs own 28-day baseline 71"),),
        evidence=(Evidence("NEWS2", "Royal College of Physicians 2017", "https://www.rcp.ac.uk/"),),
        value=92.0,
        unit="/min",
        severity=severity,
        topic=title,
    )


def stored(i: Insight, status: str = "open", escalates: str | None = None, episode: str = "e1") -> StoredAlert:
    return StoredAlert(
        i.id,
        "p1",
        episode,
        escalates,
        "resting_hr",
        str(i.severity),
        i.title,
        AT,
        orjson.loads(insight_payload(i)),
        status,
        None,
        None,
    )


class FakeReadings:
    def __init__(self, rows: list[StoredAlert]) -> None:
        self.rows = rows

    def alerts(self, patient_id: str, status: str | None = None, limit: int = 200) -> list[StoredAlert]:
        return [r for r in self.rows if r.patient_id == patient_id][:limit]


def profile() -> PatientProfile:
    return PatientProfile(demographics=Demographics("p1", None, None), as_of=AT)


def test_a_stored_insight_comes_back_equal_with_its_whole_contract():
    original = insight("Resting heart rate up")
    back = insight_from_payload(orjson.loads(insight_payload(original)))
    assert back == original
    assert back.explanation[0].phrase == "resting HR 92/min vs own 28-day baseline 71"
    assert back.evidence[0].label == "NEWS2" and back.source.version == "1.1.0" and back.confidence.level


def test_the_provider_returns_open_alerts_and_drops_escalated_and_acknowledged_ones():
    first = insight("Resting heart rate up")
    escalated = insight("Escalated: resting heart rate up", Severity.CRITICAL)
    seen = insight("SpO2 low")
    rows = [stored(escalated, escalates=first.id), stored(first), stored(seen, status="acknowledged", episode="e0")]
    provider = MonitoringAlertProvider(lambda: FakeReadings(rows))
    got = provider.insights(profile(), InsightContext(hook="patient-view"))
    assert [i.id for i in got] == [escalated.id]
    assert got[0].kind is InsightKind.MONITORING_ALERT and got[0].severity is Severity.CRITICAL
    assert [a.id for a in open_alerts(rows)] == [escalated.id]


def test_order_hooks_get_no_monitoring_alerts():
    provider = MonitoringAlertProvider(lambda: FakeReadings([stored(insight("Weight gain"))]))
    assert provider.insights(profile(), InsightContext(hook="order-select", ordered_concepts=("warfarin",))) == []


def test_the_provider_shows_at_most_its_limit():
    rows = [stored(insight(f"alert {n}"), episode=f"e{n}") for n in range(8)]
    provider = MonitoringAlertProvider(lambda: FakeReadings(rows), limit=3)
    assert len(provider.insights(profile(), InsightContext())) == 3
