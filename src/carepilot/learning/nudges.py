"""A contextual bandit that learns which nudge (message x channel x timing) each patient responds to.

Linear Thompson sampling (Agrawal & Goyal, ICML 2013) from MABWiser (Strong, Kleynhans & Kadioglu, IJAIT 2021),
one Bayesian linear model per arm over ``CONTEXT_FEATURES``. A response (refill, reply or visit within 7 days) is
reward 1. Before any response is logged the arms' posteriors are the prior, so the first rounds explore; the
safety rules in ``domain.nudges`` (switch-off, frequency cap, quiet hours, reachable channels) are applied to
every choice, and an arm on an unreachable channel is never chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from mabwiser.mab import MAB, LearningPolicy

from carepilot.domain.consent import ConsentDirectory, ConsentScope
from carepilot.domain.nudges import (
    ARMS,
    CONTEXT_FEATURES,
    DEFAULT_ARM,
    TEMPLATES,
    Arm,
    NudgeContext,
    context_vector,
    may_send,
    needs_nudge,
    send_time,
)
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError
from carepilot.features.adherence import adherence_by_class, adherence_features
from carepilot.store.nudges import NudgeRepository
from carepilot.store.profiles import load_profile
from carepilot.store.repository import RecordRepository

POLICY_ID = "nudge-lints"
POLICY_VERSION = "2026.11.0"


class NudgeBandit:
    """Thompson sampling over the nudge arms; ``fit`` on logged history, ``choose`` per patient, ``update`` online."""

    def __init__(self, arms: Sequence[Arm] = ARMS, alpha: float = 0.5, l2_lambda: float = 1.0, seed: int = 0) -> None:
        self.arms = tuple(arms)
        self.alpha = alpha
        self.l2_lambda = l2_lambda
        self.seed = seed

    def _new(self) -> MAB:
        return MAB(
            [a.key for a in self.arms],
            LearningPolicy.LinTS(alpha=self.alpha, l2_lambda=self.l2_lambda),
            seed=self.seed,
        )

    def fit(self, contexts: Sequence[NudgeContext], arms: Sequence[Arm], rewards: Sequence[float]) -> NudgeBandit:
        """Start from the prior and learn from logged (context, arm, reward) rows (may be empty)."""
        self.mab_ = self._new()
        self.n_seen_ = 0
        x, keys, y = self._rows(contexts, arms, rewards)
        self.mab_.fit(keys, y, x)
        self.n_seen_ = len(y)
        return self

    def update(self, contexts: Sequence[NudgeContext], arms: Sequence[Arm], rewards: Sequence[float]) -> None:
        """Add a batch of observed responses."""
        if not hasattr(self, "mab_"):
            self.fit([], [], [])
        x, keys, y = self._rows(contexts, arms, rewards)
        if len(y):
            self.mab_.partial_fit(keys, y, x)
            self.n_seen_ += len(y)

    def choose(self, contexts: Sequence[NudgeContext], reachable: Sequence[frozenset[str]] | None = None) -> list[Arm]:
        """One arm per context: the highest Thompson sample among the arms on a channel the patient can receive."""
        if not contexts:
            return []
        if not hasattr(self, "mab_"):
            self.fit([], [], [])
        x = np.asarray([context_vector(c) for c in contexts], dtype=float)
        samples = self.mab_.predict_expectations(x)
        if isinstance(samples, dict):
            samples = [samples]
        out = []
        for i, sample in enumerate(samples):
            allowed = [a for a in self.arms if reachable is None or a.channel in reachable[i]]
            if not allowed:
                out.append(DEFAULT_ARM)
                continue
            out.append(max(allowed, key=lambda a: float(sample[a.key])))
        return out

    def _rows(
        self, contexts: Sequence[NudgeContext], arms: Sequence[Arm], rewards: Sequence[float]
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        if not len(contexts) == len(arms) == len(rewards):
            raise InputError(
                f"nudge history rows disagree: {len(contexts)} contexts, {len(arms)} arms, {len(rewards)} rewards"
            )
        unknown = {a.key for a in arms} - {a.key for a in self.arms}
        if unknown:
            raise InputError(f"unknown nudge arms in history: {sorted(unknown)[:3]}")
        x = np.asarray([context_vector(c) for c in contexts], dtype=float).reshape(len(contexts), len(CONTEXT_FEATURES))
        return x, [a.key for a in arms], np.asarray(rewards, dtype=float)


@dataclass(frozen=True)
class PlannedNudge:
    patient_id: str
    arm: Arm
    status: str  # planned | suppressed
    reason: str
    scheduled_at: datetime
    message_id: str
    text: str


def nudge_context(profile: PatientProfile, care_gaps: int = 0) -> NudgeContext:
    """The learner's view of a patient: age, sex, PDC, depression, diabetes, comorbidities (no names or text)."""
    features = adherence_features(profile)
    pdc = features["pdc_mean"]
    return NudgeContext(
        age=float(profile.age) if profile.age is not None else 50.0,
        female=profile.demographics.sex == "female",
        pdc=float(pdc) if pdc == pdc else 1.0,
        depression=profile.has_condition("depression"),
        diabetes=profile.has_condition("type2_diabetes"),
        conditions=len({p.concept for p in profile.active_problems() if p.concept}),
        care_gaps=care_gaps,
    )


class NudgePlanner:
    """Chooses and records this week's nudge for each patient who needs one, within the safety rules."""

    def __init__(
        self, records: RecordRepository, nudges: NudgeRepository, consent: ConsentDirectory, seed: int = 0
    ) -> None:
        self.records = records
        self.nudges = nudges
        self.consent = consent
        self.seed = seed

    def plan(
        self, patient_ids: Sequence[str], day: datetime, care_gaps: dict[str, int] | None = None
    ) -> list[PlannedNudge]:
        """Learn from every logged response, then plan one nudge per patient with low PDC or a care gap."""
        # Learning from a patient's responses is training: opted-out patients' messages are left out of it;
        # choosing a nudge for a patient is decision support: opted-out patients get none.
        history = self.nudges.history(exclude=self.consent.opted_out(ConsentScope.TRAINING))
        bandit = NudgeBandit(seed=self.seed).fit(*history)
        out: list[PlannedNudge] = []
        for pid in patient_ids:
            if not self.consent.allows(pid, ConsentScope.DECISION_SUPPORT):
                continue
            profile = load_profile(self.records, pid)
            ctx = nudge_context(profile, (care_gaps or {}).get(pid, 0))
            if not needs_nudge(ctx.pdc, ctx.care_gaps):
                continue
            (arm,) = bandit.choose([ctx])
            at = send_time(day, arm)
            ok, reason = may_send(self.nudges.settings(pid), self.nudges.sent_times(pid), at)
            status = "planned" if ok else "suppressed"
            drug = _low_drug(profile)
            saved = self.nudges.record_message(pid, arm, ctx, (POLICY_ID, POLICY_VERSION), status, reason, at)
            out.append(PlannedNudge(pid, arm, status, reason, at, saved.id, TEMPLATES[arm.message].format(drug=drug)))
        return out


def _low_drug(profile: PatientProfile) -> str:
    """The drug the message names: the least-covered class's first drug, else 'your medicines'."""
    found = adherence_by_class(profile)
    return found[0].drugs[0] if found and not found[0].adherent else "your medicines"
