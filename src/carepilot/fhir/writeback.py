"""Insight -> FHIR R4 write-back resources, as plain dicts (validated against fhir.resources R4B models in tests).

- ``RiskAssessment`` for risk Insights (prediction with probability and interval rationale),
- ``DetectedIssue`` for pharmacogenomic, interaction and dose findings,
- ``GuidanceResponse`` for each hook call (what was asked, by which service, which Insights answered),
- ``Provenance`` naming the models and rules and their versions that produced the resources.

Ids of Insight-derived resources are the Insight id, so a re-delivered Insight writes nothing new.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from carepilot.domain.insight import Insight, InsightKind

ISSUE_KINDS = frozenset({InsightKind.PGX, InsightKind.INTERACTION, InsightKind.DOSE})
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
ISSUE_SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _annotation(text: str) -> dict[str, Any]:
    return {"text": text}


def risk_assessment(insight: Insight) -> dict[str, Any]:
    """A RiskAssessment for a risk Insight."""
    prediction: dict[str, Any] = {"outcome": {"text": insight.title}}
    if insight.value is not None and 0.0 <= insight.value <= 1.0:
        prediction["probabilityDecimal"] = round(insight.value, 6)
    if insight.interval is not None:
        iv = insight.interval
        prediction["rationale"] = (
            f"{iv.level:.0%} interval {iv.low:.3g} to {iv.high:.3g}; confidence {insight.confidence.level}"
        )
    else:
        prediction["rationale"] = f"confidence {insight.confidence.level}: {insight.confidence.statement}"
    return {
        "resourceType": "RiskAssessment",
        "id": insight.id,
        "status": "preliminary",
        "subject": {"reference": f"Patient/{insight.patient_id}"},
        "occurrenceDateTime": _instant(insight.as_of),
        "method": {"text": f"{insight.source.id} version {insight.source.version}"},
        "prediction": [prediction],
        "note": [_annotation(f"{f.label}: {f.phrase} ({f.contribution:+.3g})") for f in insight.explanation][:20],
    }


def detected_issue(insight: Insight) -> dict[str, Any]:
    """A DetectedIssue for a pharmacogenomic, interaction or dose finding."""
    code = (
        {"coding": [{"system": ACT_CODE, "code": "DRG", "display": "Drug Interaction Alert"}], "text": insight.title}
        if insight.kind == InsightKind.INTERACTION
        else {"text": insight.title}
    )
    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "id": insight.id,
        "status": "preliminary",
        "code": code,
        "severity": ISSUE_SEVERITY.get(str(insight.severity), "low"),
        "patient": {"reference": f"Patient/{insight.patient_id}"},
        "identifiedDateTime": _instant(insight.as_of),
        "detail": insight.detail[:4000],
    }
    url = next((e.url for e in insight.evidence if e.url), None)
    if url:
        issue["reference"] = url
    return issue


def guidance_response(
    *,
    service_url: str,
    hook_instance: str,
    patient_id: str,
    insights: Sequence[Insight],
    when: datetime,
    skipped: Sequence[str] = (),
) -> dict[str, Any]:
    """The GuidanceResponse recording one hook call and the Insights that answered it."""
    notes = [_annotation(f"[{i.severity}] {i.title} ({i.source.id} v{i.source.version})") for i in insights]
    notes += [_annotation(f"engine skipped: {name}") for name in skipped]
    response: dict[str, Any] = {
        "resourceType": "GuidanceResponse",
        "id": str(uuid.uuid4()),
        "requestIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{hook_instance}"}
        if _is_uuid(hook_instance)
        else {"value": hook_instance},
        "moduleUri": service_url,
        "status": "success",
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": _instant(when),
    }
    if notes:
        response["note"] = notes
    return response


def provenance(targets: Sequence[dict[str, Any]], insights: Sequence[Insight], when: datetime) -> dict[str, Any]:
    """A Provenance naming every model and rule (with version) behind the written resources."""
    sources = {(i.source.kind, i.source.id, i.source.version) for i in insights}
    agents = [
        {
            "type": {"coding": [{"system": PARTICIPANT, "code": "author", "display": "Author"}]},
            "who": {"display": f"{kind} {sid} version {version}"},
        }
        for kind, sid, version in sorted(sources)
    ] or [
        {
            "type": {"coding": [{"system": PARTICIPANT, "code": "assembler", "display": "Assembler"}]},
            "who": {"display": "CarePilot CDS service"},
        }
    ]
    return {
        "resourceType": "Provenance",
        "id": str(uuid.uuid4()),
        "target": [{"reference": f"{r['resourceType']}/{r['id']}"} for r in targets],
        "recorded": _instant(when),
        "agent": agents,
    }


@dataclass(frozen=True)
class WriteBack:
    """Resources to store for one hook call, and which Insight each derived resource came from."""

    resources: tuple[dict[str, Any], ...]
    insight_of: dict[str, str]


def writeback_for_call(
    *,
    service_url: str,
    hook_instance: str,
    patient_id: str,
    insights: Sequence[Insight],
    skipped: Sequence[str] = (),
    when: datetime | None = None,
) -> WriteBack:
    """Every write-back resource for one hook call: derived resources, the GuidanceResponse, a Provenance."""
    when = when or datetime.now(UTC)
    derived: list[dict[str, Any]] = []
    insight_of: dict[str, str] = {}
    for insight in insights:
        if insight.kind == InsightKind.RISK:
            derived.append(risk_assessment(insight))
        elif insight.kind in ISSUE_KINDS:
            derived.append(detected_issue(insight))
        else:
            continue
        insight_of[insight.id] = insight.id
    guidance = guidance_response(
        service_url=service_url,
        hook_instance=hook_instance,
        patient_id=patient_id,
        insights=insights,
        when=when,
        skipped=skipped,
    )
    prov = provenance([*derived, guidance], insights, when)
    return WriteBack(resources=(*derived, guidance, prov), insight_of=insight_of)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
