"""A contextual bandit that learns which nudge (message x channel x timing) each patient responds to.

Linear Thompson sampling (Agrawal & Goyal, ICML 2013) from MABWiser (Strong, Kleynhans & Kadioglu, IJAIT 2021),
one Bayesian linear model per arm over ``CONTEXT_FEATURES``. A response (refill, reply or visit within 7 days) is
reward 1. Before any response is logged the arms' posteriors are the prior, so the first rounds explore; the
safety rules in ``domain.nudges`` (switch-off, frequency cap, quiet hours, reachable channels) are applied to
every choice, and an arm on an unreachable channel is never chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mabwiser.mab import MAB, LearningPolicy

from carepilot.domain.nudges import ARMS, CONTEXT_FEATURES, DEFAULT_ARM, Arm, NudgeContext, context_vector
from carepilot.errors import InputError

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
