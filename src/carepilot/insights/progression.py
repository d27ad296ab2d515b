"""Risk Insights from the registered progression models: 1-year risk of CKD progression and of a diabetes
complication, with a bootstrap interval and the patient's SHAP factors in clinical words.

The rules match the readmission Insight (``models/risk_insight.py``): a patient outside the training data gets a
``Declined`` with the reasons; an interval wider than ``MAX_INTERVAL_WIDTH`` makes the Insight say the estimate is
uncertain; the source carries model id, version and training window; the evidence links the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

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
from carepilot.domain.profile import PatientProfile
from carepilot.features.progression import FEATURE_LABELS, FEATURES, features_at
from carepilot.insights.service import InsightContext
from carepilot.models.explain import FeatureInfo
from carepilot.models.horizon_risk import HorizonRisk
from carepilot.models.registry import ModelRegistry, ServingModel
from carepilot.models.risk_insight import POPULATION_AVERAGE

MODELS = {"ckd-progression": "CKD progression", "diabetes-complications": "diabetes complication"}
MAX_INTERVAL_WIDTH = 0.2
HIGH_RISK = 0.3
RECENT_EGFR = timedelta(days=365)

RANGES: dict[str, tuple[float | None, float | None]] = {
    "baseline_egfr": (60.0, None),
    "latest_egfr": (60.0, None),
    "egfr_slope_per_year": (-3.0, None),
    "latest_creatinine": (None, 1.3),
    "latest_hba1c": (None, 6.4),
    "latest_ldl": (None, 130.0),
    "latest_potassium": (3.5, 5.0),
    "latest_systolic_bp": (90.0, 139.0),
    "latest_bmi": (18.5, 29.9),
    "prior_inpatient_365d": (None, 0.0),
}


def progression_catalog() -> dict[str, FeatureInfo]:
    """How each progression feature reads in clinical words."""
    out: dict[str, FeatureInfo] = {}
    for name, (label, unit) in FEATURE_LABELS.items():
        low, high = RANGES.get(name, (None, None))
        values: dict[str, str] = {}
        if name.startswith("has_"):
            values = {"1.0": "present", "0.0": "absent"}
        elif name.startswith("on_") or name == "male":
            values = {"1.0": "yes", "0.0": "no"}
        decimals = 0 if name.startswith(("n_", "prior_")) or name.endswith("egfr") else 1
        out[name] = FeatureInfo(label=label, unit=unit, low=low, high=high, decimals=decimals, values=values)
    return out


def _phrase(points: float, horizon: str) -> str:
    size = abs(points)
    if size < 0.5:
        return (
            f"adds less than 1 point of {horizon} risk"
            if points >= 0
            else f"lowers {horizon} risk by less than 1 point"
        )
    n = round(size)
    unit = "point" if n == 1 else "points"
    return f"adds {n} {unit} of {horizon} risk" if points > 0 else f"lowers {horizon} risk by {n} {unit}"


def explain(model: HorizonRisk, row: pd.DataFrame, top: int = 3) -> tuple[Factor, ...]:
    """The top SHAP factors raising, then lowering, this patient's horizon risk, as clinical phrases."""
    catalog = progression_catalog()
    factors = []
    for c in model.contributions(row):
        points = 100.0 * c.shap
        if round(points, 2) == 0.0:
            continue
        info = catalog.get(c.feature) or FeatureInfo(label=c.feature.replace("_", " "))
        factors.append(
            Factor(
                label=info.label,
                contribution=round(points, 2),
                phrase=f"{info.describe(c.value)} {_phrase(points, '1-year')}",
            )
        )
    raising = sorted((f for f in factors if f.contribution > 0), key=lambda f: -f.contribution)[:top]
    lowering = sorted((f for f in factors if f.contribution < 0), key=lambda f: f.contribution)[:top]
    return tuple(raising + lowering)


