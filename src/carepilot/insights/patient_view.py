"""What a patient sees on their own page, in plain language: plan, medicines, reminders, recommendations and why.

Insights are written for clinicians; here each kind is reworded for the patient and the numbers that need a
clinician to interpret (model estimates, intervals) are left out. Genomic, risk and treatment-option details stay
with the care team: the patient sees that the team is looking at them. A safety alert (PHQ-9 item 9) always shows
crisis contacts. Also the depression-care view model used by the clinician page (trajectory and status).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from carepilot.domain.insight import Insight, InsightKind, Severity
from carepilot.domain.phq import phq9_severity
from carepilot.domain.profile import PatientProfile
from carepilot.features.adherence import adherence_by_class
from carepilot.insights.mental_health import antidepressant_course, scores
from carepilot.insights.service import InsightContext, InsightService
from carepilot.knowledge.concepts import concept_map
from carepilot.store.nudges import NudgeRepository
from carepilot.store.profiles import load_profile
from carepilot.store.repository import RecordRepository

CRISIS_LINE = (
    "If you might act on thoughts of harming yourself, call or text 988 (Suicide & Crisis Lifeline) or 911 now."
)


@dataclass(frozen=True)
class PlainItem:
    """One recommendation in the patient's words: what, why, how important."""

    title: str
    why: str
    urgent: bool = False


@dataclass
class PatientView:
    patient_id: str
    name: str
    conditions: list[str]
    medications: list[tuple[str, str]]  # (name, how to take it)
    recommendations: list[PlainItem] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    crisis: bool = False
    recent_reports: list[tuple[date, str]] = field(default_factory=list)


def _why(insight: Insight) -> str:
    phrases = [f.phrase for f in insight.explanation[:2] if f.phrase]
    return "; ".join(phrases)


def plain_item(insight: Insight) -> PlainItem | None:
    """The patient-facing wording of one Insight, or None when it is for the care team only."""
    kind = insight.kind
    if kind == InsightKind.MONITORING_ALERT and (insight.topic or "").startswith("mental_health:item9"):
        return PlainItem(
            "You told us you have had thoughts of hurting yourself. Your care team will contact you soon.",
            CRISIS_LINE,
            urgent=True,
        )
    if kind == InsightKind.CARE_GAP:
        return PlainItem(
            f"Due: {insight.title}", _why(insight) or "Your care team recommends this at your stage of care."
        )
    if kind == InsightKind.ADHERENCE:
        named = re.search(r"\(([^)]*)\)", insight.title)
        drugs = named.group(1) if named else (insight.topic or "").split(":", 1)[-1].replace("_", " ")
        return PlainItem(
            f"Your refills of {drugs} have had gaps.",
            "Medicines work best taken every day. If cost, side effects or routine get in the way, tell us: "
            "there are often simple fixes.",
        )
    if kind == InsightKind.TREATMENT_OPTION and (insight.topic or "").startswith("mental_health:"):
        return PlainItem(
            "Your care team would like to review your depression treatment with you.",
            "Your questionnaire scores have not improved as much as we hoped on your current medicine.",
        )
    if kind == InsightKind.PGX:
        return PlainItem(
            "Your genetic test result matters for one of your medicines.",
            "Your care team uses it to choose the dose or the medicine that suits you.",
        )
    if kind == InsightKind.MONITORING_ALERT and insight.severity != Severity.INFO:
        return PlainItem("Your care team has been alerted about a recent reading.", "They may contact you.")
    return None


class PatientViewService:
    """Builds a patient's own page from the record, their Insights and their nudge reminders."""

    def __init__(self, repo: RecordRepository, insights: InsightService, nudges: NudgeRepository) -> None:
        self.repo = repo
        self.insights = insights
        self.nudges = nudges

    def view(self, patient_id: str) -> PatientView:
        """The patient's page (NotFoundError when the id names no patient)."""
        profile = load_profile(self.repo, patient_id)
        cmap = concept_map()
        result = self.insights.for_patient(profile, InsightContext(hook="patient-view"))
        items = [item for i in result.insights if (item := plain_item(i)) is not None]
        items.sort(key=lambda i: not i.urgent)
        meds = []
        for m in profile.active_medications():
            known = cmap.concepts.get(m.concept or "")
            meds.append(((known.display if known else m.code.display or m.code.code).capitalize(), m.dosage or ""))
        view = PatientView(
            patient_id=patient_id,
            name=profile.demographics.name or "",
            conditions=sorted(
                {
                    (cmap.concepts[p.concept].display if p.concept in cmap.concepts else p.code.display or "condition")
                    for p in profile.active_problems()
                }
            ),
            medications=sorted(set(meds)),
            recommendations=items,
            crisis=any(i.urgent for i in items),
        )
        view.reminders = self._reminders(profile)
        return view

    def _reminders(self, profile: PatientProfile) -> list[str]:
        out = []
        for summary in adherence_by_class(profile, lookback=timedelta(days=365)):
            last = max(
                (
                    m
                    for m in profile.medications
                    if m.resource_type == "MedicationDispense" and m.authored and m.concept in summary.drugs
                ),
                key=lambda m: m.authored,  # type: ignore[arg-type,return-value]
                default=None,
            )
            if last is not None and last.authored is not None and last.days_supply:
                due = (last.authored + timedelta(days=last.days_supply)).date()
                out.append(f"Refill {last.code.display or last.concept} by {due.isoformat()}")
        for m in self.nudges.messages(profile.patient_id, limit=5):
            if m["status"] != "suppressed":
                out.append(
                    f"{m['message_type'].capitalize()} by {m['channel']} on {m['scheduled_at'].date().isoformat()}"
                )
        return out


@dataclass(frozen=True)
class DepressionCare:
    """The clinician page's depression-care section: PHQ-9 / GAD-7 series, bands and the treatment course."""

    phq9: list[tuple[datetime, float]]
    gad7: list[tuple[datetime, float]]
    latest: float | None
    band: str | None
    status: str | None
    drug: str | None
    weeks: float | None
    baseline: float | None


def depression_care(profile: PatientProfile) -> DepressionCare | None:
    """The depression-care view of a patient with depression or any PHQ-9 score; None otherwise."""
    phq = [(s.when, s.value) for s in scores(profile)]
    if not phq and not profile.has_condition("depression"):
        return None
    found = antidepressant_course(profile)
    latest = phq[-1][1] if phq else None
    return DepressionCare(
        phq9=phq,
        gad7=[(s.when, s.value) for s in scores(profile, "gad7")],
        latest=latest,
        band=phq9_severity(latest) if latest is not None else None,
        status=found.status if found else None,
        drug=found.drug if found else None,
        weeks=found.weeks_on_drug if found else None,
        baseline=found.baseline.value if found and found.baseline else None,
    )
