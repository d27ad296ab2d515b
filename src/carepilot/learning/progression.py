"""Train the disease-progression models (CKD progression, diabetes complications) as time-to-event models.

For each outcome (``features/progression.py``), patients are described at one landmark date and followed to
their first event or censoring. Candidates, compared by cross-validation grouped by patient (one row per
patient, so plain K folds): a regularised Cox model (the transparent baseline), scikit-survival's gradient-boosted
Cox model and a random survival forest (``models/survival.py``). Harrell's C-index and the IPCW integrated Brier
score are reported out of fold; so are the 1-year risk's AUROC, Brier and calibration among patients whose 1-year
status is known, and the subgroup tables at that horizon. The candidate with the best out-of-fold C-index is
refitted on everyone, wrapped as a ``HorizonRisk`` (risk within a year, bootstrap interval, OOD check, SHAP), and
registered with its model card. Patients who opted out of training are removed before their record is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sksurv.util import Surv

from carepilot.domain.consent import ConsentDirectory
from carepilot.errors import ModelError
from carepilot.features.population import data_end, iter_profiles
from carepilot.features.progression import FEATURES, OUTCOMES, progression_example
from carepilot.learning.consent import training_patients
from carepilot.learning.training import age_band, register_with_card
from carepilot.models.cards import ModelCard, representation
from carepilot.models.fairness import subgroup_metrics
from carepilot.models.horizon_risk import HorizonRisk
from carepilot.models.metrics import binary_metrics
from carepilot.models.plots import plot_calibration
from carepilot.models.registry import ModelRecord, ModelRegistry
from carepilot.models.survival import SurvivalModel, c_index, evaluation_times, integrated_brier
from carepilot.store.repository import RecordRepository

MODEL_NAMES = {"ckd": "ckd-progression", "diabetes": "diabetes-complications"}
TITLES = {
    "ckd": "CKD progression: sustained KDIGO GFR-category worsening or 40% eGFR decline",
    "diabetes": "Diabetes complications: new CKD, heart failure or coronary disease, or an acute complication visit",
}
OUTCOME_WORDS = {"ckd": "CKD progression within 1 year", "diabetes": "a diabetes complication within 1 year"}
HORIZON_DAYS = 365.0
FOLLOW_UP = timedelta(days=730)
MIN_EVENTS = 20
# Small, fixed settings: two shared cores; the ensembles are compared, not searched.
CANDIDATES: dict[str, dict[str, Any]] = {
    "cox": {"estimator": "cox", "alpha": 1.0},
    "gbsa": {"estimator": "gbsa", "n_estimators": 150, "learning_rate": 0.05, "max_depth": 2, "min_samples_leaf": 20},
    "rsf": {"estimator": "rsf", "n_estimators": 100, "min_samples_leaf": 20},
}


@dataclass
class ProgressionResult:
    outcome: str
    record: ModelRecord
    card: ModelCard
    n: int
    events: int
    chosen: str
    cv: dict[str, dict[str, float]]
    plot: Path | None


def landmark_date(end: datetime) -> datetime:
    """The landmark: two years of follow-up before the end of the data, at midnight UTC."""
    day = (end - FOLLOW_UP).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def progression_frames(
    repo: RecordRepository, consent: ConsentDirectory | None = None, landmark: datetime | None = None
) -> tuple[dict[str, pd.DataFrame], datetime]:
    """One frame per outcome (features at the landmark, event, time) and the landmark used."""
    ids = training_patients((p["patient_id"] for p in repo.list_patients()), consent)
    profiles = list(iter_profiles(repo, ids))
    end = data_end(profiles)
    landmark = landmark or landmark_date(end)
    frames: dict[str, pd.DataFrame] = {}
    for outcome in OUTCOMES:
        rows = []
        for profile in profiles:
            row = progression_example(profile, landmark, end, outcome)
            if row is not None:
                d = profile.demographics
                row.update(sex=d.sex, race=d.race, ethnicity=d.ethnicity, site=d.site)
                rows.append(row)
        frames[outcome] = pd.DataFrame(rows)
    return frames, landmark


def _surv(frame: pd.DataFrame) -> np.ndarray:
    return Surv.from_arrays(event=frame["event"].astype(bool).to_numpy(), time=frame["time"].to_numpy(dtype=float))


def horizon_status(frame: pd.DataFrame, horizon: float = HORIZON_DAYS) -> np.ndarray:
    """1 = event by the horizon, 0 = followed event-free past it, -1 = censored before it (status unknown)."""
    event, time = frame["event"].astype(bool).to_numpy(), frame["time"].to_numpy(dtype=float)
    return np.where(event & (time <= horizon), 1, np.where(time > horizon, 0, -1))


def cross_validated(
    frame: pd.DataFrame, folds: int = 5, seed: int = 0, on_fold: Callable[[int], None] | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Out-of-fold C-index, integrated Brier and 1-year risks for each candidate."""
    X, y = frame[list(FEATURES)], _surv(frame)
    scores: dict[str, dict[str, list[float]]] = {name: {"c_index": [], "integrated_brier": []} for name in CANDIDATES}
    risk = {name: np.full(len(frame), np.nan) for name in CANDIDATES}
    score = {name: np.full(len(frame), np.nan) for name in CANDIDATES}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(X, frame["event"].astype(int))):
        times = evaluation_times(y[train], y[test])
        for name, params in CANDIDATES.items():
            model = SurvivalModel(random_state=seed, **params).fit(X.iloc[train], y[train])
            score[name][test] = model.predict(X.iloc[test])
            surv = model.survival_at(X.iloc[test], times)
            scores[name]["c_index"].append(c_index(y[test], score[name][test]))
            scores[name]["integrated_brier"].append(integrated_brier(y[train], y[test], surv, times))
            risk[name][test] = 1.0 - model.survival_at(X.iloc[test], np.asarray([HORIZON_DAYS]))[:, 0]
        if on_fold is not None:
            on_fold(k)
    status = horizon_status(frame)
    known = status >= 0
    cv: dict[str, dict[str, float]] = {}
    for name in CANDIDATES:
        cv[name] = {
            "c_index": float(np.mean(scores[name]["c_index"])),
            "c_index_sd": float(np.std(scores[name]["c_index"], ddof=1)),
            "c_index_pooled": c_index(y, score[name]),
            "integrated_brier": float(np.mean(scores[name]["integrated_brier"])),
        }
        if len(np.unique(status[known])) == 2:
            at = binary_metrics(status[known], np.clip(risk[name][known], 1e-6, 1 - 1e-6))
            cv[name].update({f"horizon_{k}": v for k, v in at.items() if not k.startswith("net_benefit")})
    return cv, risk


