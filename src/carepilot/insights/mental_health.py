"""Measurement-based depression care as Insights: the PHQ-9 item-9 safety alert and the not-improving switch prompt.

- PHQ-9 item 9 answered above 0 in the last 90 days (and not answered 0 since) -> a critical ``monitoring_alert``
  asking the clinician to assess suicide risk now, with a Stanley-Brown safety-plan prompt.
- On an antidepressant for an adequate trial (``domain.phq``: >= 6 weeks since the order, APA 2010 / NICE NG222)
  with neither response nor remission -> a ``treatment_option`` Insight listing the alternatives ranked by the
  treatment-effect engine of the ``antidepressant`` decision, each option checked against the patient's CYP2C19 /
  CYP2D6 results by the pharmacogenomics engine (an option with actionable CPIC guidance moves below the options
  without, and says why). Without a registered effect model the options keep the decision's order and the Insight
  says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Severity,
    Source,
)
from carepilot.domain.phq import Score, TreatmentCourse, course, phq9_severity, self_harm_positive
from carepilot.domain.profile import Medication, PatientProfile
from carepilot.errors import CarePilotError
from carepilot.insights.effects import TreatmentOptionsProvider
from carepilot.insights.service import InsightContext
from carepilot.knowledge.concepts import concept_map
from carepilot.knowledge.pgx.catalog import cached_catalog
from carepilot.knowledge.pgx.guidance import rule_table
from carepilot.knowledge.pgx.insights import evaluate
from carepilot.models.effects.decision import load_decision
from carepilot.models.registry import ModelRegistry

DECISION = "antidepressant"
ANTIDEPRESSANT_CLASSES = frozenset({"ssri", "snri", "ndri", "nassa", "tca", "antidepressant"})
ITEM9_RECENT = timedelta(days=90)
SOURCE = Source(id="mental-health-mbc", version="2026.11.0", kind="rule")
SAFETY_EVIDENCE = (
    Evidence(
        label="Stanley & Brown safety planning",
        citation="Stanley B, Brown GK. Safety Planning Intervention: a brief intervention to mitigate suicide risk. "
        "Cogn Behav Pract 2012;19:256-264.",
        url="https://doi.org/10.1016/j.cbpra.2011.01.001",
        level="intervention",
    ),
    Evidence(
        label="Simon 2013: PHQ-9 item 9 and suicide risk",
        citation="Simon GE, et al. Does response on the PHQ-9 depression questionnaire predict subsequent suicide "
        "attempt or suicide death? Psychiatr Serv 2013;64:1195-1202.",
        url="https://doi.org/10.1176/appi.ps.201200587",
        level="cohort",
    ),
)
TRIAL_EVIDENCE = (
    Evidence(
        label="APA practice guideline, MDD (3rd ed.)",
        citation="American Psychiatric Association. Practice guideline for the treatment of patients with major "
        "depressive disorder, 3rd edition, 2010: reassess after 4-8 weeks; change treatment without "
        "moderate improvement after an adequate trial of 6-8 weeks.",
        url="https://psychiatryonline.org/guidelines",
        level="guideline",
    ),
    Evidence(
        label="NICE NG222 (2022)",
        citation="NICE guideline NG222: Depression in adults, treatment and management (2022), section 1.9 "
        "(no or limited response to treatment).",
        url="https://www.nice.org.uk/guidance/ng222",
        level="guideline",
    ),
    Evidence(
        label="Kroenke 2001 PHQ-9",
        citation="Kroenke K, Spitzer RL, Williams JB. The PHQ-9: validity of a brief depression severity measure. "
        "J Gen Intern Med 2001;16:606-613.",
        url="https://doi.org/10.1046/j.1525-1497.2001.016009606.x",
        level="validation study",
    ),
)
SAFETY_PLAN = """**Assess suicide risk today** (for example with the Columbia Suicide Severity Rating Scale) and, \
with the patient, write a **safety plan** (Stanley & Brown):

1. Warning signs: thoughts, moods or situations that come before a crisis.
2. Internal coping strategies the patient can use alone.
3. People and social settings that distract.
4. People the patient can ask for help (names and numbers).
5. Professionals and services to contact in a crisis (the care team, 988 Suicide & Crisis Lifeline, emergency \
services).
6. Making the environment safe: reducing access to lethal means (medicines, firearms).