def horizon_insight(
    model: HorizonRisk,
    row: pd.DataFrame,
    *,
    profile: PatientProfile,
    model_id: str,
    version: str,
    outcome: str,
    training_window: str | None,
    card_url: str | None,
) -> Insight | Declined:
    """A RISK Insight for one patient's 1-year risk, or ``Declined`` when the patient is out of distribution."""
    engine = f"{model_id}@{version}"
    ood = model.out_of_distribution(row)[0]
    if ood.flagged:
        return Declined(
            profile.patient_id, engine, "patient is unlike the training population: " + "; ".join(ood.reasons)
        )
    risk = float(model.predict_risk(row)[0])
    bounds = model.predict_interval(row)
    interval = (
        Interval(float(min(bounds[0][0], risk)), float(max(bounds[1][0], risk)), model.interval_level)
        if bounds is not None
        else None
    )
    factors = explain(model, row) or (POPULATION_AVERAGE,)
    pct = f"{100 * risk:.0f}%"
    if interval is not None:
        span = f"{100 * interval.low:.0f}-{100 * interval.high:.0f}%"
        if interval.width > MAX_INTERVAL_WIDTH:
            confidence = Confidence(
                level="low",
                statement=f"Uncertain: the {100 * interval.level:.0f}% interval {span} is wider than "
                f"{100 * MAX_INTERVAL_WIDTH:.0f} points, so treat the estimate as a rough guide only.",
                value=interval.width,
            )
            title = f"1-year {outcome} risk uncertain: about {pct} ({span})"
        else:
            confidence = Confidence(
                level="high" if interval.width <= 0.05 else "moderate",
                statement=f"1-year risk {pct} from the survival curve; {100 * interval.level:.0f}% interval {span} "
                "(bootstrap over model refits).",
                value=interval.width,
            )
            title = f"1-year {outcome} risk {pct} ({span})"
    else:
        span = ""
        confidence = Confidence(level="moderate", statement=f"1-year risk {pct}; no per-patient interval.")
        title = f"1-year {outcome} risk {pct}"
    lines = [f"**Estimated 1-year {outcome} risk: {pct}**" + (f" ({span})" if span else "") + ".", ""]
    lines.append("What drives it for this patient:")
    lines.extend(f"- {f.phrase}" for f in factors)
    lines += ["", f"This is decision support from {model_id} {version}; review it with the clinical picture."]
    return Insight(
        patient_id=profile.patient_id,
        as_of=profile.as_of,
        kind=InsightKind.RISK,
        title=title[:139],
        detail="\n".join(lines),
        confidence=confidence,
        source=Source(id=model_id, version=version, kind="model", data_window=training_window, url=card_url),
        explanation=factors,
        evidence=(Evidence(label="Model card", citation=f"{model_id} {version} model card", url=card_url),),
        value=risk,
        unit="probability",
        interval=interval,
        severity=Severity.WARNING if risk >= HIGH_RISK else Severity.INFO,
        topic=model_id,
    )


def eligible(profile: PatientProfile, model_id: str) -> bool:
    """CKD progression for a patient with an eGFR in the past year; complications for type 2 diabetes."""
    if model_id == "ckd-progression":
        latest = profile.latest("egfr")
        return latest is not None and latest.effective is not None and profile.as_of - latest.effective <= RECENT_EGFR
    return profile.has_condition("type2_diabetes")


class ProgressionRiskProvider:
    """1-year CKD progression and diabetes-complication risk from the registered survival models."""

    name = "progression_risk"

    def __init__(self, registry: ModelRegistry, card_url: str = "/dashboard/models/{name}") -> None:
        self.registry = registry
        self.card_url = card_url
        self._serving = {name: ServingModel(registry, name) for name in MODELS}

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        out: list[Insight | Declined] = []
        row: pd.DataFrame | None = None
        for name, outcome in MODELS.items():
            if not eligible(profile, name):
                continue
            loaded = self._serving[name].current()
            if loaded is None:
                out.append(Declined(profile.patient_id, self.name, f"no {name} model is registered yet"))
                continue
            version, model, metadata = loaded
            if row is None:
                row = pd.DataFrame([features_at(profile, profile.as_of)], columns=list(FEATURES))
            out.append(
                horizon_insight(
                    model,
                    row,
                    profile=profile,
                    model_id=name,
                    version=version,
                    outcome=outcome,
                    training_window=metadata.get("training_window"),
                    card_url=self.card_url.format(name=name),
                )
            )
        return out
