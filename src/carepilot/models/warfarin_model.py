"""Warfarin maintenance-dose model learned on the IWPC cohort, with cross-conformal prediction intervals.

The estimator is an ensemble of ridge regression (scikit-learn ``RidgeCV``) and gradient-boosted trees
(LightGBM, L1 loss) on the square root of the weekly dose, the scale the IWPC equations use (IWPC, N Engl J
Med 2009;360:753-64). Everything that is tuned (ridge penalty, boosting rounds, ensemble weight) is chosen on
out-of-fold predictions inside the training data given to ``fit``; those out-of-fold residuals are also the
conformity scores of the interval (cross-conformal prediction: Vovk, Ann Math Artif Intell 2015; Barber et
al., Ann Stat 2021).

``load_iwpc_cohort`` reads the IWPC data file in place and applies the documented inclusion rules; it is the
only function here that does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from carepilot.domain.insight import Interval
from carepilot.errors import ModelError, UnreadableInputError
from carepilot.knowledge.warfarin import Race, WarfarinCovariates, iwpc_table

MODEL_ID = "warfarin-dose-ensemble"
MODEL_VERSION = "1.0"

CYP2C9_GENOTYPES = ("*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3")
# Other VKORC1 SNPs in the IWPC file -> the allele counted (0/1/2); the sign is irrelevant to the models.
VKORC1_OTHER_SNPS = {
    "rs2884737": ("VKORC1 497 consensus", "G"),
    "rs9934438": ("VKORC1 1173 consensus", "T"),
    "rs8050894": ("VKORC1 1542 consensus", "C"),
    "rs7294": ("VKORC1 3730 consensus", "A"),
    "rs2359612": ("VKORC1 2255 consensus", "T"),
    "rs17880887": ("VKORC1 -4451 consensus", "A"),
}
# IWPC data dictionary: indication codes 1-8.
INDICATIONS = {
    "1": "dvt",
    "2": "pe",
    "3": "af",
    "4": "valve",
    "5": "cardiomyopathy",
    "6": "stroke",
    "7": "post_orthopaedic",
    "8": "other",
}
BINARY_COLUMNS = {
    "smoker": "Current Smoker",
    "diabetes": "Diabetes",
    "heart_failure": "Congestive Heart Failure and/or Cardiomyopathy",
    "valve_replacement": "Valve Replacement",
    "aspirin": "Aspirin",
    "acetaminophen": "Acetaminophen or Paracetamol (Tylenol)",
    "simvastatin": "Simvastatin (Zocor)",
    "atorvastatin": "Atorvastatin (Lipitor)",
    "fluvastatin": "Fluvastatin (Lescol)",
    "lovastatin": "Lovastatin (Mevacor)",
    "pravastatin": "Pravastatin (Pravachol)",
    "rosuvastatin": "Rosuvastatin (Crestor)",
    "azole": "Anti-fungal Azoles",
    "sulfonamide": "Sulfonamide Antibiotics",
    "macrolide": "Macrolide Antibiotics",
    "herbal": "Herbal Medications, Vitamins, Supplements",
}
RARE_CYP2C9 = ("*1/*5", "*1/*6", "*1/*11", "*1/*13", "*1/*14")

FEATURES: tuple[str, ...] = (
    "age_decade",
    "height_cm",
    "weight_kg",
    "male",
    "race_asian",
    "race_black",
    "race_missing_or_mixed",
    "hispanic",
    *(f"cyp2c9_{g[1]}_{g[4]}" for g in CYP2C9_GENOTYPES),
    "cyp2c9_unknown",
    "cyp2c9_star2",
    "cyp2c9_star3",
    "vkorc1_a",
    "vkorc1_unknown",
    *(f"vkorc1_{snp}" for snp in VKORC1_OTHER_SNPS),
    "amiodarone",
    "enzyme_inducer",
    "target_inr",
    *(f"indication_{name}" for name in INDICATIONS.values()),
    *BINARY_COLUMNS,
)


@dataclass
class IwpcCohort:
    """The IWPC cohort after inclusion: features, IWPC covariates, and the stable weekly dose."""

    features: pd.DataFrame
    dose: np.ndarray
    race: np.ndarray  # Race values, for the IWPC race terms and VKORC1 imputation
    cyp2c9: np.ndarray  # normalised diplotype or None
    vkorc1: np.ndarray  # -1639 genotype (typed or imputed) or None
    exclusions: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# Feature rows


def _empty_row() -> dict[str, float]:
    return dict.fromkeys(FEATURES, math.nan)


def _genotype_features(row: dict[str, float], cyp2c9: str | None, vkorc1: str | None) -> None:
    for g in CYP2C9_GENOTYPES:
        row[f"cyp2c9_{g[1]}_{g[4]}"] = float(cyp2c9 == g) if cyp2c9 is not None else 0.0
    row["cyp2c9_unknown"] = float(cyp2c9 is None)
    row["cyp2c9_star2"] = float(cyp2c9.count("*2")) if cyp2c9 else math.nan
    row["cyp2c9_star3"] = float(cyp2c9.count("*3")) if cyp2c9 else math.nan
    row["vkorc1_a"] = float(vkorc1.count("A")) if vkorc1 else math.nan
    row["vkorc1_unknown"] = float(vkorc1 is None)


def _race_features(row: dict[str, float], race: Race) -> None:
    row["race_asian"] = float(race is Race.ASIAN)
    row["race_black"] = float(race is Race.BLACK)
    row["race_missing_or_mixed"] = float(race is Race.MISSING_OR_MIXED)


def covariate_frame(covariates: list[WarfarinCovariates]) -> pd.DataFrame:
    """Feature rows for patients known only by their IWPC covariates (every extra feature missing)."""
    rows = []
    for cov in covariates:
        row = _empty_row()
        row.update(
            age_decade=float(cov.age_decade),
            height_cm=cov.height_cm,
            weight_kg=cov.weight_kg,
            amiodarone=float(cov.amiodarone),
            enzyme_inducer=float(cov.enzyme_inducer),
        )
        _race_features(row, cov.race)
        _genotype_features(row, cov.cyp2c9, cov.vkorc1)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(FEATURES), dtype=float)


# ----------------------------------------------------------------------------------------------------
# The IWPC file


def _column(frame: pd.DataFrame, prefix: str) -> pd.Series:
    for name in frame.columns:
        if " ".join(str(name).split()).startswith(prefix):
            return frame[name]
    raise UnreadableInputError(f"IWPC file has no column starting with {prefix!r}")


def _iwpc_race(text: object) -> Race:
    return {
        "White": Race.WHITE,
        "Asian": Race.ASIAN,
        "Black or African American": Race.BLACK,
    }.get(str(text), Race.MISSING_OR_MIXED)


def _count(genotype: object, allele: str) -> float:
    return float(genotype.count(allele)) if isinstance(genotype, str) else math.nan


def _imputed_vkorc1(typed: object, others: dict[str, object], race: Race) -> str | None:
    """IWPC imputation of -1639G>A from linked SNPs (rules in the IWPC data file)."""
    if isinstance(typed, str):
        return typed
    black_or_unknown = race in (Race.BLACK, Race.MISSING_OR_MIXED)
    for rule in iwpc_table().vkorc1_imputation:
        if rule.non_black and black_or_unknown:
            continue
        value = others.get(rule.snp)
        if isinstance(value, str) and value in rule.genotype_map:
            return rule.genotype_map[value]
    return None


def load_iwpc_cohort(path: Path) -> IwpcCohort:
    """Read the IWPC CSV in place and apply the inclusion rules.

    Included: a subject id; ``Subject Reached Stable Dose of Warfarin`` = 1; a therapeutic dose above 0 and
    below 315 mg/week; age band known; sex known; height or weight known (the other is imputed inside each
    training fold); CYP2C9 not one of the rare diplotypes the IWPC equation has no term for (*5, *6, *11, *13,
    *14).
    Missing CYP2C9 / VKORC1 stay "unknown", as in the IWPC equation; VKORC1 -1639 is imputed from linked SNPs.
    """
    csv = path / "warfarin.csv" if path.is_dir() else path
    try:
        raw = pd.read_csv(csv, encoding="utf-8-sig", low_memory=False)
    except (OSError, ValueError) as exc:
        raise UnreadableInputError(f"cannot read IWPC file {csv}: {exc}") from exc
    raw = raw[_column(raw, "PharmGKB Subject ID").notna()].reset_index(drop=True)
    exclusions: dict[str, int] = {"rows": len(raw)}
    dose = pd.to_numeric(_column(raw, "Therapeutic Dose of Warfarin"), errors="coerce")
    stable = _column(raw, "Subject Reached Stable Dose of Warfarin") == 1
    age = _column(raw, "Age").astype("string").str.extract(r"^(\d)")[0].astype(float)
    height = pd.to_numeric(_column(raw, "Height (cm)"), errors="coerce")
    weight = pd.to_numeric(_column(raw, "Weight (kg)"), errors="coerce")
    sex = _column(raw, "Gender")
    cyp = _column(raw, "CYP2C9 consensus")
    steps = [
        ("stable dose not reached", ~stable),
        ("no valid therapeutic dose", ~(dose.notna() & (dose > 0) & (dose < 315))),
        ("age missing", age.isna()),
        ("sex missing", sex.isna()),
        ("height and weight both missing", height.isna() & weight.isna()),
        ("rare CYP2C9 diplotype", cyp.isin(RARE_CYP2C9)),
    ]
    keep = pd.Series(True, index=raw.index)
    for label, excluded in steps:
        exclusions[label] = int((keep & excluded).sum())
        keep &= ~excluded
    exclusions["included"] = int(keep.sum())
    data = raw[keep].reset_index(drop=True)
    col = {prefix: _column(data, prefix) for prefix in BINARY_COLUMNS.values()}
    rows: list[dict[str, float]] = []
    races, cyps, vks = [], [], []
    target = pd.to_numeric(_column(data, "Target INR"), errors="coerce")
    target_range = _column(data, "Estimated Target INR Range Based on Indication")
    indication = _column(data, "Indication for Warfarin Treatment").astype("string")
    amio = _column(data, "Amiodarone (Cordarone)")
    inducers = [
        _column(data, "Carbamazepine (Tegretol)"),
        _column(data, "Phenytoin (Dilantin)"),
        _column(data, "Rifampin or Rifampicin"),
    ]
    typed_vk = _column(data, "VKORC1 -1639 consensus")
    race_text = _column(data, "Race")
    ethnicity = _column(data, "Ethnicity")
    kept_cyp = cyp[keep].reset_index(drop=True)
    kept_age = age[keep].to_numpy(dtype=float)
    kept_height = height[keep].to_numpy(dtype=float)
    kept_weight = weight[keep].to_numpy(dtype=float)
    other = {snp: _column(data, column) for snp, (column, _) in VKORC1_OTHER_SNPS.items()}
    for i in range(len(data)):
        race = _iwpc_race(race_text.iat[i])
        genotype = kept_cyp.iat[i]
        cyp2c9 = genotype if isinstance(genotype, str) else None
        vkorc1 = _imputed_vkorc1(typed_vk.iat[i], {snp: s.iat[i] for snp, s in other.items()}, race)
        row = _empty_row()
        row.update(
            age_decade=kept_age[i],
            height_cm=kept_height[i],
            weight_kg=kept_weight[i],
            male=float(data["Gender"].iat[i] == "male"),
            hispanic=float(ethnicity.iat[i] == "Hispanic or Latino"),
            amiodarone=float(amio.iat[i]) if pd.notna(amio.iat[i]) else math.nan,
            # IWPC: any of the three inducers counts; missing is treated as not taking them.
            enzyme_inducer=float(any(s.iat[i] == 1 for s in inducers)),
            target_inr=_target_inr(target.iat[i], target_range.iat[i]),
        )
        _race_features(row, race)
        _genotype_features(row, cyp2c9, vkorc1)
        for snp, (_, allele) in VKORC1_OTHER_SNPS.items():
            row[f"vkorc1_{snp}"] = _count(other[snp].iat[i], allele)
        codes = indication.iat[i]
        for code, name in INDICATIONS.items():
            row[f"indication_{name}"] = float(code in codes) if isinstance(codes, str) else math.nan
        for name, prefix in BINARY_COLUMNS.items():
            value = col[prefix].iat[i]
            row[name] = float(value) if pd.notna(value) else math.nan
        rows.append(row)
        races.append(race)
        cyps.append(cyp2c9)
        vks.append(vkorc1)
    return IwpcCohort(
        features=pd.DataFrame(rows, columns=list(FEATURES), dtype=float),
        dose=dose[keep].to_numpy(dtype=float),
        race=np.array(races, dtype=object),
        cyp2c9=np.array(cyps, dtype=object),
        vkorc1=np.array(vks, dtype=object),
        exclusions=exclusions,
    )


def _target_inr(value: float, band: object) -> float:
    """Recorded target INR, else the midpoint of the indication's estimated target range."""
    if pd.notna(value):
        return float(value)
    if isinstance(band, str) and "-" in band:
        try:
            low, high = (float(x) for x in band.split("-", 1))
        except ValueError:
            return math.nan
        return (low + high) / 2
    return math.nan


