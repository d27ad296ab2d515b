"""What the clinician dashboard shows: the patient list, one patient's page, model cards, and dashboard feedback.

Framework-free view models; the router renders them with the Jinja templates in ``carepilot/web/templates``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from carepilot.domain.insight import Insight, InsightKind
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError
from carepilot.insights.cards import OVERRIDE_REASONS, override_reason_display
from carepilot.insights.service import InsightContext, InsightService
from carepilot.knowledge.concepts import concept_map
from carepilot.security.audit import AuditEntry
from carepilot.store.feedback import SEVERITY_RANK, DeliveryRepository, FeedbackRecord
from carepilot.store.fhir_read import FhirReadRepository
from carepilot.store.profiles import load_profile
from carepilot.store.repository import RecordRepository
from carepilot.web.charts import Band, Span

# Trend charts on the patient page: concept, reference lines (goal or threshold) with their source.
TREND_CHARTS: tuple[tuple[str, tuple[Band, ...]], ...] = (
    ("hba1c", (Band(7.0, "goal 7"),)),
    ("egfr", (Band(60.0, "60"),)),
    ("systolic_bp", (Band(140.0, "140"),)),
    ("diastolic_bp", (Band(90.0, "90"),)),
    ("ldl", (Band(190.0, "190"),)),
    ("body_weight", ()),
    ("albumin_creatinine_ratio", (Band(30.0, "30"),)),
    ("potassium", ()),
)
ALERT_KINDS = frozenset(
    {InsightKind.MONITORING_ALERT, InsightKind.INTERACTION, InsightKind.DOSE, InsightKind.MODEL_ALERT}
)
SORTS = ("name", "age", "severity")


@dataclass(frozen=True)
class PatientRow:
    patient_id: str
    name: str
    sex: str | None
    age: int | None
    conditions: tuple[str, ...]
    top_severity: str | None = None
    top_title: str | None = None
    insight_count: int = 0


@dataclass
class PatientPage:
    profile: PatientProfile
    name: str
    age: int | None
    conditions: list[str]
    risks: list[Insight] = field(default_factory=list)
    options: list[Insight] = field(default_factory=list)
    pgx: list[Insight] = field(default_factory=list)
    alerts: list[Insight] = field(default_factory=list)
    gaps: list[Insight] = field(default_factory=list)
    other: list[Insight] = field(default_factory=list)
    trends: list[tuple[str, str, list[tuple[datetime, float]], tuple[Band, ...]]] = field(default_factory=list)
    medications: list[Span] = field(default_factory=list)
    span: tuple[datetime, datetime] | None = None
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelCard:
    id: str
    path: Path
    kind: str  # json | markdown
    content: Any


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return int((today - birth).days // 365.25)


class DashboardService:
    """Builds the dashboard's view models from the store and the insight providers."""

    def __init__(
        self,
        repo: RecordRepository,
        reads: FhirReadRepository,
        delivery: DeliveryRepository,
        insights: InsightService,
    ) -> None:
        self.repo = repo
        self.reads = reads
        self.delivery = delivery
        self.insights = insights

    def patient_rows(
        self,
        query: str = "",
        condition: str = "",
        severity: str = "",
        sort: str = "name",
        descending: bool = False,
    ) -> list[PatientRow]:
        """The patient list, filtered by name/id text, condition concept and least severity, then sorted."""
        if sort not in SORTS:
            raise InputError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        cmap = concept_map()
        conditions = self.reads.active_conditions()
        tops = self.delivery.highest_severity()
        today = datetime.now(UTC).date()
        rows: list[PatientRow] = []
        needle = query.strip().lower()
        least = SEVERITY_RANK.get(severity, 0)
        for p in self.repo.list_patients():
            pid = p["patient_id"]
            name = " ".join(x for x in (p.get("given"), p.get("family")) if x) or pid
            concepts = conditions.get(pid, ())
            top = tops.get(pid)
            if needle and needle not in name.lower() and needle not in pid.lower():
                continue
            if condition and condition not in concepts:
                continue
            if least and (top is None or top["rank"] < least):
                continue
            rows.append(
                PatientRow(
                    patient_id=pid,
                    name=name,
                    sex=p.get("sex"),
                    age=_age(p.get("birth_date"), today),
                    conditions=tuple(cmap.concepts[c].display if c in cmap.concepts else c for c in concepts),
                    top_severity=top["severity"] if top else None,
                    top_title=top["title"] if top else None,
                    insight_count=top["count"] if top else 0,
                )
            )
        keys = {
            "name": lambda r: r.name.lower(),
            "age": lambda r: r.age if r.age is not None else -1,
            "severity": lambda r: (SEVERITY_RANK.get(r.top_severity or "", 0), r.insight_count),
        }
        return sorted(rows, key=keys[sort], reverse=descending)

    def refresh(self, patient_ids: Sequence[str] | None = None) -> int:
        """Compute and store every patient's Insights (fills the list's flag column); returns patients done."""
        ids = list(patient_ids) if patient_ids is not None else [p["patient_id"] for p in self.repo.list_patients()]
        for pid in ids:
            profile = load_profile(self.repo, pid)
            self.delivery.record_delivery(self.insights.for_patient(profile, InsightContext(hook="dashboard")).insights)
        return len(ids)

    def condition_choices(self) -> list[tuple[str, str]]:
        """(concept key, display) of the conditions the concept map knows."""
        return [(c.key, c.display) for c in concept_map().concepts.values() if c.domain == "condition"]

    def patient_page(self, patient_id: str) -> PatientPage:
        """One patient's page: Insights by section, trend series, medication spans, earlier feedback."""
        profile = load_profile(self.repo, patient_id)
        cmap = concept_map()
        result = self.insights.for_patient(profile, InsightContext(hook="dashboard"))
        self.delivery.record_delivery(result.insights)
        page = PatientPage(
            profile=profile,
            name=profile.demographics.name or patient_id,
            age=int(profile.age) if profile.age is not None else None,
            conditions=sorted(
                {
                    cmap.concepts[p.concept].display if p.concept in cmap.concepts else (p.code.display or p.code.code)
                    for p in profile.active_problems()
                }
            ),
            skipped=list(result.skipped),
        )
        for insight in sorted(result.insights, key=lambda i: -SEVERITY_RANK.get(str(i.severity), 0)):
            if insight.kind == InsightKind.RISK:
                page.risks.append(insight)
            elif insight.kind == InsightKind.TREATMENT_OPTION:
                page.options.append(insight)
            elif insight.kind == InsightKind.PGX:
                page.pgx.append(insight)
            elif insight.kind in ALERT_KINDS:
                page.alerts.append(insight)
            elif insight.kind == InsightKind.CARE_GAP:
                page.gaps.append(insight)
            else:
                page.other.append(insight)
        for concept, bands in TREND_CHARTS:
            series = [(m.effective, m.value) for m in profile.series(concept) if m.effective and m.value is not None]
            if series:
                known = cmap.concepts.get(concept)
                page.trends.append(
                    (known.display if known else concept, (known.unit or "") if known else "", series, bands)
                )
        page.medications, page.span = _medication_spans(profile)
        # Insight ids carry the time they were computed, so an earlier decision is matched by what it was about.
        for row in self.delivery.feedback(patient_id):
            page.feedback.setdefault(decision_key(row["source_id"], row["title"]), row)
        return page

    def record_feedback(
        self,
        insight_id: str,
        outcome: str,
        reason_code: str | None,
        comment: str | None,
        user: str | None,
        audit: AuditEntry | None = None,
    ) -> str:
        """Store an accept/override given on the dashboard (and its audit entry); returns the Insight's patient id."""
        if outcome not in ("accepted", "overridden"):
            raise InputError(f"outcome must be accepted or overridden, got {outcome!r}")
        if outcome == "overridden" and not override_reason_display(reason_code):
            raise InputError("an override needs one of the listed reasons")
        stored = self.delivery.insight(insight_id)
        self.delivery.record_feedback(
            [
                FeedbackRecord(
                    service_id="dashboard",
                    channel="dashboard",
                    card=insight_id,
                    outcome=outcome,
                    outcome_timestamp=datetime.now(UTC),
                    override_code=reason_code if outcome == "overridden" else None,
                    override_system=OVERRIDE_REASONS[0]["system"] if outcome == "overridden" else None,
                    override_display=override_reason_display(reason_code) if outcome == "overridden" else None,
                    user_comment=(comment or None),
                    user_id=user or None,
                )
            ],
            audit=audit,
        )
        return str(stored["patient_id"])