def train_progression(
    repo: RecordRepository,
    registry: ModelRegistry,
    plots_dir: Path,
    *,
    consent: ConsentDirectory | None = None,
    outcomes: tuple[str, ...] = OUTCOMES,
    folds: int = 5,
    seed: int = 0,
    n_bootstrap: int = 10,
    on_step: Callable[[str], None] | None = None,
) -> list[ProgressionResult]:
    """Fit, validate and register one time-to-event model per outcome; outcomes with too few events raise."""
    say = on_step or (lambda _msg: None)
    say("building landmark features and outcomes from the record")
    frames, landmark = progression_frames(repo, consent)
    results = []
    for outcome in outcomes:
        frame = frames[outcome]
        events = int(frame["event"].sum()) if not frame.empty else 0
        if len(frame) < 100 or events < MIN_EVENTS:
            raise ModelError(
                f"{MODEL_NAMES[outcome]}: too few patients to train ({len(frame)} eligible, {events} events; need "
                f"100 and {MIN_EVENTS}): ingest a larger population"
            )
        say(f"{MODEL_NAMES[outcome]}: {len(frame)} patients from {landmark:%Y-%m-%d}, {events} events")
        cv, risk = cross_validated(frame, folds, seed, on_fold=lambda k: say(f"fold {k + 1}/{folds} done"))
        chosen = max(CANDIDATES, key=lambda name: cv[name]["c_index"])
        status = horizon_status(frame)
        known = status >= 0
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
            for r in subgroup_metrics(status[known], risk[chosen][known], groups[known], threshold=0.2, min_events=3)
        ]
        plot = plot_calibration(
            {name: (status[known], risk[name][known]) for name in CANDIDATES},
            plots_dir / f"{MODEL_NAMES[outcome]}_calibration.png",
            f"{TITLES[outcome].split(':')[0]}: 1-year risk, out-of-fold calibration",
        )
        say(f"fitting the final {chosen} model with {n_bootstrap} bootstrap refits")
        final = HorizonRisk(
            SurvivalModel(random_state=seed, **CANDIDATES[chosen]),
            horizon_days=HORIZON_DAYS,
            n_bootstrap=n_bootstrap,
            random_state=seed,
        ).fit(frame[list(FEATURES)], _surv(frame))
        card = _card(outcome, cv, chosen, subgroups, groups, len(frame), events, landmark, folds)
        metadata: dict[str, Any] = {
            "estimator": chosen,
            "features": list(FEATURES),
            "training_window": card.training_window,
            "landmark": landmark.date().isoformat(),
            "horizon_days": HORIZON_DAYS,
            "n": len(frame),
            "events": events,
            "cv_c_index": cv[chosen]["c_index"],
            "calibration_plot": plot.name,
        }
        name = MODEL_NAMES[outcome]
        record = register_with_card(registry, final, name, metadata, card)
        results.append(ProgressionResult(outcome, record, card, len(frame), events, chosen, cv, plot))
    return results


