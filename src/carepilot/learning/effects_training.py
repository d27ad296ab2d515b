"""Fit a decision's effect model on the unified record and register it.

Rows come from ``carepilot.features.decisions`` (covariates at the decision time, option started, outcome change);
missing covariates are imputed with the training medians, which are stored with the model so a patient is
described the same way at prediction time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from carepilot.domain.consent import ConsentDirectory
from carepilot.errors import ModelError
from carepilot.features.decisions import decision_example
from carepilot.features.population import iter_profiles
from carepilot.learning.consent import training_patients
from carepilot.models.effects.decision import DecisionSpec
from carepilot.models.effects.engine import fit_for_decision
from carepilot.models.registry import ModelRecord, ModelRegistry
from carepilot.store.repository import RecordRepository

MIN_PER_OPTION = 20


def model_name(spec: DecisionSpec) -> str:
    return f"effects-{spec.name}"


@dataclass
class EffectFitResult:
    record: ModelRecord
    rows: int
    per_option: dict[str, int]
    learner: str


def decision_frame(repo: RecordRepository, spec: DecisionSpec, consent: ConsentDirectory | None = None) -> pd.DataFrame:
    """One row per patient who made this decision, from the store (training opt-outs left out)."""
    ids = training_patients((p["patient_id"] for p in repo.list_patients()), consent)
    rows = [row for p in iter_profiles(repo, ids) if (row := decision_example(p, spec)) is not None]
    return pd.DataFrame(rows)


def fit_decision(
    repo: RecordRepository,
    registry: ModelRegistry,
    spec: DecisionSpec,
    on_step: Callable[[str], None] | None = None,
    consent: ConsentDirectory | None = None,
) -> EffectFitResult:
    """Fit and register the effect engine for ``spec`` from every patient in the store who made the decision."""
    say = on_step or (lambda _m: None)
    say(f"finding '{spec.name}' decisions in the record")
    frame = decision_frame(repo, spec, consent)
    counts = frame["option"].value_counts().to_dict() if not frame.empty else {}
    short = [o for o in spec.option_keys if counts.get(o, 0) < MIN_PER_OPTION]
    if frame.empty or short:
        raise ModelError(
            f"decision {spec.name!r}: too few patients per option to estimate effects "
            f"({counts or 'none'}; need {MIN_PER_OPTION} for each of {', '.join(spec.option_keys)})"
        )
    medians: dict[str, float] = {c: float(frame[c].median()) for c in spec.covariates}
    frame[list(spec.covariates)] = frame[list(spec.covariates)].fillna(medians)
    say(f"{len(frame)} patients: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "; fitting")
    engine = fit_for_decision(spec, frame)
    metadata: dict[str, Any] = {
        "decision": spec.name,
        "decision_version": spec.version,
        "covariates": list(spec.covariates),
        "medians": medians,
        "rows": len(frame),
        "per_option": {str(k): int(v) for k, v in counts.items()},
        "learner": str(engine.learner_),
        "window": f"{frame['decision_time'].min():%Y-%m-%d} to {frame['decision_time'].max():%Y-%m-%d}",
    }
    record = registry.save(engine, model_name(spec), metadata=metadata)
    return EffectFitResult(record, len(frame), metadata["per_option"], metadata["learner"])