def decision_key(source_id: str | None, title: str | None) -> str:
    """What a clinician decided about: the same rule or model saying the same thing."""
    return f"{source_id}|{title}"


def _medication_spans(profile: PatientProfile) -> tuple[list[Span], tuple[datetime, datetime] | None]:
    by_label: dict[str, Span] = {}
    for med in profile.medications:
        if med.authored is None or med.resource_type == "MedicationDispense":
            continue
        label = med.code.display or med.concept or med.code.code
        active = med.active_at(profile.as_of)
        end = None if active else (med.ended or med.authored + timedelta(days=med.days_supply or 30))
        known = by_label.get(label)
        if known is None:
            by_label[label] = Span(label, med.authored, end, active)
        else:
            start = min(known.start, med.authored)
            later_end = None if (known.end is None or end is None) else max(known.end, end)
            by_label[label] = Span(label, start, later_end, known.active or active)
    spans = sorted(by_label.values(), key=lambda s: s.start)
    if not spans:
        return [], None
    return spans, (spans[0].start, profile.as_of)


def model_cards(models_dir: Path) -> list[ModelCard]:
    """Model cards in the registry folder: ``*card*.json`` and ``*.md`` files (empty when there are none)."""
    if not models_dir.is_dir():
        return []
    found: list[ModelCard] = []
    for path in sorted(models_dir.rglob("*")):
        if not path.is_file():
            continue
        model_id = path.parent.name if path.parent != models_dir else path.stem
        if path.parent.name.isdigit() and path.parent.parent != models_dir.parent:
            model_id = path.parent.parent.name  # registry layout: <models>/<name>/<version>/card.json
        if path.suffix == ".json" and "card" in path.name:
            try:
                found.append(ModelCard(model_id, path, "json", orjson.loads(path.read_bytes())))
            except (OSError, orjson.JSONDecodeError):
                continue
        elif path.suffix == ".md":
            found.append(ModelCard(model_id, path, "markdown", path.read_text(encoding="utf-8", errors="replace")))
    return found


def find_model_card(models_dir: Path, model_id: str) -> Sequence[ModelCard]:
    """The cards of one model id (by folder or file stem)."""
    return [c for c in model_cards(models_dir) if c.id == model_id]