Decision support only: the clinician judges risk and acts."""


def scores(profile: PatientProfile, concept: str = "phq9") -> list[Score]:
    """The patient's scores of one questionnaire concept, oldest first."""
    return [Score(m.effective, m.value) for m in profile.series(concept) if m.effective and m.value is not None]


def current_antidepressant(profile: PatientProfile, classes: dict[str, str | None]) -> Medication | None:
    """The most recently ordered active antidepressant (its order date starts the trial at that dose)."""
    active = [
        m
        for m in profile.active_medications()
        if m.authored is not None and (classes.get(m.concept or "") or "") in ANTIDEPRESSANT_CLASSES
    ]
    return max(active, key=lambda m: m.authored) if active else None  # type: ignore[arg-type,return-value]


def antidepressant_course(profile: PatientProfile) -> TreatmentCourse | None:
    """The PHQ-9 course on the current antidepressant, or None when there is none."""
    classes = {k: c.drug_class for k, c in concept_map().concepts.items() if c.domain == "medication"}
    drug = current_antidepressant(profile, classes)
    if drug is None or drug.authored is None:
        return None
    return course(scores(profile), drug.concept or drug.code.display or "antidepressant", drug.authored, profile.as_of)


def item9_alert(profile: PatientProfile) -> Insight | None:
    """A critical alert when the latest PHQ-9 item 9 answer (last 90 days) is above 0."""
    answers = [s for s in scores(profile, "phq9_item9") if profile.as_of - s.when <= ITEM9_RECENT]
    if not answers or not self_harm_positive(answers[-1].value):
        return None
    latest = answers[-1]
    total = [s for s in scores(profile) if abs((s.when - latest.when).total_seconds()) < 86400]
    words = {1: "several days", 2: "more than half the days", 3: "nearly every day"}
    answer = words.get(int(latest.value), f"score {latest.value:g}")
    detail = (
        f"On {latest.when.date().isoformat()} the patient answered PHQ-9 item 9 (thoughts that they would be better "
        f"off dead or of hurting themselves) with **{answer}** ({latest.value:g} of 3)"
        + (f"; PHQ-9 total {total[-1].value:g} ({phq9_severity(total[-1].value)})" if total else "")
        + ".\n\n"
        + SAFETY_PLAN
    )
    return Insight(
        patient_id=profile.patient_id,
        as_of=profile.as_of,
        kind=InsightKind.MONITORING_ALERT,
        title=f"Self-harm thoughts reported (PHQ-9 item 9 = {latest.value:g}): assess risk and make a safety plan",
        detail=detail,
        confidence=Confidence(
            level="high",
            statement="Patient-reported answer in the record; a positive item 9 raises the risk of a suicide "
            "attempt in the following year (Simon 2013) but does not measure it.",
        ),
        source=SOURCE,
        explanation=(Factor("PHQ-9 item 9", float(latest.value) / 3.0, f"answered {answer}"),),
        evidence=SAFETY_EVIDENCE,
        value=float(latest.value),
        unit="item score",
        severity=Severity.CRITICAL,
        actions=(
            {
                "resourceType": "CarePlan",
                "status": "draft",
                "intent": "proposal",
                "subject": {"reference": f"Patient/{profile.patient_id}"},
                "title": "Safety plan (Stanley-Brown)",
                "description": "Collaborative safety plan after a positive PHQ-9 item 9.",
                "code": {"text": "Safety plan"},
            },
        ),
        topic="mental_health:item9",
    )


@dataclass(frozen=True)
class RankedOption:
    key: str
    label: str
    expected: float | None
    interval: tuple[float, float] | None
    pgx: tuple[str, ...]


