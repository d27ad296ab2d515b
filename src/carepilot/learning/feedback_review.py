"""Alert-policy review from clinicians' feedback: which card types are overridden most, and what a threshold change
would do. Suggestions only: nothing here changes a threshold, a rule or what is shown.

For card types produced by a risk model, candidate alert thresholds are evaluated on the served predictions whose
outcomes have resolved: alert volume (share of predictions at or above the threshold), sensitivity (share of
readmissions that would still alert) and positive predictive value, so the reviewer sees the trade-off before
deciding. Other card types get the counts and override reasons for a content review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carepilot.learning.monitoring import feedback_rates

DEFAULT_ALERT_THRESHOLD = 0.3  # models/risk_insight.py: risk at or above this shows as a warning card
CANDIDATE_STEPS: tuple[float, ...] = (-0.05, 0.0, 0.05, 0.1, 0.15)


@dataclass
class PolicyReview:
    """The review report: rates per card type, the flagged ones, and suggested thresholds with their effect."""

    rates: list[dict[str, Any]]
    flagged: list[dict[str, Any]]
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    note: str = "Suggestions only: thresholds change through a reviewed commit of the alert policy, never here."

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def threshold_effects(
    scores: np.ndarray, labels: np.ndarray, thresholds: Sequence[float]
) -> list[dict[str, float | None]]:
    """Alert share, sensitivity and PPV at each threshold on resolved predictions."""
    out: list[dict[str, float | None]] = []
    events = labels == 1
    for th in thresholds:
        alert = scores >= th
        out.append(
            {
                "threshold": round(float(th), 3),
                "alerts_per_100": round(100.0 * float(alert.mean()), 2) if len(scores) else None,
                "sensitivity": round(float((alert & events).sum() / events.sum()), 4) if events.any() else None,
                "ppv": round(float((alert & events).sum() / alert.sum()), 4) if alert.any() else None,
            }
        )
    return out


def review(
    feedback: pd.DataFrame,
    predictions: pd.DataFrame,
    thresholds: dict[str, Any],
    current_threshold: float = DEFAULT_ALERT_THRESHOLD,
) -> PolicyReview:
    """Rates per card type, the types flagged for review, and risk-threshold suggestions with their effect."""
    rates = feedback_rates(feedback)
    fb = thresholds["feedback"]
    flagged = [
        {
            **r,
            "why": f"{100 * r['override_rate']:.0f}% of {r['decided']} decided cards overridden (threshold "
            f"{100 * fb['override_rate']:.0f}% over at least {fb['min_cards']})",
        }
        for r in rates
        if r["decided"] >= fb["min_cards"] and r["override_rate"] >= fb["override_rate"]
    ]
    report = PolicyReview(rates, flagged)
    resolved = predictions[predictions["label"].notna()] if not predictions.empty else predictions
    risk_flagged = any(r["card_type"] == "risk" for r in flagged)
    if not resolved.empty:
        for model, part in resolved.groupby("model_name"):
            candidates = sorted(
                {round(current_threshold + s, 3) for s in CANDIDATE_STEPS if 0 < current_threshold + s < 1}
            )
            effects = threshold_effects(part["score"].to_numpy(float), part["label"].to_numpy(int), candidates)
            now = next(e for e in effects if e["threshold"] == round(current_threshold, 3))
            report.suggestions.append(
                {
                    "model": str(model),
                    "card_type": "risk",
                    "current_threshold": current_threshold,
                    "resolved_predictions": len(part),
                    "effects": effects,
                    "suggestion": (
                        "risk cards are overridden often: consider the higher thresholds below, weighing the "
                        "alerts saved against the readmissions no longer flagged"
                        if risk_flagged
                        else "override rate is within policy; shown for reference"
                    ),
                    "current": now,
                }
            )
    return report
