"""Train the 30-day readmission model on the unified record: cross-validate, card, register.

Performance is estimated by cross-validation grouped by patient on the store's discharges (out-of-fold
predictions); the final model is then fitted on all of them and registered with its model card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from carepilot.domain.consent import ConsentDirectory
from carepilot.errors import ModelError
from carepilot.features.population import iter_profiles, readmission_frame
from carepilot.features.readmission import FEATURES
from carepilot.learning.consent import training_patients
from carepilot.models.cards import ModelCard, representation
from carepilot.models.fairness import subgroup_metrics
from carepilot.models.metrics import binary_metrics
from carepilot.models.plots import plot_calibration
from carepilot.models.registry import ModelRecord, ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.store.repository import RecordRepository

MODEL_NAME = "readmission"
CANDIDATES = ("logistic", "lightgbm")
MIN_EVENTS = 20


@dataclass
class TrainResult:
    record: ModelRecord
    card: ModelCard
    n: int
    events: int
    chosen: str
    cv: dict[str, dict[str, float]]
    plot: Path | None


def age_band(age: pd.Series) -> pd.Series:
    return pd.cut(age, [0, 45, 65, 80, 200], right=False, labels=["18-44", "45-64", "65-79", "80+"]).astype(str)


def cross_validated(
    frame: pd.DataFrame, folds: int = 5, seed: int = 0, on_fold: Callable[[int], None] | None = None
) -> dict[str, np.ndarray]:
    """Out-of-fold predicted risks for each candidate estimator, folds grouped by patient."""
    X, y, groups = frame[list(FEATURES)], frame["label"].to_numpy(), frame["patient_id"].to_numpy()
    oof = {name: np.full(len(frame), np.nan) for name in CANDIDATES}
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(X, y, groups)):
        for name in CANDIDATES:
            model = RiskClassifier(name, random_state=seed).fit(X.iloc[train], y[train], groups[train])
            oof[name][test] = model.predict_proba(X.iloc[test])[:, 1]
        if on_fold is not None:
            on_fold(k)
    return oof


def train_readmission(
    repo: RecordRepository,
    registry: ModelRegistry,
    plots_dir: Path,
    *,
    consent: ConsentDirectory | None = None,
    folds: int = 5,
    seed: int = 0,
    n_bootstrap: int = 10,
    on_step: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit, validate and register the readmission model from every discharge in the store.

    Patients who opted out of training (``ConsentScope.TRAINING``) are left out before their record is read.
    """
    say = on_step or (lambda _msg: None)
    say("building point-in-time features")
    ids = training_patients((p["patient_id"] for p in repo.list_patients()), consent)
    frame = readmission_frame(list(iter_profiles(repo, ids)))
    events = int(frame["label"].sum()) if not frame.empty else 0
    if len(frame) < 100 or events < MIN_EVENTS:
        raise ModelError(
            f"too few discharges to train ({len(frame)} discharges, {events} readmissions; need 100 and "
            f"{MIN_EVENTS}): ingest a larger population"
        )
    say(f"{len(frame)} discharges, {events} readmitted within 30 days; {folds}-fold cross-validation")
    oof = cross_validated(frame, folds, seed, on_fold=lambda k: say(f"fold {k + 1}/{folds} done"))
    y = frame["label"].to_numpy()
    cv = {name: binary_metrics(y, p) for name, p in oof.items()}
    chosen = max(CANDIDATES, key=lambda name: cv[name]["auroc"])
    groups = pd.DataFrame(
        {
            "sex": frame["sex"].fillna("unknown"),
            "race": frame["race"].fillna("unknown"),
            "ethnicity": frame["ethnicity"].fillna("unknown"),
            "age_band": age_band(frame["age"]),
            "site": frame["site"].fillna("unknown"),
        }
    )
    subgroups = [r.to_dict() for r in subgroup_metrics(y, oof[chosen], groups, threshold=0.2)]
    plots_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_calibration(
        {name: (y, oof[name]) for name in CANDIDATES},
        plots_dir / "readmission_calibration.png",
        "30-day readmission: out-of-fold calibration",
    )
    say(f"fitting the final {chosen} model on all discharges")
    final = RiskClassifier(chosen, n_bootstrap=n_bootstrap, random_state=seed).fit(
        frame[list(FEATURES)], y, frame["patient_id"].to_numpy()
    )
    start, end = frame["index_time"].min(), frame["index_time"].max()
    window = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    card = _card(cv, chosen, subgroups, groups, len(frame), events, window, folds)
    metadata: dict[str, Any] = {
        "estimator": chosen,
        "features": list(FEATURES),
        "training_window": window,
        "n": len(frame),
        "events": events,
        "cv_auroc": cv[chosen]["auroc"],
        "calibration_plot": plot.name,
    }
    record = register_with_card(registry, final, MODEL_NAME, metadata, card)
    return TrainResult(record, card, len(frame), events, chosen, cv, plot)


