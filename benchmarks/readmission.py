"""30-day readmission on the UCI Diabetes 130-US hospitals data (Strack et al. 2014), 5-fold CV by patient.

Data: ``diabetes130/diabetic_data.csv`` (101,766 encounters, 1999-2008; ``?`` = missing; UCI ML repository,
CC BY 4.0). Encounters discharged to hospice or death (dispositions 11, 13, 14, 19, 20, 21) are dropped; the
label is ``readmitted == "<30"``. Folds are ``StratifiedGroupKFold`` grouped by ``patient_nbr`` so no patient
is in both training and test. Tuning and calibration happen inside each training fold (``RiskClassifier``).

Features: the recorded encounter fields; ICD-9 chapters of diag_1..3 (Strack 2014 grouping); counts of
medications given / changed; prior-visit counts the data set records; and *within-data history* computed per
patient in ``encounter_id`` order from **past** encounters only: number of earlier encounters, earlier
encounters that were followed by a readmission within 30 days / at all, and days spent in hospital before.
A past encounter's readmission label is known by the time of any later admission (the readmission it
describes happened on or before that later admission), so it is history, not leakage.

Options: ``sample`` (number of encounters, drawn by patient), ``folds`` (default 5), ``seed``, ``plots``
(folder for the calibration PNG), ``bootstrap`` (refits per fold for interval width; default 0), ``card``
(folder for a model card, JSON and markdown, built from the cross-validated results).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from carepilot.bench import BenchReport, environment, peak_rss_mb, require_reference
from carepilot.config import Settings
from carepilot.models.cards import ModelCard, representation
from carepilot.models.fairness import subgroup_metrics
from carepilot.models.metrics import binary_metrics
from carepilot.models.plots import plot_calibration
from carepilot.models.risk import RiskClassifier

EXCLUDED_DISPOSITIONS = {11, 13, 14, 19, 20, 21}
MEDICATIONS = [
    "metformin", "repaglinide", "nateglinide", "chlorpropamide", "glimepiride", "acetohexamide", "glipizide",
    "glyburide", "tolbutamide", "pioglitazone", "rosiglitazone", "acarbose", "miglitol", "troglitazone",
    "tolazamide", "examide", "citoglipton", "insulin", "glyburide-metformin", "glipizide-metformin",
    "glimepiride-pioglitazone", "metformin-rosiglitazone", "metformin-pioglitazone",
]  # fmt: skip
HEADLINE = "lightgbm"
FEATURES = (
    "age_years", "gender", "race", "admission_type", "discharge_disposition", "admission_source",
    "payer_code",
    "medical_specialty", "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications",
    "number_outpatient", "number_emergency", "number_inpatient", "total_prior_visits", "number_diagnoses",
    "max_glu_serum", "a1c_result", "medications_given", "medications_changed", "insulin", "metformin",
    "medication_change", "diabetes_medication", "prior_encounters", "prior_readmit_30d", "prior_readmit_any",
    "prior_days_in_hospital", "prior_inpatient_recorded", "diag_1_group", "diag_2_group", "diag_3_group",
    "diag_1_code", "diag_2_code",
)  # fmt: skip
BASELINES = {
    "literature range (Strack 2014 and follow-ups)": {"auroc_low": 0.64, "auroc_high": 0.68},
    "L2 logistic, patient-grouped CV": {"auroc": 0.665},
    "gradient boosting, patient-grouped CV": {"auroc": 0.659},
}


def icd9_chapter(code: object) -> str:
    """Strack et al. 2014 grouping of an ICD-9 code into a clinical category."""
    if not isinstance(code, str) or not code:
        return "missing"
    if code[0] in "VE":
        return "supplementary"
    try:
        value = float(code)
    except ValueError:
        return "other"
    if int(value) == 250:
        return "diabetes"
    if 390 <= value < 460 or int(value) == 785:
        return "circulatory"
    if 460 <= value < 520 or int(value) == 786:
        return "respiratory"
    if 520 <= value < 580 or int(value) == 787:
        return "digestive"
    if 800 <= value < 1000:
        return "injury"
    if 710 <= value < 740:
        return "musculoskeletal"
    if 580 <= value < 630 or int(value) == 788:
        return "genitourinary"
    if 140 <= value < 240:
        return "neoplasms"
    return "other"


def load(path: Path) -> pd.DataFrame:
    """The encounters table with missing markers as NaN, in encounter order."""
    frame = pd.read_csv(path, na_values="?", low_memory=False, dtype={"diag_1": str, "diag_2": str, "diag_3": str})
    return frame.sort_values("encounter_id", kind="stable").reset_index(drop=True)


def build_features(raw: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.DataFrame]:
    """Features, labels, patient groups and the demographic columns used for the subgroup table."""
    df = raw.copy()
    by_patient = df.groupby("patient_nbr", sort=False)
    # History from PAST encounters only: cumulative sums shifted by one within each patient.
    df["prior_encounters"] = by_patient.cumcount()
    past_lt30 = (df["readmitted"] == "<30").astype(int)
    past_any = (df["readmitted"] != "NO").astype(int)
    df["prior_readmit_30d"] = past_lt30.groupby(df["patient_nbr"]).cumsum() - past_lt30
    df["prior_readmit_any"] = past_any.groupby(df["patient_nbr"]).cumsum() - past_any
    df["prior_days_in_hospital"] = by_patient["time_in_hospital"].cumsum() - df["time_in_hospital"]
    df["prior_inpatient_recorded"] = by_patient["number_inpatient"].shift(1).fillna(-1)

    df = df[~df["discharge_disposition_id"].isin(EXCLUDED_DISPOSITIONS)].reset_index(drop=True)
    y = (df["readmitted"] == "<30").astype(int).to_numpy()
    groups = df["patient_nbr"].to_numpy()

    meds = df[MEDICATIONS]
    features = pd.DataFrame(
        {
            "age_years": df["age"].str.extract(r"\[(\d+)-")[0].astype(float) + 5.0,
            "gender": df["gender"].replace("Unknown/Invalid", np.nan),
            "race": df["race"],
            "admission_type": df["admission_type_id"].astype(str),
            "discharge_disposition": df["discharge_disposition_id"].astype(str),
            "admission_source": df["admission_source_id"].astype(str),
            "payer_code": df["payer_code"],
            "medical_specialty": df["medical_specialty"],
            "time_in_hospital": df["time_in_hospital"],
            "num_lab_procedures": df["num_lab_procedures"],
            "num_procedures": df["num_procedures"],
            "num_medications": df["num_medications"],
            "number_outpatient": df["number_outpatient"],
            "number_emergency": df["number_emergency"],
            "number_inpatient": df["number_inpatient"],
            "total_prior_visits": df["number_outpatient"] + df["number_emergency"] + df["number_inpatient"],
            "number_diagnoses": df["number_diagnoses"],
            "max_glu_serum": df["max_glu_serum"].fillna("None"),
            "a1c_result": df["A1Cresult"].fillna("None"),
            "medications_given": (meds != "No").sum(axis=1),
            "medications_changed": meds.isin(["Up", "Down"]).sum(axis=1),
            "insulin": df["insulin"],
            "metformin": df["metformin"],
            "medication_change": df["change"],
            "diabetes_medication": df["diabetesMed"],
            "prior_encounters": df["prior_encounters"],
            "prior_readmit_30d": df["prior_readmit_30d"],
            "prior_readmit_any": df["prior_readmit_any"],
            "prior_days_in_hospital": df["prior_days_in_hospital"],
            "prior_inpatient_recorded": df["prior_inpatient_recorded"],
        }
    )
    for i in (1, 2, 3):
        features[f"diag_{i}_group"] = df[f"diag_{i}"].map(icd9_chapter)
    features["diag_1_code"] = df["diag_1"].str.split(".").str[0]  # 3-digit code, target-encoded in folds
    features["diag_2_code"] = df["diag_2"].str.split(".").str[0]
    demographics = pd.DataFrame({"sex": features["gender"], "race": features["race"], "age_band": df["age"]})
    return features[list(FEATURES)], y, groups, demographics


def _summary(per_fold: list[dict[str, float]], pooled: dict[str, float]) -> dict[str, Any]:
    keys = ["auroc", "auprc", "brier", "calibration_slope", "calibration_intercept"]
    out: dict[str, Any] = {k: round(float(np.mean([f[k] for f in per_fold])), 4) for k in keys}
    for k in keys:
        vals = [f[k] for f in per_fold]
        out[f"{k}_sd"] = round(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, 4)
        out[f"{k}_folds"] = [round(v, 4) for v in vals]
    out["pooled"] = {k: round(v, 4) for k, v in pooled.items()}
    return out


def model_card(metrics: dict[str, Any], demographics: pd.DataFrame, folds: int) -> ModelCard:
    """Model card of the LightGBM readmission model from its cross-validated results."""
    keys = ("auroc", "auroc_sd", "auprc", "brier", "calibration_slope", "calibration_slope_sd")
    headline = {k: metrics[k] for k in (*keys, "calibration_intercept")}
    pooled = metrics[HEADLINE]["pooled"]
    headline.update({k: v for k, v in pooled.items() if k.startswith("net_benefit")})
    return ModelCard(
        model_id="readmission-30d-diabetes",
        version="cv",
        title="30-day readmission after a diabetes inpatient encounter",
        outcome="readmission within 30 days of discharge",
        model_type="LightGBM gradient boosting, Platt or isotonic calibration chosen on validation data",
        training_window="1999-2008 (encounter dates are not in the data set)",
        training_population="Inpatient encounters of patients with diabetes at 130 US hospitals "
        "(UCI Diabetes 130-US hospitals, Strack et al. 2014)",
        intended_use="Estimate, at discharge, the probability of readmission within 30 days to prioritise "
        "discharge planning and follow-up calls",
        intended_users="Discharge planners, ward clinicians and care managers",
        intended_population="Adult inpatients with diabetes, length of stay 1-14 days, not discharged to "
        "hospice and alive at discharge",
        out_of_scope=[
            "Patients discharged to hospice or who died (excluded from training)",
            "Children and adolescents (under 1% of training encounters)",
            "Deciding whether to admit or to discharge a patient",
            "Hospitals outside the US or care after 2008 without local validation",
        ],
        limitations=[
            "Modest discrimination (AUROC about 0.68): many readmissions get low predicted risk",
            "No encounter dates: 'earlier encounters' follow encounter_id order",
            "Readmissions to hospitals outside the data set are not seen",
            "Discrimination falls with age (AUROC about 0.60 in patients over 90)",
            "No external validation",
        ],
        metrics=headline,
        subgroups=metrics["subgroups"],
        training_data={
            "source": "UCI Diabetes 130-US hospitals 1999-2008, CC BY 4.0",
            "n": len(demographics),
            "inclusion_exclusion": "All encounters in the data set (diabetic inpatients, stays of 1-14 days, "
            "laboratory tests and medications recorded) except discharge dispositions 11, 13, 14, 19, 20, 21 "
            "(expired or hospice)",
            "demographics": representation(demographics),
            "relevance": "US hospital inpatients 1999-2008; practice, coding (ICD-9) and populations have "
            "changed since, so a deploying site must validate locally",
        },
        features=list(FEATURES),
        demographic_features={"race": "race", "gender": "sex", "age_years": "date of birth"},
        methods={
            "validation": f"{folds}-fold cross-validation grouped by patient, mean over test folds",
            "calibration": "Platt or isotonic, chosen by cross-fitted Brier score on a calibration split",
            "interval": "percentile bootstrap over model refits (Efron & Tibshirani 1993)",
            "explanation": "SHAP TreeExplainer, summed per input feature, in percentage points of risk",
        },
        created=datetime.now(UTC).date().isoformat(),
    )


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Grouped 5-fold CV of the logistic baseline and LightGBM; metrics, subgroup table, calibration plot."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    path = require_reference(settings, "diabetes130", "diabetic_data.csv")
    folds = int(options.get("folds", "5"))
    seed = int(options.get("seed", "0"))
    n_boot = int(options.get("bootstrap", "0"))
    raw = load(path)
    X, y, groups, demo = build_features(raw)
    if "sample" in options:
        rng = np.random.default_rng(seed)
        patients = rng.permutation(pd.unique(groups))
        counts = pd.Series(groups).value_counts().reindex(patients).cumsum()
        keep = set(counts[counts <= int(options["sample"])].index)
        mask = np.isin(groups, list(keep))
        X, y, groups, demo = (
            X[mask].reset_index(drop=True),
            y[mask],
            groups[mask],
            demo[mask].reset_index(drop=True),
        )

    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = {name: np.zeros(len(y)) for name in ("logistic", "lightgbm")}
    per_fold: dict[str, list[dict[str, float]]] = {name: [] for name in oof}
    chosen: dict[str, list[Any]] = {name: [] for name in oof}
    widths: dict[str, list[float]] = {name: [] for name in oof}
    for train, test in cv.split(X, y, groups):
        for name in oof:
            model = RiskClassifier(name, n_bootstrap=n_boot, random_state=seed)
            model.fit(X.iloc[train], y[train], groups=groups[train])
            p = model.predict_proba(X.iloc[test])[:, 1]
            oof[name][test] = p
            per_fold[name].append(binary_metrics(y[test], p))
            chosen[name].append({"params": model.best_params_, "calibration": model.calibration_method_})
            if n_boot:
                lo, hi = model.predict_interval(X.iloc[test])
                widths[name].append(float(np.median(hi - lo)))

    results = {name: _summary(per_fold[name], binary_metrics(y, oof[name])) for name in oof}
    for name in oof:
        results[name]["chosen"] = chosen[name]
        if widths[name]:
            results[name]["median_interval_width"] = round(float(np.mean(widths[name])), 4)
    headline = results[HEADLINE]
    metrics: dict[str, Any] = {k: headline[k] for k in headline if not isinstance(headline[k], list | dict)}
    metrics["headline_model"] = HEADLINE
    metrics["target_met"] = bool(headline["auroc"] >= 0.68 and 0.9 <= headline["calibration_slope"] <= 1.1)
    metrics["logistic"] = results["logistic"]
    metrics["lightgbm"] = results["lightgbm"]
    metrics["subgroups"] = [r.to_dict() for r in subgroup_metrics(y, oof[HEADLINE], demo, threshold=0.2)]
    metrics["peak_rss_mb"] = peak_rss_mb()
    # CPU seconds beside wall seconds: the machines are shared, so wall time varies with load.
    metrics["cpu_seconds"] = round(time.process_time() - cpu_started, 1)

    notes = [
        f"{folds}-fold StratifiedGroupKFold by patient_nbr; tuning and calibration inside each training fold",
        "headline numbers are the LightGBM model, mean over folds; pooled out-of-fold metrics under 'pooled'",
        "data: UCI Diabetes 130-US hospitals 1999-2008 (Strack et al. 2014), CC BY 4.0",
    ]
    if not metrics["target_met"]:
        notes.append(
            f"target missed: AUROC {headline['auroc']:.3f} (target >= 0.68), "
            f"calibration slope {headline['calibration_slope']:.3f} (target 0.9-1.1)"
        )
    if "plots" in options:
        png = plot_calibration(
            {name: (y, oof[name]) for name in oof},
            Path(options["plots"]) / "readmission_calibration.png",
            f"30-day readmission: out-of-fold calibration ({folds} folds)",
        )
        notes.append(f"calibration plot written to {png}")
    if "card" in options:
        card = model_card(metrics, demo, folds)
        folder = Path(options["card"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "readmission-model-card.json").write_text(card.to_json(), encoding="utf-8")
        (folder / "readmission-model-card.md").write_text(card.to_markdown(), encoding="utf-8")
        notes.append(f"model card written to {folder}")
    return BenchReport(
        benchmark="readmission",
        dataset="diabetes130 (UCI Diabetes 130-US hospitals, 1999-2008)",
        n=len(y),
        metrics=metrics,
        baselines=BASELINES,
        seconds=round(time.perf_counter() - started, 2),
        environment=environment(),
        notes=notes,
    )