# ----------------------------------------------------------------------------------------------------
# Estimator pieces


class HeightWeightImputer(TransformerMixin, BaseEstimator):
    """Fill a missing height from weight, sex and race (and weight from height) by least squares.

    Written here because it is two small regressions on named columns; IWPC imputed the same way.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> HeightWeightImputer:
        both = X["height_cm"].notna() & X["weight_kg"].notna()
        base = ["male", "race_asian", "race_black", "race_missing_or_mixed"]
        known = X.loc[both, base].fillna(0.0)
        self.height_model_ = LinearRegression().fit(np.c_[X.loc[both, "weight_kg"], known], X.loc[both, "height_cm"])
        self.weight_model_ = LinearRegression().fit(np.c_[X.loc[both, "height_cm"], known], X.loc[both, "weight_kg"])
        self.height_median_ = float(X["height_cm"].median())
        self.weight_median_ = float(X["weight_kg"].median())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "height_model_")
        out = X.copy()
        base = out[["male", "race_asian", "race_black", "race_missing_or_mixed"]].fillna(0.0).to_numpy()
        h_missing = out["height_cm"].isna() & out["weight_kg"].notna()
        w_missing = out["weight_kg"].isna() & out["height_cm"].notna()
        if h_missing.any():
            out.loc[h_missing, "height_cm"] = self.height_model_.predict(
                np.c_[out.loc[h_missing, "weight_kg"], base[h_missing.to_numpy()]]
            )
        if w_missing.any():
            out.loc[w_missing, "weight_kg"] = self.weight_model_.predict(
                np.c_[out.loc[w_missing, "height_cm"], base[w_missing.to_numpy()]]
            )
        out["height_cm"] = out["height_cm"].fillna(self.height_median_)
        out["weight_kg"] = out["weight_kg"].fillna(self.weight_median_)
        return out


def _ridge(alphas: tuple[float, ...]) -> Pipeline:
    return make_pipeline(
        HeightWeightImputer(),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        RidgeCV(alphas=alphas),
    )


def _dose_mae(sqrt_true: np.ndarray, sqrt_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.clip(sqrt_pred, 0, None) ** 2 - sqrt_true**2)))


class WarfarinDoseModel(RegressorMixin, BaseEstimator):
    """Ridge + LightGBM ensemble on sqrt(weekly dose) with cross-conformal prediction intervals.

    Parameters
    ----------
    alpha : miscoverage of the prediction interval (0.2 gives 80% intervals).
    inner_folds : folds used inside ``fit`` for tuning and conformity scores.
    max_rounds, round_grid : LightGBM boosting rounds; the best of the grid is chosen on out-of-fold error.
    weights : candidate ridge weights in the ensemble, chosen on out-of-fold error.
    """

    model_id = MODEL_ID
    version = MODEL_VERSION

    def __init__(
        self,
        alpha: float = 0.2,
        inner_folds: int = 5,
        max_rounds: int = 1000,
        round_grid: tuple[int, ...] = (200, 400, 600, 800, 1000),
        learning_rate: float = 0.02,
        num_leaves: int = 15,
        weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
        ridge_alphas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0),
        random_state: int = 0,
    ) -> None:
        self.alpha = alpha
        self.inner_folds = inner_folds
        self.max_rounds = max_rounds
        self.round_grid = round_grid
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.weights = weights
        self.ridge_alphas = ridge_alphas
        self.random_state = random_state

    def _booster(self, rounds: int) -> lgb.LGBMRegressor:
        return lgb.LGBMRegressor(
            objective="l1",
            n_estimators=rounds,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.7,
            reg_lambda=1.0,
            random_state=self.random_state,
            n_jobs=1,
            verbose=-1,
        )

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WarfarinDoseModel:
        """Tune on out-of-fold predictions within (X, y), keep the conformity scores, refit on all of it."""
        X = self._frame(X)
        dose = np.asarray(y, dtype=float)
        if len(X) != len(dose) or len(dose) < 5 * self.inner_folds:
            raise ModelError(f"need at least {5 * self.inner_folds} patients with a dose, got {len(dose)}")
        if np.any(~np.isfinite(dose)) or np.any(dose <= 0):
            raise ModelError("every training dose must be a positive number")
        target = np.sqrt(dose)
        grid = tuple(r for r in self.round_grid if r <= self.max_rounds) or (self.max_rounds,)
        oof_ridge = np.zeros(len(dose))
        oof_trees = np.zeros((len(grid), len(dose)))
        folds = KFold(self.inner_folds, shuffle=True, random_state=self.random_state)
        for train, held in folds.split(X):
            ridge = _ridge(self.ridge_alphas).fit(X.iloc[train], target[train])
            oof_ridge[held] = ridge.predict(X.iloc[held])
            trees = self._booster(max(grid)).fit(X.iloc[train], target[train])
            for k, rounds in enumerate(grid):
                oof_trees[k, held] = trees.predict(X.iloc[held], num_iteration=rounds)
        best_round = int(np.argmin([_dose_mae(target, oof_trees[k]) for k in range(len(grid))]))
        self.n_rounds_ = grid[best_round]
        blends = [w * oof_ridge + (1 - w) * oof_trees[best_round] for w in self.weights]
        best_weight = int(np.argmin([_dose_mae(target, b) for b in blends]))
        self.ridge_weight_ = float(self.weights[best_weight])
        oof = blends[best_weight]
        self.oof_mae_ = _dose_mae(target, oof)
        self.conformity_scores_ = np.sort(np.abs(target - oof))
        self.ridge_ = _ridge(self.ridge_alphas).fit(X, target)
        self.trees_ = self._booster(self.n_rounds_).fit(X, target)
        self.n_features_in_ = X.shape[1]
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ModelError("WarfarinDoseModel reads a DataFrame with the FEATURES columns")
        missing = [c for c in FEATURES if c not in X.columns]
        if missing:
            raise ModelError(f"feature frame lacks columns: {', '.join(missing[:5])}")
        return X[list(FEATURES)].astype(float)

    def _sqrt_predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "trees_")
        X = self._frame(X)
        ridge = np.asarray(self.ridge_.predict(X), dtype=float)
        trees = np.asarray(self.trees_.predict(X), dtype=float)
        blend = self.ridge_weight_ * ridge + (1 - self.ridge_weight_) * trees
        return np.clip(blend, 0.0, None)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Weekly dose in mg."""
        return self._sqrt_predict(X) ** 2

    def predict_interval(self, X: pd.DataFrame, alpha: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper weekly dose of the (1 - alpha) cross-conformal prediction interval."""
        alpha = self.alpha if alpha is None else alpha
        scores = self.conformity_scores_
        rank = min(math.ceil((len(scores) + 1) * (1 - alpha)), len(scores)) - 1
        q = scores[rank]
        root = self._sqrt_predict(X)
        return np.clip(root - q, 0.0, None) ** 2, (root + q) ** 2

    def predict_with_interval(self, covariates: WarfarinCovariates) -> tuple[float, Interval]:
        """One patient's weekly dose and interval from the IWPC covariates (the ``DoseModel`` protocol)."""
        frame = covariate_frame([covariates])
        low, high = self.predict_interval(frame)
        value = float(self.predict(frame)[0])
        return value, Interval(float(low[0]), float(high[0]), level=1 - self.alpha)