def register_with_card(
    registry: ModelRegistry, model: Any, name: str, metadata: dict[str, Any], card: ModelCard
) -> ModelRecord:
    """Store a new version of ``name`` with its model card (JSON and markdown) naming that version."""
    record = registry.save(model, name, metadata=metadata)
    card.version = record.version
    card_json = registry.card_path(name, record.version)
    card_json.write_text(card.to_json())
    card_json.with_suffix(".md").write_text(card.to_markdown())
    return record


def classifier_methods(folds: int) -> dict[str, str]:
    """The model card's methods of a calibrated risk classifier trained by ``RiskClassifier`` with CV."""
    return {
        "validation": f"{folds}-fold cross-validation grouped by patient (out-of-fold predictions)",
        "calibration": "Platt or isotonic, chosen by Brier score on a calibration split",
        "interval": "percentile bootstrap over model refits (Efron & Tibshirani 1993)",
        "explanation": "SHAP values per feature in percentage points of risk",
    }


def _card(
    cv: dict[str, dict[str, float]],
    chosen: str,
    subgroups: list[dict[str, Any]],
    groups: pd.DataFrame,
    n: int,
    events: int,
    window: str,
    folds: int,
) -> ModelCard:
    headline = {k: v for k, v in cv[chosen].items()}
    headline.update({f"baseline_{k}": v for k, v in cv["logistic"].items() if k in ("auroc", "brier")})
    return ModelCard(
        model_id=MODEL_NAME,
        version="pending",
        title="30-day readmission after an inpatient discharge",
        outcome="readmission within 30 days of discharge",
        model_type=f"{chosen} ({'L2 logistic regression' if chosen == 'logistic' else 'LightGBM'}), calibrated "
        "(Platt or isotonic chosen on held-out data), chosen by cross-validated AUROC over L2 logistic and LightGBM",
        training_window=window,
        training_population=f"{n} inpatient discharges ({events} readmitted) in this CarePilot store",
        intended_use="Estimate at discharge the probability of readmission within 30 days, to prioritise discharge "
        "planning, follow-up calls and transitional care",
        intended_users="Ward clinicians, discharge planners and care managers",
        intended_population="Adults discharged alive from an inpatient stay, not to hospice",
        out_of_scope=[
            "Deciding whether to admit or discharge a patient",
            "Patients discharged to hospice or who died",
            "Children",
            "Populations other than the one the store holds, without local validation",
        ],
        limitations=[
            "Trained on the data of this store only; if it is the synthetic demo population, the figures describe "
            "that population, not any real hospital",
            "Readmissions to other hospitals are not seen",
            "Features are the latest values before discharge; trends within the stay are not used",
        ],
        metrics=headline,
        subgroups=subgroups,
        training_data={
            "source": "the CarePilot unified record (FHIR resources ingested into the store)",
            "n": n,
            "inclusion_exclusion": "every inpatient discharge whose 30-day follow-up lies inside the recorded data; "
            "discharges to hospice or death excluded",
            "demographics": representation(groups),
        },
        features=list(FEATURES),
        demographic_features={"age": "date of birth", "male": "sex"},
        methods=classifier_methods(folds),
        created=datetime.now(UTC).date().isoformat(),
    )
