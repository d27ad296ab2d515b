"""Per-patient explanations: SHAP values turned into clinical phrases (``Factor``).

SHAP (Lundberg & Lee 2017; ``shap`` package): ``TreeExplainer`` for LightGBM and XGBoost (exact path-dependent Tree SHAP,
Lundberg et al. 2020) and ``LinearExplainer`` for the logistic baseline (exact for a linear model with an
independent background: coefficient x (standardised value - training mean)). Both explain the model's
log-odds. Contributions of the columns one input feature expands into (one-hot levels, missing indicators)
are summed back onto that feature.

A factor's size is said in percentage points of the patient's calibrated risk: the change in risk if that
factor's log-odds share were removed, ``p - expit(logit(p) - phi)``. It is an approximation (calibration is
monotone but not always linear in the log-odds) stated as such in the docs.

Feature metadata (``FeatureInfo``: label, unit, reference range, category wording) makes the phrases read
clinically: "HbA1c 9.8% (high) adds 6 points of risk".
"""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shap
from scipy.special import expit, logit

from carepilot.domain.insight import Factor
from carepilot.errors import InputError, ModelError
from carepilot.models.risk import RiskClassifier

_EPS = 1e-6


@dataclass(frozen=True)
class FeatureInfo:
    """How to say one feature clinically: label, unit, reference range and words for coded values."""

    label: str
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    decimals: int = 1
    values: Mapping[str, str] = field(default_factory=dict)

    def describe(self, value: Any) -> str:
        """The feature and this patient's value in words, with a high / low flag from the reference range."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return f"{self.label} not recorded"
        if self.values:
            # Coded values (flags stored as 0.0 / 1.0) read as words, not numbers.
            key = f"{float(value):.1f}" if isinstance(value, int | float | np.integer | np.floating) else str(value)
            if key in self.values:
                return f"{self.label}: {self.values[key]}"
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
            number = f"{float(value):.{self.decimals}f}"
            unit = "" if not self.unit else (self.unit if self.unit == "%" else f" {self.unit}")
            flag = ""
            if self.high is not None and value > self.high:
                flag = " (high)"
            elif self.low is not None and value < self.low:
                flag = " (low)"
            return f"{self.label} {number}{unit}{flag}"
        return f"{self.label}: {self.values.get(str(value), str(value))}"


FeatureCatalog = Mapping[str, FeatureInfo]


def load_feature_catalog(path: Path) -> dict[str, FeatureInfo]:
    """Read ``[feature]`` tables (label, unit, low, high, decimals, values) from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read feature catalog {path}: {exc}") from exc
    catalog: dict[str, FeatureInfo] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or "label" not in spec:
            raise InputError(f"feature catalog {path}: entry {name!r} needs a 'label'")
        values = {str(k): str(v) for k, v in spec.get("values", {}).items()}
        catalog[name] = FeatureInfo(
            label=str(spec["label"]),
            unit=spec.get("unit"),
            low=spec.get("low"),
            high=spec.get("high"),
            decimals=int(spec.get("decimals", 1)),
            values=values,
        )
    return catalog


def _default_info(name: str) -> FeatureInfo:
    return FeatureInfo(label=name.replace("_", " ").capitalize())


def shap_log_odds(model: RiskClassifier, rows: pd.DataFrame) -> pd.DataFrame:
    """SHAP values on the log-odds scale, one column per input feature (expanded columns summed back)."""
    if not hasattr(model, "pipeline_"):
        raise ModelError("the model is not fitted")
    prepared = model.prepare(rows)
    prep = model.pipeline_.named_steps["prep"]
    estimator = model.pipeline_.named_steps["model"]
    Xt = np.asarray(prep.transform(prepared), dtype=float)
    if model.estimator in ("lightgbm", "xgboost"):
        booster = estimator.get_booster() if model.estimator == "xgboost" else estimator.booster_
        with warnings.catch_warnings():
            # shap warns that LightGBM binary output *may* be a per-class list; it is handled below.
            warnings.simplefilter("ignore", UserWarning)
            values = shap.TreeExplainer(booster).shap_values(Xt)
    else:
        explainer = shap.LinearExplainer(estimator, shap.maskers.Independent(model.background_))
        values = explainer.shap_values(Xt)
    if isinstance(values, list):  # one array per class: keep the positive class
        values = values[-1]
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes)
        values = values[..., -1]
    per_column = pd.DataFrame(values, columns=model.transformed_feature_sources(), index=rows.index)
    summed = per_column.T.groupby(level=0, sort=False).sum().T
    return summed.reindex(columns=[str(c) for c in model.feature_names_in_], fill_value=0.0)


def _points_phrase(points: float) -> str:
    size = abs(points)
    if size < 0.5:
        return "adds less than 1 point of risk" if points >= 0 else "lowers risk by less than 1 point"
    n = round(size)
    unit = "point" if n == 1 else "points"
    return f"adds {n} {unit} of risk" if points > 0 else f"lowers risk by {n} {unit}"


def explain_patient(
    model: RiskClassifier,
    row: pd.DataFrame,
    catalog: FeatureCatalog | None = None,
    top: int = 3,
) -> tuple[Factor, ...]:
    """The top factors raising, then lowering, this patient's risk, as signed clinical phrases."""
    if len(row) != 1:
        raise InputError(f"explain one patient at a time; got {len(row)} rows")
    phi = shap_log_odds(model, row).iloc[0]
    risk = float(model.predict_proba(row)[0, 1])
    return factors_from_shap(phi, risk, row.iloc[0], catalog, top)


def factors_from_shap(
    phi: pd.Series, risk: float, values: pd.Series, catalog: FeatureCatalog | None = None, top: int = 3
) -> tuple[Factor, ...]:
    """Signed clinical phrases from one patient's SHAP values (log-odds) and risk; shared by batch scoring."""
    catalog = catalog or {}
    base = logit(np.clip(risk, _EPS, 1 - _EPS))
    factors: list[Factor] = []
    for name, value in phi.items():
        if value == 0.0:
            continue
        points = 100.0 * (risk - float(expit(base - value)))
        info = catalog.get(str(name)) or _default_info(str(name))
        described = info.describe(values[name])
        factors.append(
            Factor(
                label=info.label,
                contribution=round(points, 2),
                phrase=f"{described} {_points_phrase(points)}",
            )
        )
    raising = sorted((f for f in factors if f.contribution > 0), key=lambda f: -f.contribution)[:top]
    lowering = sorted((f for f in factors if f.contribution < 0), key=lambda f: f.contribution)[:top]
    return tuple(raising + lowering)
