"""How close CarePilot's models come to the truth on the synthetic population, where the truth is known.

Risk: the readmission model is trained through the real path (FHIR -> ingest -> store -> point-in-time features)
on 70% of the patients and its AUROC on the other 30% is compared with the AUROC of the true risk that generated
the outcomes (the oracle, the physical limit). Treatment effects: the effect engine is fitted on the diabetes
add-on decision (covariates at decision time, option given, HbA1c at 6 months) of 70% of the patients; on the rest,
the learned policy's true mean outcome is compared with the oracle policy (each patient's best option by the truth)
and with the best single option for everyone; regret and sqrt(PEHE) against the true individual effects.

Options: ``patients`` (default 4000), ``seed`` (default 11), ``dir`` (an existing population folder instead).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from carepilot.bench import BenchReport, peak_rss_mb
from carepilot.config import Settings
from carepilot.features.population import iter_profiles, readmission_frame
from carepilot.features.readmission import FEATURES
from carepilot.ingest.pipeline import Ingestor
from carepilot.ingest.readers import discover
from carepilot.learning.training import CANDIDATES, cross_validated
from carepilot.models.effects.engine import EffectEngine
from carepilot.models.metrics import binary_metrics
from carepilot.models.risk import RiskClassifier
from carepilot.store.db import open_database
from carepilot.store.repository import SqlRecordRepository
from carepilot.synth.population import SynthOptions, generate

OPTIONS = ("sglt2", "glp1", "dpp4", "su")
COVARIATES = (
    "x_age",
    "x_female",
    "x_bmi",
    "x_egfr",
    "x_hba1c",
    "x_heart_failure",
    "x_ckd",
    "x_coronary_disease",
    "x_asian",
    "x_adherence",
    "x_diabetes_years",
)


def _risk(population: Path, workdir: Path, seed: int) -> dict[str, float]:
    db = open_database(f"sqlite:///{workdir / 'store.db'}")
    repo = SqlRecordRepository(db)
    Ingestor(repo, "ehr").ingest(discover([population / "fhir" / "ehr"]))
    frame = readmission_frame(list(iter_profiles(repo)))
    truth = pd.read_parquet(population / "truth" / "readmissions.parquet")[["encounter_id", "true_risk"]]
    frame = frame.merge(truth, on="encounter_id", how="inner")
    split = GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=seed)
    train_idx, test_idx = next(split.split(frame, frame["label"], frame["patient_id"]))
    train, test = frame.iloc[train_idx], frame.iloc[test_idx]
    oof = cross_validated(train.reset_index(drop=True), folds=5, seed=seed)
    cv_auroc = {name: float(roc_auc_score(train["label"], oof[name])) for name in CANDIDATES}
    chosen = max(CANDIDATES, key=lambda n: cv_auroc[n])  # chosen on the training patients only
    model = RiskClassifier(chosen, random_state=seed).fit(
        train[list(FEATURES)], train["label"].to_numpy(), train["patient_id"].to_numpy()
    )
    p = model.predict_proba(test[list(FEATURES)])[:, 1]
    y = test["label"].to_numpy()
    ours = binary_metrics(y, p)
    oracle = float(roc_auc_score(y, test["true_risk"]))
    return {
        "discharges": float(len(frame)),
        "test_discharges": float(len(test)),
        "auroc": round(ours["auroc"], 4),
        "oracle_auroc": round(oracle, 4),
        "gap": round(oracle - ours["auroc"], 4),
        "calibration_slope": round(ours["calibration_slope"], 3),
        "estimator_logistic_cv_auroc": round(cv_auroc["logistic"], 4),
        "estimator_lightgbm_cv_auroc": round(cv_auroc["lightgbm"], 4),
    }


def _effects(population: Path, seed: int) -> dict[str, float]:
    d = pd.read_parquet(population / "truth" / "decision_t2d_addon.parquet")
    X = d[list(COVARIATES)].astype(float).to_numpy()
    rng = np.random.default_rng(seed)
    test = rng.random(len(d)) < 0.3
    engine = EffectEngine(reference="su").fit(X[~test], d["option_given"][~test], d["observed_hba1c_6m"][~test])
    contrasts = engine.contrasts_
    effects = engine.effect(X[test])  # (n, k-1): each option minus sulfonylurea, HbA1c at 6 months
    predicted = np.column_stack([np.zeros(len(effects)), effects])
    labels = ["su", *contrasts]
    choice = np.asarray(labels)[np.argmin(predicted, axis=1)]  # lower HbA1c is better
    outcomes = d.loc[test, [f"hba1c_6m_{o}" for o in OPTIONS]].to_numpy()
    by_option = dict(zip(OPTIONS, outcomes.T, strict=True))
    policy_value = float(np.mean([by_option[c][i] for i, c in enumerate(choice)]))
    oracle_value = float(outcomes.min(axis=1).mean())
    best_single_value = float(min(v.mean() for v in by_option.values()))
    true_effects = np.column_stack([by_option[o] - by_option["su"] for o in contrasts])
    pehe = float(np.sqrt(np.mean((effects - true_effects) ** 2)))
    gap = best_single_value - oracle_value
    regret = policy_value - oracle_value
    return {
        "decision_rows": float(len(d)),
        "policy_value": round(policy_value, 4),
        "oracle_value": round(oracle_value, 4),
        "best_single_value": round(best_single_value, 4),
        "policy_regret": round(regret, 4),
        "regret_share_of_gap": round(regret / gap, 3) if gap > 0 else float("nan"),
        "pehe": round(pehe, 4),
        "effect_learner": str(engine.learner_),
    }


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    seed = int(options.get("seed", "11"))
    workdir = Path(tempfile.mkdtemp(prefix="carepilot-bench-oracle-"))
    try:
        if "dir" in options:
            population = Path(options["dir"])
        else:
            population = workdir / "population"
            generate(
                SynthOptions(
                    patients=int(options.get("patients", "4000")),
                    seed=seed,
                    out=population,
                    format="ndjson",
                    streams=False,
                    reference_data=settings.reference_data,
                )
            )
        metrics: dict[str, object] = {**_risk(population, workdir, seed), **_effects(population, seed)}
        metrics["peak_rss_mb"] = peak_rss_mb()
        return BenchReport(
            benchmark="synthetic-oracle",
            dataset=f"CarePilot synthetic population ({options.get('patients', '4000')} patients, seed {seed})"
            if "dir" not in options
            else f"synthetic population at {population}",
            n=int(metrics["test_discharges"]),  # type: ignore[call-overload]
            metrics=metrics,
            baselines={
                "oracle (true risk / true best option)": {
                    "auroc": metrics["oracle_auroc"],
                    "policy_value": metrics["oracle_value"],
                },
                "target": {"gap": 0.02, "regret_share_of_gap": 0.10},
            },
            notes=[
                "risk: 70/30 split by patient; estimator chosen by grouped 5-fold CV on the training patients",
                "effects: HbA1c at 6 months (lower is better) for the metformin add-on decision; covariates at "
                "decision time from the truth file, outcomes as observed under the option given",
            ],
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
