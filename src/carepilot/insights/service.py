"""Assemble every Insight for one patient from the registered engines (providers).

Each engine is an ``InsightProvider``; the service runs them over one immutable PatientProfile and collects the
Insights, the recorded refusals (``Declined``) and the engines that failed or ran out of time, so a caller can
still answer with what it has.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import PatientProfile
from carepilot.errors import CarePilotError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InsightContext:
    """Why the Insights are asked for: the hook, and the drugs being ordered for order hooks."""

    hook: str | None = None
    ordered_concepts: tuple[str, ...] = ()
    draft_orders: tuple[dict[str, Any], ...] = ()


class InsightProvider(Protocol):
    """One engine's view of a patient."""

    name: str

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]: ...


@dataclass
class InsightResult:
    insights: list[Insight] = field(default_factory=list)
    declined: list[Declined] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class InsightService:
    """Runs every provider for a patient; a provider that fails or overruns the budget is skipped and logged."""

    def __init__(self, providers: Sequence[InsightProvider]) -> None:
        self.providers = list(providers)

    def for_patient(
        self, profile: PatientProfile, context: InsightContext | None = None, budget_ms: float | None = None
    ) -> InsightResult:
        context = context or InsightContext()
        result = InsightResult()
        started = time.perf_counter()
        for provider in self.providers:
            if budget_ms is not None and (time.perf_counter() - started) * 1000 > budget_ms:
                result.skipped.append(provider.name)
                log.warning("insight engine %s skipped: latency budget %.0f ms spent", provider.name, budget_ms)
                continue
            try:
                produced = provider.insights(profile, context)
            except CarePilotError as exc:
                result.skipped.append(provider.name)
                log.warning("insight engine %s failed: %s", provider.name, type(exc).__name__)
                continue
            for item in produced:
                if isinstance(item, Insight):
                    result.insights.append(item)
                else:
                    result.declined.append(item)
        return result
