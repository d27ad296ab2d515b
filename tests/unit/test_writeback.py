"""FHIR write-back resources validate as FHIR R4 (fhir.resources R4B models) and name their source version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class

from carepilot.domain.insight import Confidence, Evidence, Factor, Insight, InsightKind, Interval, Severity, Source
from carepilot.fhir.writeback import detected_issue, risk_assessment, writeback_for_call

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def insight(kind: InsightKind, **kw) -> Insight:
    base = dict(
        patient_id="p1",
        as_of=WHEN,
        kind=kind,
        title=f"{kind} finding",
        detail="detail",
        confidence=Confidence("high", "CPIC level A"),
        source=Source("engine-x", "3.1", "model"),
        explanation=(Factor("age", 0.2, "age 70"),),
        evidence=(Evidence("CPIC", "CPIC guideline", url="https://cpicpgx.org/guidelines/"),),
        severity=Severity.CRITICAL,
    )
    base.update(kw)
    return Insight(**base)


def valid(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_risk_assessment_is_valid_and_carries_the_probability():
    ra = risk_assessment(insight(InsightKind.RISK, value=0.31, interval=Interval(0.2, 0.4)))
    valid(ra)
    assert ra["prediction"][0]["probabilityDecimal"] == pytest.approx(0.31)
    assert ra["method"]["text"] == "engine-x version 3.1"


def test_detected_issue_for_interactions_uses_the_act_code():
    issue = detected_issue(insight(InsightKind.INTERACTION))
    valid(issue)
    assert issue["code"]["coding"][0]["code"] == "DRG"
    assert issue["severity"] == "high"
    assert issue["reference"] == "https://cpicpgx.org/guidelines/"


def test_a_call_writes_derived_resources_guidance_and_provenance():
    insights = [insight(InsightKind.RISK, value=0.2), insight(InsightKind.PGX), insight(InsightKind.CARE_GAP)]
    written = writeback_for_call(
        service_url="http://cds/cds-services/x",
        hook_instance="4e0a3a1e-3283-4575-ab82-028d55fe2719",
        patient_id="p1",
        insights=insights,
        skipped=["slow-engine"],
        when=WHEN,
    )
    types = [r["resourceType"] for r in written.resources]
    assert types == ["RiskAssessment", "DetectedIssue", "GuidanceResponse", "Provenance"]
    for resource in written.resources:
        valid(resource)
    guidance, prov = written.resources[2], written.resources[3]
    assert guidance["requestIdentifier"]["value"] == "urn:uuid:4e0a3a1e-3283-4575-ab82-028d55fe2719"
    assert any("slow-engine" in n["text"] for n in guidance["note"])
    assert {t["reference"] for t in prov["target"]} == {f"{r['resourceType']}/{r['id']}" for r in written.resources[:3]}
    assert prov["agent"][0]["who"]["display"] == "model engine-x version 3.1"
    assert set(written.insight_of) == {insights[0].id, insights[1].id}
