"""RiskClassifier: sklearn conventions, calibration, intervals, out-of-distribution checks, SHAP phrases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from carepilot.errors import InputError, ModelError
from carepilot.models.explain import FeatureInfo, explain_patient, shap_log_odds
from carepilot.models.risk import RiskClassifier

# Fitting (grid, calibration, bootstrap, isolation forest) takes seconds on a shared machine.
pytestmark = pytest.mark.slow

SMALL_GBM = [{"num_leaves": 7, "min_child_samples": 20}]
CATALOG = {"hba1c": FeatureInfo("HbA1c", "%", low=4.0, high=6.5)}


def planted(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Synthetic patients whose risk rises with HbA1c only (age and sex carry no effect)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "hba1c": rng.normal(7.0, 1.5, n),
            "age": rng.normal(60.0, 10.0, n),
            "sex": rng.choice(["female", "male"], n),
        }
    )
    lp = -1.5 + 1.2 * (X["hba1c"] - 7.0)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-lp))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return planted()


@pytest.fixture(scope="module")
def logistic(data: tuple[pd.DataFrame, np.ndarray]) -> RiskClassifier:
    X, y = data
    return RiskClassifier("logistic", n_bootstrap=4).fit(X, y)


@pytest.fixture(scope="module")
def gbm(data: tuple[pd.DataFrame, np.ndarray]) -> RiskClassifier:
    X, y = data
    return RiskClassifier("lightgbm", param_grid=SMALL_GBM).fit(X, y)


def patient(hba1c: float) -> pd.DataFrame:
    return pd.DataFrame({"hba1c": [hba1c], "age": [60.0], "sex": ["female"]})


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_get_params_invariance,
        check_set_params,
    ],
)
def test_estimator_follows_sklearn_parameter_conventions(check) -> None:  # type: ignore[no-untyped-def]
    check("RiskClassifier", RiskClassifier())


def test_fit_returns_self_and_fitted_attributes_end_with_underscore(data) -> None:  # type: ignore[no-untyped-def]
    X, y = data
    model = RiskClassifier("logistic", param_grid=[{"C": 1.0}])
    before = set(vars(model))
    assert model.fit(X, y) is model
    added = set(vars(model)) - before
    assert added and all(name.endswith("_") for name in added)
    assert clone(model).get_params() == model.get_params()


def test_unfitted_model_refuses_to_predict() -> None:
    with pytest.raises(NotFittedError):
        RiskClassifier().predict_proba(patient(7.0))


def test_explicit_calibration_method_is_used(data) -> None:  # type: ignore[no-untyped-def]
    X, y = data
    model = RiskClassifier("logistic", param_grid=[{"C": 1.0}], calibration="isotonic").fit(X, y)
    assert model.calibration_method_ == "isotonic"


@pytest.mark.parametrize("name", ["logistic", "gbm"])
def test_probabilities_are_calibrated_and_discriminate(name: str, request) -> None:  # type: ignore[no-untyped-def]
    model = request.getfixturevalue(name)
    X, y = planted(n=2000, seed=1)
    p = model.predict_proba(X)
    assert p.shape == (2000, 2)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert model.calibration_method_ in ("sigmoid", "isotonic")
    from carepilot.models.metrics import binary_metrics

    m = binary_metrics(y, p[:, 1])
    assert m["auroc"] > 0.8
    assert abs(m["calibration_intercept"]) < 0.25


def test_bootstrap_interval_brackets_a_spread_of_risks(logistic: RiskClassifier) -> None:
    lo, hi = logistic.predict_interval(patient(9.0))
    assert 0.0 <= lo[0] < hi[0] <= 1.0


def test_bootstrap_with_groups_resamples_whole_patients() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "c", "d"])
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows = RiskClassifier._resample(rng, len(groups), groups)
        drawn = pd.Series(groups[rows]).value_counts()
        sizes = pd.Series(groups).value_counts()
        assert all(drawn[g] % sizes[g] == 0 for g in drawn.index)


def test_interval_without_bootstrap_members_is_a_model_error(gbm: RiskClassifier) -> None:
    with pytest.raises(ModelError, match="bootstrap"):
        gbm.predict_interval(patient(7.0))


def test_out_of_distribution_check_names_the_offending_feature(logistic: RiskClassifier) -> None:
    inside, outside, unseen = logistic.out_of_distribution(
        pd.DataFrame({"hba1c": [7.0, 25.0, 7.0], "age": [60.0, 60.0, 60.0], "sex": ["female", "female", "x"]})
    )
    assert not inside.flagged
    assert outside.flagged and "hba1c" in outside.reasons[0]
    assert unseen.flagged and "sex" in unseen.reasons[0]


def test_bad_outcome_and_missing_columns_raise_clear_errors(data) -> None:  # type: ignore[no-untyped-def]
    X, y = data
    with pytest.raises(InputError, match="0/1"):
        RiskClassifier().fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ModelError, match="single class"):
        RiskClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ModelError, match="unknown estimator"):
        RiskClassifier("forest").fit(X, y)


def test_prediction_with_a_missing_column_names_it(logistic: RiskClassifier) -> None:
    with pytest.raises(InputError, match="age"):
        logistic.predict_proba(pd.DataFrame({"hba1c": [7.0], "sex": ["male"]}))


@pytest.mark.parametrize("name", ["logistic", "gbm"])
def test_shap_phrases_are_signed_by_the_planted_effect(name: str, request) -> None:  # type: ignore[no-untyped-def]
    model = request.getfixturevalue(name)
    high = explain_patient(model, patient(9.8), CATALOG)
    assert high[0].label == "HbA1c"
    assert high[0].contribution > 0
    assert high[0].phrase.startswith("HbA1c 9.8% (high) adds")
    low = explain_patient(model, patient(4.5), CATALOG)
    hba1c = next(f for f in low if f.label == "HbA1c")
    assert hba1c.contribution < 0
    assert "lowers risk by" in hba1c.phrase


def test_linear_shap_values_sum_to_the_log_odds_difference(logistic: RiskClassifier) -> None:
    rows = pd.concat([patient(9.0), patient(5.0)], ignore_index=True)
    phi = shap_log_odds(logistic, rows)
    assert list(phi.columns) == ["hba1c", "age", "sex"]
    raw = logistic.predict_uncalibrated(rows)
    logit = np.log(raw / (1 - raw))
    # Efficiency: the difference of two patients' log-odds equals the difference of their SHAP sums.
    assert phi.sum(axis=1).diff().iloc[1] == pytest.approx(logit[1] - logit[0], rel=1e-6)


def test_tree_shap_values_add_up_to_the_model_log_odds(gbm: RiskClassifier) -> None:
    rows = pd.concat([patient(9.0), patient(5.0), patient(7.0)], ignore_index=True)
    phi = shap_log_odds(gbm, rows).sum(axis=1).to_numpy()
    raw = gbm.predict_uncalibrated(rows)
    logit = np.log(raw / (1 - raw))
    assert np.allclose(np.diff(phi), np.diff(logit), atol=1e-6)


def test_feature_info_flags_values_outside_the_reference_range() -> None:
    info = FeatureInfo("eGFR", "mL/min/1.73m2", low=60.0, decimals=0)
    assert info.describe(42.0) == "eGFR 42 mL/min/1.73m2 (low)"
    assert info.describe(float("nan")) == "eGFR not recorded"
    assert FeatureInfo("Admission source", values={"7": "emergency room"}).describe("7") == (
        "Admission source: emergency room"
    )
