"""Binary risk estimators in scikit-learn conventions: a transparent L2 logistic baseline and LightGBM.

``RiskClassifier(estimator="logistic" | "lightgbm")`` takes a plain pandas DataFrame (numeric and
categorical columns) and a 0/1 outcome. Inside ``fit`` the training data are split (grouped by patient when
``groups`` is given) into

* a *fit* part, itself split once into train / tune for a small hyper-parameter grid (LightGBM also stops
  early on the tune split), after which the chosen settings are refitted on the whole fit part;
* a *calibration* part, on which Platt or isotonic calibration is chosen and fitted (see ``calibration``).

Nothing is ever tuned on data the caller holds out. Per-patient intervals come from a bootstrap ensemble
(Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13, percentile interval): ``n_bootstrap``
refits on resamples of the fit part (whole patients when ``groups`` is given), each calibrated the same
way; the interval is the spread of their calibrated probabilities, i.e. the model (epistemic) uncertainty
for this patient. Out-of-distribution
checks (an ``IsolationForest``, Liu et al. 2008, plus training ranges and known categories) are fitted on
the same data so a caller can refuse to give a confident number for a patient unlike the training set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupShuffleSplit, KFold, StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from carepilot.errors import InputError, ModelError
from carepilot.models.calibration import (
    CALIBRATION_METHODS,
    Calibrator,
    choose_calibration,
    fit_calibrator,
)

ESTIMATORS: tuple[str, ...] = ("logistic", "lightgbm")

# Small grids on purpose: two shared cores, and the regularised defaults are already sensible.
DEFAULT_GRIDS: dict[str, list[dict[str, Any]]] = {
    "logistic": [{"C": 0.01}, {"C": 0.1}, {"C": 1.0}],
    "lightgbm": [
        {"num_leaves": 15, "min_child_samples": 100},
        {"num_leaves": 31, "min_child_samples": 200},
        {"num_leaves": 63, "min_child_samples": 400},
    ],
}
_LGBM_BASE: dict[str, Any] = {
    "learning_rate": 0.05,
    "n_estimators": 2000,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.7,
    "reg_lambda": 5.0,
    "verbose": -1,
}


@dataclass(frozen=True)
class OutOfDistribution:
    """Why one patient's row lies outside what the model was trained on (empty when it does not)."""

    reasons: tuple[str, ...] = ()
    anomaly_score: float = 0.0

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


@dataclass
class _Envelope:
    """Training-data envelope used by the out-of-distribution check."""

    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    categories: dict[str, set[str]] = field(default_factory=dict)
    forest: IsolationForest | None = None
    threshold: float = 0.0


