"""Turn a fitted risk model and one patient's feature row into a risk ``Insight`` (or a ``Declined``).

Rules, in order:
1. A patient outside the training data (a value beyond the training range, a category never seen, or an
   isolation-forest score rarer than the training envelope) gets no number: ``Declined`` with the reasons.
2. Otherwise the value is the calibrated probability with its bootstrap interval; an interval wider than
   ``max_interval_width`` makes the Insight say it is uncertain (confidence "low") instead of sounding sure.
3. The explanation is the patient's top SHAP factors in clinical words; evidence links the model card;
   source carries model id, version and training window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Interval,
    Severity,
    Source,
)
from carepilot.errors import InputError
from carepilot.models.explain import FeatureCatalog, explain_patient, factors_from_shap, shap_log_odds
from carepilot.models.risk import RiskClassifier

# The explanation of an estimate no recorded factor moves: the training population's average risk.
POPULATION_AVERAGE = Factor(
    label="Population average",
    contribution=0.0,
    phrase="No recorded factor moves this estimate away from the training population's average risk",
)


@dataclass(frozen=True)
class RiskModelInfo:
    """What an Insight says about the model that produced it."""

    model_id: str
    version: str
    outcome: str  # e.g. "30-day readmission"
    training_window: str | None = None
    card_url: str | None = None


def risk_insight(
    model: RiskClassifier,
    row: pd.DataFrame,
    *,
    patient_id: str,
    as_of: datetime,
    info: RiskModelInfo,
    catalog: FeatureCatalog | None = None,
    max_interval_width: float = 0.2,
    high_risk: float = 0.3,
    top: int = 3,
) -> Insight | Declined:
    """A RISK Insight for one patient, or ``Declined`` when the patient is out of distribution."""
    if len(row) != 1:
        raise InputError(f"risk_insight takes one patient's row, got {len(row)}")
    engine = f"{info.model_id}@{info.version}"
    ood = model.out_of_distribution(row)[0]
    if ood.flagged:
        reason = "patient is unlike the training population: " + "; ".join(ood.reasons)
        return Declined(patient_id=patient_id, engine=engine, reason=reason)

    risk = float(model.predict_proba(row)[0, 1])
    interval: Interval | None = None
    if model.bootstrap_members_:
        lo, hi = model.predict_interval(row)
        interval = Interval(float(min(lo[0], risk)), float(max(hi[0], risk)), model.interval_level)
    factors = explain_patient(model, row, catalog, top=top)
    return assemble_risk_insight(
        risk,
        interval,
        factors,
        patient_id=patient_id,
        as_of=as_of,
        info=info,
        max_interval_width=max_interval_width,
        high_risk=high_risk,
    )


def risk_insights(
    model: RiskClassifier,
    rows: pd.DataFrame,
    patient_ids: Sequence[str],
    *,
    as_of: datetime,
    info: RiskModelInfo,
    catalog: FeatureCatalog | None = None,
    max_interval_width: float = 0.2,
    high_risk: float = 0.3,
    top: int = 3,
) -> list[Insight | Declined]:
    """``risk_insight`` for many patients at once: the model, interval and SHAP calls are made once per batch."""
    if len(rows) != len(patient_ids):
        raise InputError(f"{len(rows)} feature rows for {len(patient_ids)} patients")
    if rows.empty:
        return []
    engine = f"{info.model_id}@{info.version}"
    ood = model.out_of_distribution(rows)
    risks = model.predict_proba(rows)[:, 1]
    lows = highs = None
    if model.bootstrap_members_:
        lows, highs = model.predict_interval(rows)
    phi = shap_log_odds(model, rows)
    out: list[Insight | Declined] = []
    for i, pid in enumerate(patient_ids):
        if ood[i].flagged:
            out.append(Declined(pid, engine, "patient is unlike the training population: " + "; ".join(ood[i].reasons)))
            continue
        risk = float(risks[i])
        interval = None
        if lows is not None and highs is not None:
            interval = Interval(float(min(lows[i], risk)), float(max(highs[i], risk)), model.interval_level)
        factors = factors_from_shap(phi.iloc[i], risk, rows.iloc[i], catalog, top)
        out.append(
            assemble_risk_insight(
                risk,
                interval,
                factors,
                patient_id=pid,
                as_of=as_of,
                info=info,
                max_interval_width=max_interval_width,
                high_risk=high_risk,
            )
        )
    return out


def assemble_risk_insight(
    risk: float,
    interval: Interval | None,
    factors: tuple[Factor, ...],
    *,
    patient_id: str,
    as_of: datetime,
    info: RiskModelInfo,
    max_interval_width: float = 0.2,
    high_risk: float = 0.3,
) -> Insight:
    """The RISK Insight from a probability, its interval and its explanation factors."""
    if not factors:
        # A model with no split on this patient's values (or a near-constant one) still owes an explanation.
        factors = (POPULATION_AVERAGE,)
    pct = f"{100 * risk:.0f}%"
    if interval is not None:
        span = f"{100 * interval.low:.0f}-{100 * interval.high:.0f}%"
        level_pct = f"{100 * interval.level:.0f}%"
        if interval.width > max_interval_width:
            confidence = Confidence(
                level="low",
                statement=f"Uncertain: the {level_pct} interval {span} is wider than "
                f"{100 * max_interval_width:.0f} points, so treat the estimate as a rough guide only.",
                value=interval.width,
            )
            title = f"{info.outcome.capitalize()} risk uncertain: about {pct} ({span})"
        else:
            confidence = Confidence(
                level="high" if interval.width <= 0.05 else "moderate",
                statement=f"Calibrated probability {pct}; {level_pct} interval {span} (bootstrap over model refits).",
                value=interval.width,
            )
            title = f"{info.outcome.capitalize()} risk {pct} ({span})"
    else:
        confidence = Confidence(
            level="moderate",
            statement=f"Calibrated probability {pct}; this model version gives no per-patient interval.",
        )
        title = f"{info.outcome.capitalize()} risk {pct}"

    lines = [f"**Estimated {info.outcome} risk: {pct}**" + (f" ({span})" if interval else "") + ".", ""]
    if factors:
        lines.append("What drives it for this patient:")
        lines.extend(f"- {f.phrase}" for f in factors)
        lines.append("")
    lines.append(
        "This is decision support: the estimate is a calibrated probability from "
        f"{info.model_id} {info.version}; review it with the clinical picture."
    )
    evidence = (Evidence(label="Model card", citation=f"{info.model_id} {info.version} model card", url=info.card_url),)
    source = Source(
        id=info.model_id,
        version=info.version,
        kind="model",
        data_window=info.training_window,
        url=info.card_url,
    )
    return Insight(
        patient_id=patient_id,
        as_of=as_of,
        kind=InsightKind.RISK,
        title=title[:139],
        detail="\n".join(lines),
        confidence=confidence,
        source=source,
        explanation=factors,
        evidence=evidence,
        value=risk,
        unit="probability",
        interval=interval,
        severity=Severity.WARNING if risk >= high_risk else Severity.INFO,
        topic=info.model_id,
    )
