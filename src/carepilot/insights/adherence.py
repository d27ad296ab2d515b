"""Adherence Insights (kind ``adherence``): drug classes the patient is still prescribed but collects too little of.

A class qualifies when the patient has an active order for one of its drugs and the PQA proportion of days covered
over the last year is under 80%. A class with no active order is left out: a stopped drug is not non-adherence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from carepilot.domain.adherence import AdherenceSummary
from carepilot.domain.insight import Confidence, Declined, Evidence, Factor, Insight, InsightKind, Severity, Source
from carepilot.domain.profile import PatientProfile
from carepilot.features.adherence import DEFAULT_LOOKBACK, adherence_by_class, drug_group
from carepilot.insights.service import InsightContext

SOURCE = Source(id="adherence-pqa-pdc", version="2026.11.0", kind="rule", url=None)
EVIDENCE = (
    Evidence(
        label="PQA Proportion of Days Covered",
        citation="Pharmacy Quality Alliance. PQA adherence measures: Proportion of Days Covered (PDC), "
        "technical specifications; threshold 80%.",
        url="https://www.pqaalliance.org/adherence-measures",
        level="quality measure",
    ),
    Evidence(
        label="Osterberg & Blaschke 2005",
        citation="Osterberg L, Blaschke T. Adherence to medication. N Engl J Med 2005;353:487-497.",
        url="https://doi.org/10.1056/NEJMra050100",
        level="review",
    ),
)
MAX_GAPS_LISTED = 4


def _label(group: str) -> str:
    return group.replace("_", " ")


def adherence_insight(profile: PatientProfile, summary: AdherenceSummary) -> Insight:
    """One Insight naming the drugs, the PDC and MPR, the gaps and the trend of one drug class."""
    drugs = ", ".join(summary.drugs)
    longest = summary.longest_gap
    gap_lines = [
        f"- {g.start.isoformat()} to {g.end.isoformat()}: {g.days} days without supply"
        for g in sorted(summary.gaps, key=lambda g: -g.days)[:MAX_GAPS_LISTED]
    ]
    more = len(summary.gaps) - len(gap_lines)
    if more > 0:
        gap_lines.append(f"- and {more} shorter gap{'s' if more > 1 else ''}")
    trend = ", ".join(f"{d.isoformat()}: {v:.0%}" for d, v in summary.trend)
    detail = "\n".join(
        [
            f"**{_label(summary.group)}** ({drugs}): proportion of days covered **{summary.pdc:.0%}** from "
            f"{summary.index_date.isoformat()} to {summary.period_end.isoformat()} "
            f"({summary.days_covered} of {summary.days_in_period} days"
            + (f"; {summary.days_in_hospital} days in hospital not counted" if summary.days_in_hospital else "")
            + f"); medication possession ratio {summary.mpr:.2f}. The usual threshold is {summary.threshold:.0%}.",
            "",
            "**Gaps in supply**",
            *(gap_lines or ["- none longer than a day"]),
            "",
            f"**Trend** ({summary.trend_word}) by 90-day window: {trend or 'less than 90 days of history'}.",
            "",
            "Consider asking about cost, side effects and routines; a refill reminder, 90-day supplies or "
            "synchronised refills may help. Fills from pharmacies outside this record are not seen.",
        ]
    )
    factors = [
        # Signed like risk factors: positive = a reason for concern (drawn red), negative = reassuring.
        Factor("Proportion of days covered", summary.threshold - summary.pdc, f"PDC {summary.pdc:.0%} (goal 80%)"),
    ]
    if longest is not None:
        factors.append(
            Factor("Longest gap", min(longest.days / 90.0, 1.0), f"{longest.days} days from {longest.start}")
        )
    slope = summary.trend_slope
    if slope is not None:
        factors.append(Factor("Trend", -slope, f"{summary.trend_word} ({slope:+.0%} per 90 days)"))
    return Insight(
        patient_id=profile.patient_id,
        as_of=profile.as_of,
        kind=InsightKind.ADHERENCE,
        title=f"Low adherence to {_label(summary.group)} ({drugs})"[:110] + f": PDC {summary.pdc:.0%}",
        detail=detail,
        confidence=Confidence(
            level="moderate",
            statement="Computed from the pharmacy dispenses in this record; supply bought elsewhere is missed.",
            value=None,
        ),
        source=SOURCE,
        explanation=tuple(factors),
        evidence=EVIDENCE,
        value=round(summary.pdc, 4),
        unit="PDC",
        severity=Severity.WARNING,
        topic=f"adherence:{summary.group}",
    )


class AdherenceProvider:
    """Adherence Insights for the drug classes with an active order and a PDC under the threshold."""

    name = "adherence"

    def __init__(self, lookback: timedelta = DEFAULT_LOOKBACK) -> None:
        self.lookback = lookback

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        if context.ordered_concepts:
            return []
        ordered = {drug_group(m.concept, m.code.display)[0] for m in profile.active_medications()}
        return [
            adherence_insight(profile, s)
            for s in adherence_by_class(profile, lookback=self.lookback)
            if not s.adherent and s.group in ordered
        ]