def as_frame(X: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A DataFrame view of X (arrays get ``x0..xn`` column names or the fitted ones)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise InputError(f"expected a 2-D table of features, got an array with {arr.ndim} dimension(s)")
    names = list(columns) if columns is not None else [f"x{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise InputError(f"expected {len(names)} feature columns, got {arr.shape[1]}")
    return pd.DataFrame(arr, columns=names)


def _binary_target(y: Any) -> np.ndarray:
    try:
        arr = pd.to_numeric(pd.Series(np.asarray(y).ravel())).to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"outcome must be 0/1: {exc}") from exc
    if not np.isin(arr, (0.0, 1.0)).all():
        raise InputError("outcome must be 0/1 with no missing values")
    out = arr.astype(int)
    if len(np.unique(out)) < 2:
        raise ModelError("the outcome has a single class; cannot fit a risk model")
    return out


class RiskClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated binary risk model with a per-patient bootstrap interval and an out-of-distribution check.

    Parameters
    ----------
    estimator: "logistic" (L2, standardised numeric, one-hot categorical) or "lightgbm".
    param_grid: list of parameter dicts tried on the tune split; ``None`` uses ``DEFAULT_GRIDS``.
    calibration: "auto" (choose on validation), "sigmoid" or "isotonic".
    n_bootstrap: bootstrap refits for the per-patient interval (0 = no interval).
    validation_size: share of the training rows kept for calibration (and, of the rest, for tuning).
    categorical_features: column names to treat as categorical; ``None`` detects non-numeric dtypes.
    high_cardinality: categorical columns with more levels than this are target-encoded (cross-fitted,
        inside the pipeline) instead of one-hot encoded.
    interval_level: coverage level of ``predict_interval``.
    ood_quantile: share of training rows the isolation forest would flag (sets its threshold).
    """

    def __init__(
        self,
        estimator: str = "logistic",
        param_grid: Sequence[Mapping[str, Any]] | None = None,
        calibration: str = "auto",
        n_bootstrap: int = 0,
        validation_size: float = 0.2,
        categorical_features: Sequence[str] | None = None,
        high_cardinality: int = 30,
        interval_level: float = 0.95,
        ood_quantile: float = 0.005,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.calibration = calibration
        self.n_bootstrap = n_bootstrap
        self.validation_size = validation_size
        self.categorical_features = categorical_features
        self.high_cardinality = high_cardinality
        self.interval_level = interval_level
        self.ood_quantile = ood_quantile
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Tags:
        """Binary only; accepts missing values and categorical columns."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        return tags

    # ----------------------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any, groups: Any = None) -> RiskClassifier:
        """Tune, fit, calibrate and (optionally) bootstrap; returns self."""
        if self.estimator not in ESTIMATORS:
            raise ModelError(f"unknown estimator {self.estimator!r}; use one of {ESTIMATORS}")
        if self.calibration not in ("auto", *CALIBRATION_METHODS):
            raise ModelError(f"unknown calibration {self.calibration!r}")
        X = as_frame(X)
        y_arr = _binary_target(y)
        if len(X) != len(y_arr):
            raise InputError(f"{len(X)} feature rows but {len(y_arr)} outcomes")
        group_arr = None if groups is None else np.asarray(groups)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        self.categorical_ = self._categorical_columns(X)
        self.numeric_ = [c for c in X.columns if c not in self.categorical_]
        X = self._coerce(X)

        fit_idx, cal_idx = self._split(X, y_arr, group_arr, self.validation_size, self.random_state)
        X_fit, y_fit = X.iloc[fit_idx], y_arr[fit_idx]
        X_cal, y_cal = X.iloc[cal_idx], y_arr[cal_idx]
        g_fit = None if group_arr is None else group_arr[fit_idx]

        self.best_params_, self.tuning_scores_ = self._tune(X_fit, y_fit, g_fit)
        self.pipeline_ = self._pipeline(X_fit, self.best_params_).fit(X_fit, y_fit)

        methods = CALIBRATION_METHODS if self.calibration == "auto" else (self.calibration,)
        raw_cal = self.pipeline_.predict_proba(X_cal)[:, 1]
        choice = choose_calibration(raw_cal, y_cal, methods, self.random_state)
        self.calibration_method_ = choice.method
        self.calibration_brier_ = choice.brier
        self.calibrator_: Calibrator = choice.calibrator

        rng = np.random.default_rng(self.random_state)
        self.bootstrap_members_: list[tuple[Pipeline, Calibrator]] = []
        for _ in range(int(self.n_bootstrap)):
            rows = self._resample(rng, len(X_fit), g_fit)
            if len(np.unique(y_fit[rows])) < 2:
                continue
            member = self._pipeline(X_fit, self.best_params_).fit(X_fit.iloc[rows], y_fit[rows])
            member_raw = member.predict_proba(X_cal)[:, 1]
            self.bootstrap_members_.append((member, fit_calibrator(member_raw, y_cal, self.calibration_method_)))

        self.envelope_ = self._envelope(X_fit)
        # A small transformed sample of the fit data: the background the linear SHAP explainer needs.
        sample = X_fit.sample(n=min(200, len(X_fit)), random_state=self.random_state)
        self.background_ = np.asarray(self.pipeline_.named_steps["prep"].transform(sample), dtype=float)
        self.training_summary_ = {
            "n": len(X),
            "n_fit": len(X_fit),
            "n_calibration": len(X_cal),
            "prevalence": float(y_arr.mean()),
            "features": [str(c) for c in X.columns],
        }
        return self

    @staticmethod
    def _resample(rng: np.random.Generator, n: int, groups: np.ndarray | None) -> np.ndarray:
        """Bootstrap row indices; with groups, whole patients are resampled (cluster bootstrap)."""
        if groups is None:
            return rng.integers(0, n, n)
        codes, _ = pd.factorize(groups)
        order = np.argsort(codes, kind="stable")  # rows grouped by patient
        counts = np.bincount(codes)
        starts = np.cumsum(counts) - counts
        chosen = rng.integers(0, len(counts), len(counts))
        sizes = counts[chosen]
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        return np.asarray(order[np.repeat(starts[chosen], sizes) + within])

    def _categorical_columns(self, X: pd.DataFrame) -> list[str]:
        if self.categorical_features is not None:
            missing = [c for c in self.categorical_features if c not in X.columns]
            if missing:
                raise InputError(f"categorical feature(s) not in the data: {missing}")
            return list(self.categorical_features)
        return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or X[c].dtype == bool]

    def _coerce(self, X: pd.DataFrame) -> pd.DataFrame:
        """Categorical columns as strings (missing kept as NaN), numeric as float."""
        out = X.copy()
        for c in self.categorical_:
            present = out[c].notna()
            out[c] = out[c].astype(str).where(present, np.nan)
        for c in self.numeric_:
            try:
                out[c] = pd.to_numeric(out[c]).astype(float)
            except (TypeError, ValueError) as exc:
                raise InputError(f"feature column {c!r} is not numeric: {exc}") from exc
        return out

    @staticmethod
    def _split(
        X: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None, size: float, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        if groups is not None:
            splitter: Any = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
            a, b = next(splitter.split(X, y, groups))
        else:
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=size, random_state=seed)
            a, b = next(splitter.split(X, y))
        if len(np.unique(y[a])) < 2 or len(np.unique(y[b])) < 2:
            raise ModelError("too few events to split the training data into fit and calibration parts")
        return a, b

    def _preprocessor(self, X: pd.DataFrame) -> ColumnTransformer:
        low = [c for c in self.categorical_ if X[c].nunique() <= self.high_cardinality]
        high = [c for c in self.categorical_ if c not in low]
        impute_num = SimpleImputer(strategy="median", add_indicator=True)
        numeric_steps: list[tuple[str, Any]] = [("impute", impute_num)]
        if self.estimator == "logistic":
            numeric_steps.append(("scale", StandardScaler()))
        parts: list[tuple[str, Any, list[str]]] = []
        if self.numeric_:
            parts.append(("num", Pipeline(numeric_steps), list(self.numeric_)))
        if low:
            # No infrequent-level grouping: its counting runs in pure Python on object columns.
            onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            impute = SimpleImputer(strategy="constant", fill_value="missing")
            parts.append(("cat", Pipeline([("impute", impute), ("onehot", onehot)]), low))
        if high:
            impute = SimpleImputer(strategy="constant", fill_value="missing")
            folds = KFold(n_splits=5, shuffle=True, random_state=self.random_state)
            encode = TargetEncoder(target_type="binary", cv=folds)
            parts.append(("te", Pipeline([("impute", impute), ("encode", encode)]), high))
        return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)

    def _model(self, params: Mapping[str, Any]) -> Any:
        if self.estimator == "logistic":
            # Newton-Cholesky: exact and fast when rows far outnumber the (one-hot) columns.
            return LogisticRegression(solver="newton-cholesky", max_iter=200, **params)
        merged = {**_LGBM_BASE, **params}
        return lgb.LGBMClassifier(random_state=self.random_state, n_jobs=self.n_jobs, **merged)

    def _pipeline(self, X: pd.DataFrame, params: Mapping[str, Any]) -> Pipeline:
        return Pipeline([("prep", self._preprocessor(X)), ("model", self._model(params))])

    def _tune(
        self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        grid = list(self.param_grid) if self.param_grid is not None else DEFAULT_GRIDS[self.estimator]
        if not grid:
            raise ModelError("param_grid is empty")
        tr, tu = self._split(X, y, groups, self.validation_size, self.random_state + 1)
        prep = self._preprocessor(X.iloc[tr]).fit(X.iloc[tr], y[tr])
        Xt_tr, Xt_tu = prep.transform(X.iloc[tr]), prep.transform(X.iloc[tu])
        scores: list[dict[str, Any]] = []
        for params in grid:
            chosen = dict(params)
            model = self._model(params)
            if self.estimator == "lightgbm":
                model.fit(
                    Xt_tr,
                    y[tr],
                    eval_X=(Xt_tu,),
                    eval_y=(y[tu],),
                    eval_metric="binary_logloss",
                    callbacks=[lgb.early_stopping(50, verbose=False)],
                )
                chosen["n_estimators"] = max(int(model.best_iteration_ or model.n_estimators), 10)
            else:
                model.fit(Xt_tr, y[tr])
            loss = float(log_loss(y[tu], model.predict_proba(Xt_tu)[:, 1], labels=[0, 1]))
            scores.append({"params": chosen, "tune_log_loss": loss})
        best = min(scores, key=lambda s: s["tune_log_loss"])
        return dict(best["params"]), scores

    def _envelope(self, X: pd.DataFrame) -> _Envelope:
        env = _Envelope()
        for c in self.numeric_:
            col = X[c].dropna()
            if len(col):
                env.ranges[c] = (float(col.min()), float(col.max()))
        for c in self.categorical_:
            env.categories[c] = {str(v) for v in X[c].dropna().unique()}
        prep = self.pipeline_.named_steps["prep"]
        Xt = np.asarray(prep.transform(X), dtype=float)
        forest = IsolationForest(n_estimators=100, max_samples=min(256, len(X)), random_state=self.random_state)
        forest.fit(Xt)
        env.forest = forest
        env.threshold = float(np.quantile(forest.score_samples(Xt), self.ood_quantile))
        return env

    # -------------------------------------------------------------------------------------- prediction
    def prepare(self, X: Any) -> pd.DataFrame:
        """X checked against the fitted columns and coerced to the types used in training."""
        check_is_fitted(self, "calibrator_")
        X = as_frame(X, columns=None if isinstance(X, pd.DataFrame) else list(self.feature_names_in_))
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise InputError(f"feature column(s) missing: {missing}")
        return self._coerce(X[list(self.feature_names_in_)])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, shape (n, 2)."""
        prepared = self.prepare(X)
        p = self.calibrator_.predict(self.pipeline_.predict_proba(prepared)[:, 1])
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Class labels at a 0.5 threshold (use ``predict_proba`` for risk)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def predict_uncalibrated(self, X: Any) -> np.ndarray:
        """Probability of the underlying model before calibration."""
        check_is_fitted(self, "pipeline_")
        return np.asarray(self.pipeline_.predict_proba(self.prepare(X))[:, 1])

    def predict_interval(self, X: Any, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap percentile interval of the calibrated risk for each row (Efron & Tibshirani 1993)."""
        check_is_fitted(self, "calibrator_")
        if not self.bootstrap_members_:
            raise ModelError("this model was fitted without bootstrap members (n_bootstrap=0); no interval")
        level = self.interval_level if level is None else level
        Xp = self.prepare(X)
        draws = np.column_stack([cal.predict(m.predict_proba(Xp)[:, 1]) for m, cal in self.bootstrap_members_])
        alpha = (1.0 - level) / 2.0
        return np.quantile(draws, alpha, axis=1), np.quantile(draws, 1.0 - alpha, axis=1)

    def out_of_distribution(self, X: Any) -> list[OutOfDistribution]:
        """For each row, why it lies outside the training data (feature ranges, categories, isolation)."""
        check_is_fitted(self, "envelope_")
        Xp = self.prepare(X)
        env = self.envelope_
        Xt = np.asarray(self.pipeline_.named_steps["prep"].transform(Xp), dtype=float)
        scores = env.forest.score_samples(Xt) if env.forest is not None else np.zeros(len(Xp))
        out: list[OutOfDistribution] = []
        for i in range(len(Xp)):
            reasons: list[str] = []
            row = Xp.iloc[i]
            for c, (lo, hi) in env.ranges.items():
                v = row[c]
                if pd.notna(v) and (v < lo or v > hi):
                    reasons.append(f"{c}={v:g} is outside the training range [{lo:g}, {hi:g}]")
            for c, known in env.categories.items():
                v = row[c]
                if pd.notna(v) and str(v) not in known:
                    reasons.append(f"{c}={v!s} was never seen in training")
            if scores[i] < env.threshold:
                reasons.append("the combination of values is rarer than 99.5% of training patients")
            out.append(OutOfDistribution(tuple(reasons), float(scores[i])))
        return out

    def transformed_feature_sources(self) -> list[str]:
        """For each column the preprocessor outputs, the input feature it came from."""
        check_is_fitted(self, "pipeline_")
        names = self.pipeline_.named_steps["prep"].get_feature_names_out()
        originals = sorted((str(c) for c in self.feature_names_in_), key=len, reverse=True)
        sources: list[str] = []
        for name in names:
            bare = str(name).split("__", 1)[1].removeprefix("missingindicator_")
            sources.append(next((c for c in originals if bare == c or bare.startswith(c + "_")), bare))
        return sources
