"""Insight -> CDS Hooks card: shape (validated with the service's own 2.0.1 models), ids, content."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from carepilot.api.cds_models import Card, CdsResponse
from carepilot.domain.insight import Confidence, Evidence, Factor, Insight, InsightKind, Interval, Severity, Source
from carepilot.insights.cards import OVERRIDE_REASONS, insight_card, insight_cards, suggestion_uuid

BASE = "http://cds.example.test"


def make(kind=InsightKind.RISK, severity=Severity.WARNING, actions=(), title="30-day readmission risk 18%") -> Insight:
    return Insight(
        patient_id="p1",
        as_of=datetime(2026, 1, 1, tzinfo=UTC),
        kind=kind,
        title=title,
        detail="Risk of readmission within 30 days.",
        confidence=Confidence("moderate", "calibration slope 0.96 on held-out folds", 0.8),
        source=Source("readmission-lgbm", "1.2.0", "model", data_window="2019-2024"),
        explanation=(Factor("prior admissions", 0.42, "3 admissions in 12 months"), Factor("age", -0.1, "age 54")),
        evidence=(Evidence("Model card", "readmission model card", url="http://x/card", level="internal validation"),),
        value=0.18,
        interval=Interval(0.12, 0.25),
        severity=severity,
        actions=actions,
    )


def test_card_is_valid_cds_hooks_and_keyed_by_the_insight_id():
    insight = make()
    card = insight_card(insight, BASE)
    Card.model_validate(card)
    assert card["uuid"] == insight.id
    assert card["indicator"] == "warning"
    assert len(card["summary"]) < 140


def test_detail_states_factors_confidence_evidence_and_version():
    detail = insight_card(make(), BASE)["detail"]
    assert "3 admissions in 12 months (+0.42)" in detail
    assert "age 54 (-0.1)" in detail
    assert "**Confidence:** moderate" in detail
    assert "[Model card](http://x/card)" in detail
    assert "readmission-lgbm version 1.2.0" in detail
    assert "95% interval 0.12 to 0.25" in detail


def test_model_source_links_to_its_model_card_page_and_a_smart_link_opens_the_patient():
    card = insight_card(make(), BASE)
    assert card["source"]["url"] == f"{BASE}/dashboard/models/readmission-lgbm"
    assert card["source"]["topic"]["code"] == "risk"
    link = card["links"][0]
    assert link["type"] == "smart" and link["url"] == f"{BASE}/dashboard/launch"
    assert orjson.loads(link["appContext"])["patientId"] == "p1"


def test_actions_become_suggestions_with_selection_behaviour_and_stable_uuids():
    order = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal", "code": {"text": "HbA1c"}}
    insight = make(kind=InsightKind.CARE_GAP, actions=(order,), title="No HbA1c in 6 months")
    card = insight_card(insight, BASE)
    Card.model_validate(card)
    assert card["selectionBehavior"] == "any"
    suggestion = card["suggestions"][0]
    assert suggestion["uuid"] == suggestion_uuid(insight.id, 0)
    assert uuid.UUID(suggestion["uuid"])  # a real uuid
    assert suggestion["actions"][0] == {
        "type": "create",
        "description": "Create draft ServiceRequest: HbA1c",
        "resource": order,
    }


def test_no_actions_no_suggestions_and_override_reasons_always_offered():
    card = insight_card(make(), BASE)
    assert "suggestions" not in card and "selectionBehavior" not in card
    assert [r["code"] for r in card["overrideReasons"]] == [r["code"] for r in OVERRIDE_REASONS]


def test_cards_are_ordered_most_severe_first():
    cards = insight_cards(
        [make(severity=Severity.INFO, title="a"), make(severity=Severity.CRITICAL, title="b"), make(title="c")], BASE
    )
    CdsResponse.model_validate({"cards": cards})
    assert [c["indicator"] for c in cards] == ["critical", "warning", "info"]
