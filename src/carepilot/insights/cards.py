"""Insight -> CDS Hooks 2.0.1 card (pure: dicts in, dicts out; the API validates the shapes in its tests).

The card ``uuid`` is the Insight id, so feedback on a card joins back to the Insight and its model or rule
version; suggestion uuids derive from it, so the same Insight always yields the same suggestions.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from carepilot.domain.insight import Insight, InsightKind

KIND_SYSTEM = "https://carepilot.dev/fhir/CodeSystem/insight-kind"
OVERRIDE_SYSTEM = "https://carepilot.dev/fhir/CodeSystem/override-reason"

# Why a clinician may set a card aside; the codes are what the learning loop counts.
OVERRIDE_REASONS: tuple[dict[str, str], ...] = (
    {"code": "already-addressed", "system": OVERRIDE_SYSTEM, "display": "Already addressed or ordered elsewhere"},
    {"code": "not-relevant", "system": OVERRIDE_SYSTEM, "display": "Not relevant for this patient now"},
    {"code": "patient-declined", "system": OVERRIDE_SYSTEM, "display": "Patient declined"},
    {"code": "contraindicated", "system": OVERRIDE_SYSTEM, "display": "Contraindicated"},
    {"code": "data-incorrect", "system": OVERRIDE_SYSTEM, "display": "Underlying data is wrong or out of date"},
    {"code": "disagree-evidence", "system": OVERRIDE_SYSTEM, "display": "Disagree with the evidence or model"},
)

KIND_LABELS: dict[str, str] = {
    InsightKind.RISK: "Risk estimate",
    InsightKind.TREATMENT_OPTION: "Treatment option",
    InsightKind.DOSE: "Dose guidance",
    InsightKind.PGX: "Pharmacogenomics",
    InsightKind.ONCOLOGY: "Oncology biomarker",
    InsightKind.INTERACTION: "Drug interaction",
    InsightKind.MONITORING_ALERT: "Monitoring alert",
    InsightKind.CARE_GAP: "Care gap",
    InsightKind.ADHERENCE: "Adherence",
    InsightKind.MODEL_ALERT: "Model alert",
}


def override_reason_display(code: str | None) -> str | None:
    """The display text of one of this service's override reason codes."""
    return next((r["display"] for r in OVERRIDE_REASONS if r["code"] == code), None)


def suggestion_uuid(insight_id: str, index: int) -> str:
    """Stable uuid of the ``index``-th suggestion of an Insight's card."""
    return str(uuid.uuid5(uuid.UUID(insight_id), f"suggestion-{index}"))


def _value_line(insight: Insight) -> str | None:
    if insight.value is None:
        return None
    unit = f" {insight.unit}" if insight.unit else ""
    line = f"**Estimate:** {insight.value:.3g}{unit}"
    if insight.interval is not None:
        iv = insight.interval
        line += f" ({iv.level:.0%} interval {iv.low:.3g} to {iv.high:.3g}{unit})"
    return line


def card_detail(insight: Insight) -> str:
    """Markdown detail: what and why, the factors, confidence, evidence and source."""
    parts = [insight.detail.strip()]
    value = _value_line(insight)
    if value:
        parts.append(value)
    if insight.explanation:
        rows = [
            f"- {f.phrase} ({'+' if f.contribution >= 0 else '-'}{abs(f.contribution):.2g})"
            for f in insight.explanation
        ]
        parts.append("**Why this patient:**\n" + "\n".join(rows))
    parts.append(f"**Confidence:** {insight.confidence.level}. {insight.confidence.statement}")
    if insight.evidence:
        cites = []
        for ev in insight.evidence:
            level = f" [{ev.level}]" if ev.level else ""
            cites.append(f"- [{ev.label}]({ev.url}){level}" if ev.url else f"- {ev.label}{level}")
        parts.append("**Evidence:**\n" + "\n".join(cites))
    window = f"; data window {insight.source.data_window}" if insight.source.data_window else ""
    parts.append(f"_Source: {insight.source.kind} {insight.source.id} version {insight.source.version}{window}._")
    return "\n\n".join(parts)


def _action_label(resource: dict[str, Any]) -> str:
    rtype = resource.get("resourceType", "resource")
    concept = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    text = concept.get("text") if isinstance(concept, dict) else None
    return f"Create draft {rtype}: {text}" if text else f"Create draft {rtype}"


def insight_card(insight: Insight, base_url: str) -> dict[str, Any]:
    """The CDS Hooks card for one Insight; ``base_url`` is where this service's dashboard is reached."""
    base = base_url.rstrip("/")
    label = KIND_LABELS.get(insight.kind, str(insight.kind))
    card: dict[str, Any] = {
        "uuid": insight.id,
        "summary": insight.title[:139],
        "indicator": str(insight.severity),
        "detail": card_detail(insight),
        "source": {
            "label": f"CarePilot {label.lower()} ({insight.source.id} v{insight.source.version})",
            "url": insight.source.url
            or (
                f"{base}/dashboard/models/{insight.source.id}"
                if insight.source.kind == "model"
                else f"{base}/dashboard"
            ),
            "topic": {"system": KIND_SYSTEM, "code": str(insight.kind), "display": label},
        },
        "overrideReasons": [dict(r) for r in OVERRIDE_REASONS],
        "links": [
            {
                "label": "Open in the CarePilot dashboard",
                "url": f"{base}/dashboard/launch",
                "type": "smart",
                "appContext": orjson.dumps({"patientId": insight.patient_id, "insightId": insight.id}).decode(),
            }
        ],
    }
    if insight.actions:
        card["suggestions"] = [
            {
                "label": _action_label(resource),
                "uuid": suggestion_uuid(insight.id, index),
                "isRecommended": False,
                "actions": [{"type": "create", "description": _action_label(resource), "resource": resource}],
            }
            for index, resource in enumerate(insight.actions)
        ]
        # One proposal per card is usually all a clinician wants; several lab orders may all apply.
        card["selectionBehavior"] = "any" if insight.kind == InsightKind.CARE_GAP else "at-most-one"
    return card


def insight_cards(insights: list[Insight], base_url: str) -> list[dict[str, Any]]:
    """Cards ordered most severe first, then by kind, so critical findings lead."""
    rank = {"critical": 0, "warning": 1, "info": 2}
    ordered = sorted(insights, key=lambda i: (rank.get(str(i.severity), 3), str(i.kind), i.title))
    return [insight_card(i, base_url) for i in ordered]