class MentalHealthProvider:
    """The item-9 safety alert and, after an adequate trial without response, the ranked alternatives."""

    name = "mental_health"

    def __init__(self, registry: ModelRegistry, reference_data: Path) -> None:
        self.registry = registry
        self.reference_data = reference_data

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        if context.ordered_concepts:
            return []
        out: list[Insight | Declined] = []
        alert = item9_alert(profile)
        if alert is not None:
            out.append(alert)
        found = antidepressant_course(profile)
        if found is not None and found.not_improving:
            out.append(self.switch_insight(profile, found))
        return out

    def _pgx_notes(self, profile: PatientProfile, drug: str) -> tuple[str, ...]:
        if drug not in rule_table().drugs:
            return ()
        try:
            tables = cached_catalog(self.reference_data).tables
        except (CarePilotError, OSError):
            tables = {}
        result = evaluate(profile, [drug], tables=tables)
        return tuple(i.title for i in result.insights)

    def ranked_options(self, profile: PatientProfile, current: str) -> tuple[list[RankedOption], str]:
        """Alternatives to ``current``: effect-engine order, then options with actionable CPIC guidance last."""
        spec = load_decision(DECISION)
        note = ""
        order: list[RankedOption] = []
        produced = TreatmentOptionsProvider(self.registry, DECISION).insights(profile, InsightContext())
        ranked = [i for i in produced if isinstance(i, Insight)]
        if ranked:
            for i in ranked:
                key = (i.topic or "").split(":", 1)[-1]
                interval = (i.interval.low, i.interval.high) if i.interval else None
                order.append(RankedOption(key, spec.option(key).label, i.value, interval, ()))
            note = f"ranked by the treatment-effect model `{ranked[0].source.id}` v{ranked[0].source.version}"
        else:
            reasons = "; ".join(d.reason for d in produced if isinstance(d, Declined)) or "no estimate"
            order = [RankedOption(o.key, o.label, None, None, ()) for o in spec.options]
            note = f"in the decision's listed order: the effect model gave no ranking ({reasons})"
        order = [o for o in order if o.key != current]
        with_pgx = [
            RankedOption(o.key, o.label, o.expected, o.interval, self._pgx_notes(profile, o.key)) for o in order
        ]
        # Stable: effect order kept within each group; CPIC-flagged options after the others.
        with_pgx.sort(key=lambda o: bool(o.pgx))
        return with_pgx, note

    def switch_insight(self, profile: PatientProfile, found: TreatmentCourse) -> Insight:
        """A prompt to review the antidepressant, with the alternatives ranked and pharmacogenomically checked."""
        assert found.baseline is not None and found.latest is not None  # not_improving guarantees both
        options, note = self.ranked_options(profile, found.drug)
        change = found.change or 0.0
        lines = []
        for n, o in enumerate(options, start=1):
            est = ""
            if o.expected is not None:
                est = f": expected PHQ-9 change at 8 weeks {o.expected:+.1f}"
                if o.interval:
                    est += f" (95% interval {o.interval[0]:+.1f} to {o.interval[1]:+.1f})"
            flag = f" — CPIC: {'; '.join(o.pgx)}" if o.pgx else ""
            lines.append(f"{n}. **{o.label}**{est}{flag}")
        detail = "\n".join(
            [
                f"On **{found.drug}** since {found.started.date().isoformat()} ({found.weeks_on_drug:.0f} weeks). "
                f"PHQ-9 {found.baseline.value:g} ({phq9_severity(found.baseline.value)}) on "
                f"{found.baseline.when.date().isoformat()} -> {found.latest.value:g} "
                f"({phq9_severity(found.latest.value)}) on {found.latest.when.date().isoformat()}: "
                f"{change:+.0%}, short of a response (50% drop) and of remission (under 5).",
                "",
                "Before switching, check adherence, dose and side effects (APA 2010; NICE NG222 1.9). "
                f"Alternatives, {note}:",
                "",
                *lines,
            ]
        )
        return Insight(
            patient_id=profile.patient_id,
            as_of=profile.as_of,
            kind=InsightKind.TREATMENT_OPTION,
            title=f"Depression not improving on {found.drug} after {found.weeks_on_drug:.0f} weeks: review treatment",
            detail=detail,
            confidence=Confidence(
                level="moderate",
                statement="Trial adequacy and response are from the PHQ-9 scores and the order date in the record; "
                "the dose and adherence are not checked here.",
            ),
            source=SOURCE,
            explanation=(
                Factor("PHQ-9 change from baseline", 0.5 + change, f"{change:+.0%} (response needs -50%)"),
                Factor("Weeks on the drug", min(found.weeks_on_drug / 8.0, 1.0), f"{found.weeks_on_drug:.0f} weeks"),
            ),
            evidence=TRIAL_EVIDENCE,
            value=found.latest.value,
            unit="PHQ-9",
            severity=Severity.WARNING,
            topic="mental_health:not_improving",
        )
