"""Measurement-based depression care: PHQ-9 and GAD-7 scoring, severity bands, response and remission.

Bands: PHQ-9 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe (Kroenke, Spitzer &
Williams, J Gen Intern Med 2001;16:606-613); GAD-7 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe (Spitzer et
al., Arch Intern Med 2006;166:1092-1097). Response is a drop of at least 50% from baseline and remission a PHQ-9
under 5 (Kroenke 2001; the definitions used by STAR*D and the NIMH measurement-based care literature). An
adequate antidepressant trial is 6-8 weeks at a therapeutic dose before judging it (APA Practice Guideline for
Major Depressive Disorder, 3rd ed. 2010; NICE NG222, 2022, 1.9: review after 4 weeks, switch if no response after
an adequate trial); this module uses 6 weeks as the lower bound and calls 8 weeks a full trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from carepilot.errors import InputError

PHQ9_BANDS: tuple[tuple[int, str], ...] = (
    (0, "minimal"),
    (5, "mild"),
    (10, "moderate"),
    (15, "moderately severe"),
    (20, "severe"),
)
GAD7_BANDS: tuple[tuple[int, str], ...] = ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe"))
PHQ9_MAX, GAD7_MAX = 27, 21
RESPONSE_DROP = 0.5
REMISSION_BELOW = 5
ADEQUATE_TRIAL = timedelta(weeks=6)
FULL_TRIAL = timedelta(weeks=8)
BASELINE_BEFORE = timedelta(days=30)  # a score this long before the start still counts as the baseline
BASELINE_AFTER = timedelta(days=14)  # ... or this long after it, when none came before


class QuestionnaireError(InputError):
    """A questionnaire's answers are missing, out of range or the wrong number."""


def _score(items: Sequence[int], n: int, name: str) -> int:
    if len(items) != n:
        raise QuestionnaireError(f"{name} needs {n} item answers, got {len(items)}")
    for i, value in enumerate(items, start=1):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
            raise QuestionnaireError(f"{name} item {i} must be an integer 0-3, got {value!r}")
    return sum(items)


def score_phq9(items: Sequence[int]) -> int:
    """PHQ-9 total (0-27) from the nine item answers, each 0-3."""
    return _score(items, 9, "PHQ-9")


def score_gad7(items: Sequence[int]) -> int:
    """GAD-7 total (0-21) from the seven item answers, each 0-3."""
    return _score(items, 7, "GAD-7")


def _band(score: float, bands: tuple[tuple[int, str], ...], top: int, name: str) -> str:
    if not 0 <= score <= top:
        raise QuestionnaireError(f"{name} total must be 0-{top}, got {score}")
    found = bands[0][1]
    for floor, label in bands:
        if score >= floor:
            found = label
    return found


def phq9_severity(score: float) -> str:
    """Kroenke 2001 severity band of a PHQ-9 total."""
    return _band(score, PHQ9_BANDS, PHQ9_MAX, "PHQ-9")


def gad7_severity(score: float) -> str:
    """Spitzer 2006 severity band of a GAD-7 total."""
    return _band(score, GAD7_BANDS, GAD7_MAX, "GAD-7")


def is_response(baseline: float, current: float) -> bool:
    """A drop of at least 50% from a baseline above zero."""
    return baseline > 0 and current <= baseline * (1.0 - RESPONSE_DROP)


def is_remission(current: float) -> bool:
    """PHQ-9 under 5."""
    return current < REMISSION_BELOW


def self_harm_positive(item9: float | None) -> bool:
    """PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 'not at all'."""
    return item9 is not None and item9 > 0


@dataclass(frozen=True)
class Score:
    when: datetime
    value: float


@dataclass(frozen=True)
class TreatmentCourse:
    """PHQ-9 course on one antidepressant: baseline, latest, change, response, remission, trial adequacy."""

    drug: str
    started: datetime
    as_of: datetime
    baseline: Score | None
    latest: Score | None

    @property
    def weeks_on_drug(self) -> float:
        return (self.as_of - self.started).total_seconds() / (7 * 86400)

    @property
    def change(self) -> float | None:
        """Relative change from baseline (negative = better), None without both scores."""
        if self.baseline is None or self.latest is None or self.baseline.value <= 0:
            return None
        return (self.latest.value - self.baseline.value) / self.baseline.value

    @property
    def responded(self) -> bool:
        return (
            self.baseline is not None
            and self.latest is not None
            and is_response(self.baseline.value, self.latest.value)
        )

    @property
    def remitted(self) -> bool:
        return self.latest is not None and self.latest.when > self.started and is_remission(self.latest.value)

    @property
    def adequate_trial(self) -> bool:
        return self.as_of - self.started >= ADEQUATE_TRIAL

    @property
    def not_improving(self) -> bool:
        """An adequate trial, a follow-up score after 6 weeks on the drug, and neither response nor remission."""
        if not self.adequate_trial or self.baseline is None or self.latest is None:
            return False
        if self.latest.when - self.started < ADEQUATE_TRIAL:
            return False
        return not self.responded and not self.remitted

    @property
    def status(self) -> str:
        if self.baseline is None:
            return "no baseline score"
        if self.latest is None or self.latest.when <= self.baseline.when:
            return "no follow-up score yet"
        if self.remitted:
            return "remission"
        if self.responded:
            return "response"
        if self.not_improving:
            return "not improving after an adequate trial"
        return "too early to judge" if not self.adequate_trial else "partial improvement"


def course(scores: Sequence[Score], drug: str, started: datetime, as_of: datetime) -> TreatmentCourse:
    """The course of PHQ-9 scores on a drug started at ``started``, seen at ``as_of``."""
    ordered = sorted((s for s in scores if s.when <= as_of), key=lambda s: s.when)
    before = [s for s in ordered if started - BASELINE_BEFORE <= s.when <= started]
    after = [s for s in ordered if started < s.when <= started + BASELINE_AFTER]
    baseline = before[-1] if before else (after[0] if after else None)
    latest = ordered[-1] if ordered and baseline is not None and ordered[-1].when > baseline.when else None
    return TreatmentCourse(drug, started, as_of, baseline, latest)
