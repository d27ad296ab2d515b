"""Train the 7-day deterioration model: NEWS2 baseline beside L2 logistic and LightGBM; card; register.

Examples are patient-days of stream-monitored patients (``features/deterioration.py``). Performance is
estimated by cross-validation grouped by patient (every day of one patient falls in the same fold), so the
out-of-fold figures never score a patient whose other days the model has seen. Three candidates:

* ``news2``: the NEWS2 score alone (RCP 2017) through a calibrated logistic link, the transparent baseline a
  ward already uses;
* ``logistic``: L2 logistic regression on every feature;
* ``lightgbm``: gradient-boosted trees on every feature.

The registered model is the better of ``logistic`` and ``lightgbm`` by out-of-fold AUROC, refitted on all rows.
Patients who opted out of training (``ConsentScope.TRAINING``) are removed before any profile is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from carepilot.domain.consent import ConsentDirectory
from carepilot.errors import InputError, ModelError
from carepilot.features.deterioration import FEATURES, daily_summaries, deterioration_examples, patient_days
from carepilot.features.population import data_end, iter_profiles
from carepilot.learning.consent import training_patients
from carepilot.learning.training import TrainResult, age_band, classifier_methods, register_with_card
from carepilot.models.cards import ModelCard, representation
from carepilot.models.fairness import subgroup_metrics
from carepilot.models.metrics import binary_metrics
from carepilot.models.plots import plot_calibration
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.store.repository import RecordRepository

MODEL_NAME = "deterioration"
CANDIDATES = ("news2", "logistic", "lightgbm")
LEARNED = ("logistic", "lightgbm")
MIN_EVENTS = 20
NEWS2_COLUMNS = ("news2",)
FAIRNESS_THRESHOLD = 0.1


def read_readings(path: Path) -> pd.DataFrame:
    """Readings from a population folder (``DIR/streams/readings.parquet``) or a parquet file."""
    candidates = (
        [path] if path.suffix == ".parquet" else [path / "streams" / "readings.parquet", path / "readings.parquet"]
    )
    for candidate in candidates:
        if candidate.is_file():
            try:
                return pd.read_parquet(candidate, columns=["patient_id", "type", "time", "value"])
            except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
                raise InputError(
                    f"{candidate.name} is not a readings table with patient_id, type, time, value: {exc}"
                ) from exc
    raise InputError(f"no readings.parquet under {path} (expected DIR/streams/readings.parquet)")


def deterioration_frame(
    repo: RecordRepository,
    readings: pd.DataFrame,
    consent: ConsentDirectory | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Patient-day rows for every monitored patient in the store who allows training."""
    summaries = daily_summaries(readings)
    known = {p["patient_id"] for p in repo.list_patients()}
    monitored = sorted(set(summaries["patient_id"].unique()) & known)
    ids = training_patients(monitored, consent)
    profiles = list(iter_profiles(repo, ids, on_progress))
    if not profiles:
        return pd.DataFrame(columns=["patient_id", "index_time", *FEATURES, "label"])
    # Outcomes are known up to the last clinical or device time recorded.
    end = max(data_end(profiles), pd.Timestamp(summaries["day"].max() + pd.Timedelta(days=1)).to_pydatetime())
    rows = []
    by_patient = {pid: g for pid, g in summaries.groupby("patient_id")}
    for profile in profiles:
        d = profile.demographics
        days = by_patient.get(profile.patient_id, patient_days(summaries, profile.patient_id))
        for row in deterioration_examples(profile, days, end):
            row.update(sex=d.sex, race=d.race, ethnicity=d.ethnicity, site=d.site)
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["patient_id", "index_time", *FEATURES, "label"])
    return frame


def _columns(name: str) -> list[str]:
    return list(NEWS2_COLUMNS) if name == "news2" else list(FEATURES)


def cross_validated(
    frame: pd.DataFrame, folds: int = 5, seed: int = 0, on_fold: Callable[[int], None] | None = None
) -> dict[str, np.ndarray]:
    """Out-of-fold risks for each candidate, folds grouped by patient."""
    y, groups = frame["label"].to_numpy(), frame["patient_id"].to_numpy()
    oof = {name: np.full(len(frame), np.nan) for name in CANDIDATES}
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(frame, y, groups)):
        for name in CANDIDATES:
            X = frame[_columns(name)]
            model = RiskClassifier("logistic" if name == "news2" else name, random_state=seed)
            model.fit(X.iloc[train], y[train], groups[train])
            oof[name][test] = model.predict_proba(X.iloc[test])[:, 1]
        if on_fold is not None:
            on_fold(k)
    return oof


