"""Patient cohorts: k-means on condition, lab and utilisation profiles, each group described in words.

Inputs (``features/cohorts.py``) are imputed with the population median, with a missing-lab indicator (not
being tested is itself informative), and standardised; conditions enter as 0/1. k-means (Lloyd 1982;
scikit-learn ``KMeans``, k-means++ starts, Arthur & Vassilvitskii 2007) is fitted for each k in a range and k is
chosen by the mean silhouette width (Rousseeuw 1987) computed on the data themselves, unless the caller gives k.
A cohort is described by what distinguishes it from the whole population: over-represented conditions (share in
the group vs in everyone), labs whose group median differs most from the population median (in population
standard deviations), utilisation, and its outcomes (30-day readmission rate among discharges, mortality).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from carepilot.errors import InputError
from carepilot.features.cohorts import CONDITIONS, LAB_LABELS, LABS, UTILISATION

MIN_PATIENTS = 20
SILHOUETTE_SAMPLE = 2000
# Conditions weigh as much as the labs and utilisation together would otherwise drown them out.
CONDITION_WEIGHT = 1.5


@dataclass
class Cohort:
    """One group of patients and what distinguishes it."""

    label: int
    size: int
    share: float
    name: str
    conditions: list[dict[str, Any]] = field(default_factory=list)
    labs: list[dict[str, Any]] = field(default_factory=list)
    utilisation: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, float | None] = field(default_factory=dict)
    description: str = ""


@dataclass
class CohortResult:
    k: int
    chosen_by: str
    silhouette: dict[int, float]
    cohorts: list[Cohort]
    assignments: pd.Series

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "chosen_by": self.chosen_by,
            "silhouette": {str(k): round(v, 4) for k, v in self.silhouette.items()},
            "cohorts": [c.__dict__ for c in self.cohorts],
        }


def _inputs(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [f"has_{c}" for c in CONDITIONS] + [f"lab_{lab}" for lab in LABS] + list(UTILISATION) + ["age"]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(f"cohort frame lacks column(s) {missing}")
    return frame[cols].astype(float)


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    X = _inputs(frame)
    cond = [f"has_{c}" for c in CONDITIONS]
    other = [c for c in X.columns if c not in cond]
    prep = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    scaled = prep.fit_transform(X[other])
    return np.hstack([CONDITION_WEIGHT * X[cond].to_numpy(), scaled])


def cluster(frame: pd.DataFrame, k: int | None = None, k_range: range = range(3, 9), seed: int = 0) -> CohortResult:
    """Cluster the patients of ``frame`` (one row each) and describe every cohort."""
    if len(frame) < MIN_PATIENTS:
        raise InputError(f"cohorts need at least {MIN_PATIENTS} patients, the store holds {len(frame)}")
    if k is not None and not 2 <= k <= len(frame) // 5:
        raise InputError(f"--k must be between 2 and {len(frame) // 5} for {len(frame)} patients, got {k}")
    X = _matrix(frame)
    ks = [k] if k is not None else [c for c in k_range if c <= len(frame) // 5]
    scores: dict[int, float] = {}
    fits: dict[int, np.ndarray] = {}
    for c in ks:
        labels = KMeans(n_clusters=c, n_init=4, random_state=seed).fit_predict(X)
        fits[c] = labels
        scores[c] = float(silhouette_score(X, labels, sample_size=min(SILHOUETTE_SAMPLE, len(X)), random_state=seed))
    chosen = k if k is not None else max(scores, key=lambda c: scores[c])
    labels = fits[chosen]
    # Number cohorts by size, largest first, so the output reads the same from run to run.
    order = pd.Series(labels).value_counts().index.tolist()
    relabel = {old: new for new, old in enumerate(order)}
    labels = np.asarray([relabel[v] for v in labels])
    cohorts = [describe(frame, labels == c, c) for c in range(chosen)]
    return CohortResult(
        k=chosen,
        chosen_by="given" if k is not None else "silhouette",
        silhouette=scores,
        cohorts=cohorts,
        assignments=pd.Series(labels, index=frame["patient_id"].to_numpy(), name="cohort"),
    )


def _rate(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator > 0 else None


def describe(frame: pd.DataFrame, mask: np.ndarray, label: int) -> Cohort:
    """What distinguishes the patients under ``mask`` from everyone in ``frame``, in numbers and words."""
    group = frame[mask]
    conditions: list[dict[str, Any]] = []
    for c in CONDITIONS:
        share, overall = float(group[f"has_{c}"].mean()), float(frame[f"has_{c}"].mean())
        if share >= 0.2 and overall > 0 and share / overall >= 1.5:
            conditions.append(
                {"condition": c.replace("_", " "), "share": round(share, 3), "overall": round(overall, 3)}
            )
    conditions.sort(key=lambda d: -float(d["share"]) / float(d["overall"]))
    labs: list[dict[str, Any]] = []
    for lab in LABS:
        col = f"lab_{lab}"
        sd = float(frame[col].std())
        tested = group[col].notna().mean()
        if group[col].notna().sum() < 5 or not sd or tested < 0.3:
            continue
        med, pop = float(group[col].median()), float(frame[col].median())
        shift = (med - pop) / sd
        if abs(shift) >= 0.4:
            labs.append(
                {"lab": lab, "median": round(med, 2), "population_median": round(pop, 2), "shift_sd": round(shift, 2)}
            )
    labs.sort(key=lambda d: -abs(float(d["shift_sd"])))
    utilisation = {u: round(float(group[u].mean()), 3) for u in UTILISATION}
    utilisation_all = {u: float(frame[u].mean()) for u in UTILISATION}
    outcomes = {
        "readmission_rate_30d": _rate(float(group["readmissions_30d"].sum()), float(group["discharges"].sum())),
        # Mortality only where the store records deaths at all; otherwise it is unknown, not zero.
        "mortality": _rate(float(group["deceased"].sum()), float(len(group))) if frame["deceased"].any() else None,
        "median_age": round(float(group["age"].median()), 1),
    }
    name, text = _words(conditions, labs, utilisation, utilisation_all, outcomes, frame, len(group))
    return Cohort(
        label=label,
        size=len(group),
        share=round(len(group) / len(frame), 4),
        name=name,
        conditions=conditions,
        labs=labs,
        utilisation=utilisation,
        outcomes=outcomes,
        description=text,
    )


def _words(
    conditions: list[dict[str, Any]],
    labs: list[dict[str, Any]],
    utilisation: dict[str, float],
    utilisation_all: dict[str, float],
    outcomes: dict[str, Any],
    frame: pd.DataFrame,
    size: int,
) -> tuple[str, str]:
    lab_words = []
    for d in labs[:3]:
        label, unit = LAB_LABELS[d["lab"]]
        direction = "high" if d["shift_sd"] > 0 else "low"
        lab_words.append(
            f"{direction} {label} (median {d['median']:g}{' ' + unit if unit else ''} vs {d['population_median']:g})"
        )
    heavy = (
        utilisation["inpatient_365d"] >= 1.5 * max(utilisation_all["inpatient_365d"], 1e-9)
        and utilisation["inpatient_365d"] >= 0.2
    )
    light = utilisation["inpatient_365d"] <= 0.5 * utilisation_all["inpatient_365d"]
    parts = [d["condition"] for d in conditions[:3]]
    if lab_words:
        parts.append(lab_words[0].split(" (")[0])
    if heavy:
        parts.append("frequent admissions")
    if not conditions and not labs:
        parts.append("few recorded conditions")
    joined = ", ".join(parts) or "mixed profile"
    name = joined[0].upper() + joined[1:]  # not str.capitalize(): it would lower-case "eGFR" and "LDL"
    sentences = [f"{size} patients, median age {outcomes['median_age']:g}."]
    if conditions:
        sentences.append(
            "Over-represented: "
            + ", ".join(
                f"{d['condition']} {100 * d['share']:.0f}% (vs {100 * d['overall']:.0f}% overall)"
                for d in conditions[:4]
            )
            + "."
        )
    if lab_words:
        sentences.append("Labs: " + "; ".join(lab_words) + ".")
    sentences.append(
        f"Utilisation: {utilisation['inpatient_365d']:.2f} admissions and {utilisation['emergency_365d']:.2f} emergency "
        f"visits per patient in the past year (population {utilisation_all['inpatient_365d']:.2f} and "
        f"{utilisation_all['emergency_365d']:.2f})"
        + ("; admitted more often than most." if heavy else ("; rarely admitted." if light else "."))
    )
    rr, mort = outcomes["readmission_rate_30d"], outcomes["mortality"]
    overall_rr = _rate(float(frame["readmissions_30d"].sum()), float(frame["discharges"].sum()))
    out = []
    if rr is not None:
        out.append(
            f"30-day readmission {100 * rr:.0f}% of discharges"
            + (f" (population {100 * overall_rr:.0f}%)" if overall_rr is not None else "")
        )
    if mort is not None:
        out.append(
            f"mortality in the record {100 * mort:.1f}% (population {100 * float(frame['deceased'].mean()):.1f}%)"
        )
    else:
        out.append("mortality unknown (no deaths recorded in this store)")
    sentences.append("Outcomes: " + "; ".join(out) + ".")
    return name, " ".join(sentences)
