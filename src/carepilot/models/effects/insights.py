"""Ranked ``treatment_option`` Insights for one patient from a fitted effect engine and a decision spec.

An option is called better or worse than the comparator ONLY when the interval of the difference excludes
zero; otherwise the Insight says "no clear difference". Contraindication checks (callables returning
reasons) remove options before ranking, and the removal is returned with its reasons. A patient outside
common support gets a ``Declined`` instead of estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from carepilot.domain.insight import (
    Confidence,
    Declined,
    Factor,
    Insight,
    InsightKind,
    Interval,
    Source,
)
from carepilot.errors import ModelError
from carepilot.models.effects.decision import DecisionSpec
from carepilot.models.effects.engine import EffectEngine

ContraindicationCheck = Callable[[str], Sequence[str]]
"""Given an option key, the reasons it must not be offered to this patient (empty when it may)."""

BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"


@dataclass(frozen=True)
class TreatmentRanking:
    """Options ranked best first, options removed with their reasons, or a refusal for the whole decision."""

    insights: tuple[Insight, ...] = ()
    removed: tuple[Declined, ...] = ()
    declined: Declined | None = None


def verdict(low: float, high: float, lower_is_better: bool) -> str:
    """'better' / 'worse' only when the interval of the difference excludes zero, else unclear."""
    if low > 0 or high < 0:
        favourable = high < 0 if lower_is_better else low > 0
        return BETTER if favourable else WORSE
    return UNCLEAR


def rank_options(
    patient_id: str,
    as_of: datetime,
    x: pd.DataFrame | np.ndarray,
    engine: EffectEngine,
    spec: DecisionSpec,
    source: Source,
    contraindications: Sequence[ContraindicationCheck] = (),
    current_option: str | None = None,
    alpha: float = 0.05,
    top_factors: int = 3,
) -> TreatmentRanking:
    """Build one Insight per allowed option for the patient whose covariates are the single row ``x``."""
    engine_name = f"effects:{spec.name}"
    unknown = [o for o in engine.options_ if o not in spec.option_keys]
    if unknown:
        raise ModelError(f"effect model options {unknown} are not options of decision {spec.name!r}")
    support = engine.overlap(x)
    if not bool(support.ok[0]):
        return TreatmentRanking(
            declined=Declined(patient_id, engine_name, f"outside common support: {support.reasons[0]}")
        )
    removed: list[Declined] = []
    allowed: list[str] = []
    for option in engine.options_:
        reasons = [r for check in contraindications for r in check(option)]
        if reasons:
            removed.append(Declined(patient_id, engine_name, f"{option} removed: {'; '.join(reasons)}"))
        else:
            allowed.append(option)
    if not allowed:
        return TreatmentRanking(removed=tuple(removed))
    comparator: str = engine.reference_
    if current_option is not None and current_option in engine.options_:
        comparator = current_option
    elif spec.reference in engine.options_:
        comparator = spec.reference
    outcome = spec.outcome
    expected = {o.option: o for o in engine.expected_outcomes(x, alpha)[0]}
    level = 1 - alpha
    insights = []
    for option in allowed:
        opt = spec.option(option)
        exp = expected[option]
        if option == comparator:
            diff_text = f"This is the comparator ({spec.option(comparator).label})."
            word, width = "comparator", float(exp.high - exp.low)
        else:
            point, low, high = (float(v[0]) for v in engine.contrast(x, option, comparator, alpha))
            word = verdict(low, high, outcome.lower_is_better)
            width = high - low
            diff_text = (
                f"Difference from {spec.option(comparator).label}: {point:+.2f} {outcome.unit} "
                f"({level:.0%} interval {low:+.2f} to {high:+.2f}): **{word}**."
            )
        factors = _factors(engine, x, option, spec, top_factors)
        title = f"{opt.label}: expected {outcome.label} {exp.expected:+.2f} {outcome.unit}"[:139]
        detail = "\n".join(
            [
                f"Expected {outcome.label} on {opt.label}: {exp.expected:+.2f} {outcome.unit} "
                f"({level:.0%} interval {exp.low:+.2f} to {exp.high:+.2f}).",
                diff_text,
                f"Estimated by {engine.learner_} from {engine.n_train_} patients; decision support, not an order.",
            ]
        )
        insights.append(
            Insight(
                patient_id=patient_id,
                as_of=as_of,
                kind=InsightKind.TREATMENT_OPTION,
                title=title,
                detail=detail,
                confidence=Confidence(
                    level="moderate" if word in (BETTER, WORSE) else "low",
                    statement=f"{word} vs {spec.option(comparator).label}; interval width {width:.2f} {outcome.unit}",
                    value=width,
                ),
                source=source,
                explanation=tuple(factors),
                evidence=opt.evidence,
                value=float(exp.expected),
                unit=outcome.unit,
                interval=Interval(float(exp.low), float(exp.high), level),
                topic=f"{spec.name}:{option}",
            )
        )
    sign = 1.0 if outcome.lower_is_better else -1.0
    insights.sort(key=lambda i: sign * (i.value or 0.0))
    return TreatmentRanking(insights=tuple(insights), removed=tuple(removed))


def _factors(
    engine: EffectEngine, x: pd.DataFrame | np.ndarray, option: str, spec: DecisionSpec, top: int
) -> list[Factor]:
    """Covariates that make this patient's effect of ``option`` (vs the reference) differ from the average."""
    if option == engine.reference_:
        return []
    label = spec.option(option).label
    out = []
    for name, contribution in engine.explain(x, option, top):
        direction = "larger" if contribution > 0 else "smaller"
        out.append(
            Factor(
                label=name,
                contribution=contribution,
                phrase=f"{name} moves the effect of {label} {direction} by {abs(contribution):.2f} "
                f"{spec.outcome.unit} than average",
            )
        )
    return out