def _card(
    outcome: str,
    cv: dict[str, dict[str, float]],
    chosen: str,
    subgroups: list[dict[str, Any]],
    groups: pd.DataFrame,
    n: int,
    events: int,
    landmark: datetime,
    folds: int,
) -> ModelCard:
    headline = dict(cv[chosen])
    # The card's binary headline figures are those of the 1-year risk.
    for key in ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept"):
        if f"horizon_{key}" in headline:
            headline[key] = headline[f"horizon_{key}"]
    headline.update({f"baseline_cox_{k}": v for k, v in cv["cox"].items() if k in ("c_index", "integrated_brier")})
    kinds = {"cox": "ridge-penalised Cox model", "gbsa": "gradient-boosted Cox model", "rsf": "random survival forest"}
    window = f"{landmark:%Y-%m-%d} (landmark; features from the year before) to {landmark + FOLLOW_UP:%Y-%m-%d}"
    eligible = (
        "patients with an eGFR in the year before the landmark (baseline below 15 excluded) and at least one eGFR after"
        if outcome == "ckd"
        else "patients with type 2 diabetes active at the landmark"
    )
    return ModelCard(
        model_id=MODEL_NAMES[outcome],
        version="pending",
        title=TITLES[outcome],
        outcome=OUTCOME_WORDS[outcome],
        model_type=f"{chosen} ({kinds[chosen]}) chosen by cross-validated C-index over a ridge Cox model, "
        "gradient-boosted Cox and a random survival forest (scikit-survival); 1-year risk read from the survival "
        "curve",
        training_window=window,
        training_population=f"{n} {eligible}; {events} events in this CarePilot store",
        intended_use="Estimate a patient's 1-year risk of "
        + ("CKD progression" if outcome == "ckd" else "a diabetes complication")
        + ", to prioritise review, referral and risk-factor treatment in chronic-disease clinics",
        intended_users="Primary-care and specialist clinicians, chronic-disease care managers",
        intended_population=eligible.capitalize(),
        out_of_scope=[
            "Acute kidney injury or acute illness",
            "Dialysis or transplant decisions",
            "Children",
            "Populations other than the one the store holds, without local validation",
        ],
        limitations=[
            "Trained on the data of this store only; on the synthetic demo population the figures describe that "
            "population, not any real clinic",
            "Outcomes are read from the record: progression measured elsewhere or never tested is not seen",
            "One landmark date: trends after it are not used by this model version",
        ],
        metrics=headline,
        subgroups=subgroups,
        training_data={
            "source": "the CarePilot unified record (FHIR resources ingested into the store)",
            "n": n,
            "inclusion_exclusion": eligible,
            "demographics": representation(groups),
        },
        features=list(FEATURES),
        demographic_features={"age": "date of birth", "male": "sex"},
        methods={
            "validation": f"{folds}-fold cross-validation stratified by event (one row per patient): Harrell C-index "
            "and IPCW integrated Brier score (Graf et al. 1999) out of fold",
            "calibration": "1-year risk from the survival curve; calibration checked out of fold among patients "
            "whose 1-year status is known",
            "interval": "percentile bootstrap over model refits (Efron & Tibshirani 1993)",
            "explanation": "SHAP values of the 1-year risk (permutation explainer) in percentage points",
        },
        created=datetime.now(UTC).date().isoformat(),
    )