def train_deterioration(
    repo: RecordRepository,
    registry: ModelRegistry,
    plots_dir: Path,
    readings: pd.DataFrame,
    *,
    consent: ConsentDirectory | None = None,
    folds: int = 5,
    seed: int = 0,
    n_bootstrap: int = 10,
    on_step: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fit, validate and register the 7-day deterioration model from the store and the device readings."""
    say = on_step or (lambda _msg: None)
    say("building patient-day features from the record and the device streams")
    frame = deterioration_frame(repo, readings, consent)
    events = int(frame["label"].sum()) if not frame.empty else 0
    patients_with_event = int(frame.loc[frame["label"] == 1, "patient_id"].nunique()) if events else 0
    if len(frame) < 100 or events < MIN_EVENTS or patients_with_event < folds:
        raise ModelError(
            f"too few monitored patient-days to train ({len(frame)} days, {events} followed by an acute event in "
            f"{patients_with_event} patients; need 100 days, {MIN_EVENTS} event days and {folds} patients with an "
            "event): ingest a larger population with device streams"
        )
    n_patients = int(frame["patient_id"].nunique())
    say(f"{len(frame)} patient-days of {n_patients} patients, {events} followed by an acute event within 7 days")
    oof = cross_validated(frame, folds, seed, on_fold=lambda k: say(f"fold {k + 1}/{folds} done"))
    y = frame["label"].to_numpy()
    cv = {name: binary_metrics(y, p) for name, p in oof.items()}
    # The raw score's own discrimination (no link function): what a ward reading NEWS2 alone achieves.
    cv["news2"]["auroc_raw_score"] = float(roc_auc_score(y, frame["news2"].fillna(0.0)))
    chosen = max(LEARNED, key=lambda name: cv[name]["auroc"])
    groups = pd.DataFrame(
        {
            "sex": frame["sex"].fillna("unknown"),
            "race": frame["race"].fillna("unknown"),
            "ethnicity": frame["ethnicity"].fillna("unknown"),
            "age_band": age_band(frame["age"]),
            "site": frame["site"].fillna("unknown"),
        }
    )
    subgroups = [
        r.to_dict()
        for r in subgroup_metrics(y, oof[chosen], groups, threshold=FAIRNESS_THRESHOLD, min_group=30, min_events=3)
    ]
    plot = plot_calibration(
        {name: (y, oof[name]) for name in CANDIDATES},
        plots_dir / "deterioration_calibration.png",
        "Deterioration within 7 days: out-of-fold calibration",
    )
    say(f"fitting the final {chosen} model on all patient-days")
    final = RiskClassifier(chosen, n_bootstrap=n_bootstrap, random_state=seed).fit(
        frame[list(FEATURES)], y, frame["patient_id"].to_numpy()
    )
    window = f"{frame['index_time'].min():%Y-%m-%d} to {frame['index_time'].max():%Y-%m-%d}"
    card = _card(cv, chosen, subgroups, groups, len(frame), n_patients, events, window, folds)
    metadata: dict[str, Any] = {
        "estimator": chosen,
        "features": list(FEATURES),
        "training_window": window,
        "n": len(frame),
        "patients": n_patients,
        "events": events,
        "cv_auroc": cv[chosen]["auroc"],
        "calibration_plot": plot.name,
    }
    record = register_with_card(registry, final, MODEL_NAME, metadata, card)
    return TrainResult(record, card, len(frame), events, chosen, cv, plot)


def _card(
    cv: dict[str, dict[str, float]],
    chosen: str,
    subgroups: list[dict[str, Any]],
    groups: pd.DataFrame,
    n: int,
    patients: int,
    events: int,
    window: str,
    folds: int,
) -> ModelCard:
    headline = dict(cv[chosen])
    headline.update({f"baseline_news2_{k}": v for k, v in cv["news2"].items() if k in ("auroc", "auprc", "brier")})
    headline["baseline_news2_auroc_raw_score"] = cv["news2"]["auroc_raw_score"]
    headline.update({f"baseline_logistic_{k}": v for k, v in cv["logistic"].items() if k in ("auroc", "brier")})
    kind = "L2 logistic regression" if chosen == "logistic" else "LightGBM"
    return ModelCard(
        model_id=MODEL_NAME,
        version="pending",
        title="Deterioration (emergency visit or admission) within 7 days, for remotely monitored patients",
        outcome="an emergency visit or unplanned admission within 7 days",
        model_type=f"{chosen} ({kind}), calibrated (Platt or isotonic chosen on held-out data), chosen by "
        "cross-validated AUROC over L2 logistic and LightGBM; NEWS2 alone reported as the transparent baseline",
        training_window=window,
        training_population=f"{n} patient-days of {patients} patients with wearable or home-device streams "
        f"({events} days followed by an acute event) in this CarePilot store",
        intended_use="Each morning, rank remotely monitored patients by their probability of an emergency visit or "
        "admission in the next 7 days, so a care team can call or review the highest first",
        intended_users="Remote-monitoring nurses, care managers and their supervising clinicians",
        intended_population="Adults at home with a wearable, smart scale or CGM whose readings reach CarePilot",
        out_of_scope=[
            "Inpatients or emergency-department patients (NEWS2 on the ward is the tool there)",
            "Replacing an urgent clinical assessment when a patient reports symptoms",
            "Patients without device readings in the last days",
            "Children",
        ],
        limitations=[
            "Trained on the data of this store only; on the synthetic demo population the figures describe that "
            "population, not any real service",
            "Few events: intervals and subgroup figures are wide",
            "Vital signs in the record are often weeks old at home; NEWS2 here reads the latest recorded set",
            "Emergency visits to other hospitals are not seen",
        ],
        metrics=headline,
        subgroups=subgroups,
        training_data={
            "source": "the CarePilot unified record plus wearable and home-device readings",
            "n": n,
            "inclusion_exclusion": "every day of a monitored patient from the 6th day of device data until 7 days "
            "before the end of the data; days after the patient's first acute event in the window excluded",
            "demographics": representation(groups),
        },
        features=list(FEATURES),
        demographic_features={"age": "date of birth", "male": "sex"},
        methods={
            **classifier_methods(folds),
            "baseline": "NEWS2 (Royal College of Physicians 2017) through a calibrated logistic link",
        },
        created=datetime.now(UTC).date().isoformat(),
    )
