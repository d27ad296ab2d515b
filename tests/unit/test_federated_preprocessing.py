"""Pooled preprocessing from sites' sums equals fitting on the pooled rows; the assembled model is a real pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from carepilot.errors import ModelError
from carepilot.features.readmission import FEATURES
from carepilot.federated.logistic import decision, local_fit, platt_fit
from carepilot.federated.model import FederatedRiskClassifier
from carepilot.federated.preprocessing import (
    PooledPreprocessing,
    fitted_preprocessor,
    pool_statistics,
    site_statistics,
)
from tests.unit.federated_frames import site_frame


@pytest.fixture()
def frames() -> list[pd.DataFrame]:
    return [site_frame("a", 120, seed=1), site_frame("b", 80, seed=2, shift=0.5)]


def test_pooled_statistics_match_mean_imputation_and_scaling_of_the_pooled_rows(frames: list[pd.DataFrame]) -> None:
    prep = pool_statistics(FEATURES, [site_statistics(f, FEATURES) for f in frames])
    pooled = pd.concat(frames, ignore_index=True)[list(FEATURES)]
    reference = Pipeline(
        [("impute", SimpleImputer(strategy="mean", add_indicator=True)), ("scale", StandardScaler())]
    ).fit(pooled)
    np.testing.assert_allclose(prep.transform(pooled), reference.transform(pooled), atol=1e-8)


def test_the_fitted_sklearn_preprocessor_transforms_like_the_pooled_statistics(frames: list[pd.DataFrame]) -> None:
    prep = pool_statistics(FEATURES, [site_statistics(f, FEATURES) for f in frames])
    transformer = fitted_preprocessor(prep)
    rows = frames[0][list(FEATURES)]
    np.testing.assert_allclose(np.asarray(transformer.transform(rows)), prep.transform(rows), atol=1e-10)


def test_the_preprocessing_vector_round_trips_and_refuses_another_feature_list(frames: list[pd.DataFrame]) -> None:
    prep = pool_statistics(FEATURES, [site_statistics(f, FEATURES) for f in frames])
    back = PooledPreprocessing.from_vector(FEATURES, prep.to_vector())
    np.testing.assert_array_equal(back.scale, prep.scale)
    with pytest.raises(ModelError):
        PooledPreprocessing.from_vector(FEATURES[:-1], prep.to_vector())


def test_local_steps_without_a_proximal_term_converge_to_sklearn_logistic_regression(
    frames: list[pd.DataFrame],
) -> None:
    prep = pool_statistics(FEATURES, [site_statistics(frames[0], FEATURES)])
    X, y = prep.transform(frames[0]), frames[0]["label"].to_numpy()
    C = 0.1
    theta, _ = local_fit(np.zeros(prep.width + 1), X, y, lam=1.0 / (C * len(y)), steps=500)
    ref = LogisticRegression(C=C, max_iter=2000).fit(X, y)
    np.testing.assert_allclose(theta[:-1], ref.coef_[0], atol=1e-3)


def test_the_assembled_model_predicts_the_platt_mapped_logistic_risk(frames: list[pd.DataFrame]) -> None:
    prep = pool_statistics(FEATURES, [site_statistics(f, FEATURES) for f in frames])
    rng = np.random.default_rng(0)
    theta = rng.normal(0, 0.2, prep.width + 1)
    z = decision(theta, prep.transform(frames[1]))
    platt = platt_fit(z, frames[1]["label"].to_numpy())
    model = FederatedRiskClassifier.assemble(prep, theta, platt)
    p = model.predict_proba(frames[1][list(FEATURES)])[:, 1]
    np.testing.assert_allclose(p, expit(platt[0] * z + platt[1]), atol=1e-6)
    assert model.transformed_feature_sources()[: len(FEATURES)] == list(FEATURES)
    with pytest.raises(ModelError):
        model.fit(frames[0][list(FEATURES)], frames[0]["label"])


def test_a_value_far_outside_the_pooled_distribution_is_flagged(frames: list[pd.DataFrame]) -> None:
    prep = pool_statistics(FEATURES, [site_statistics(f, FEATURES) for f in frames])
    model = FederatedRiskClassifier.assemble(prep, np.zeros(prep.width + 1), [1.0, 0.0])
    row = frames[0][list(FEATURES)].iloc[[0]].copy()
    assert not model.out_of_distribution(row)[0].flagged
    row.iloc[0, 0] = 1e6
    flagged = model.out_of_distribution(row)[0]
    assert flagged.flagged and FEATURES[0] in flagged.reasons[0]


def test_a_site_platt_fit_never_inverts_the_ranking():
    z = np.linspace(-3.0, 0.0, 40)
    y = (z < -2.0).astype(float)  # by chance, lower model risk went with the events at this small site
    a, b = platt_fit(z, y)
    assert a == 1.0
    assert np.mean(1.0 / (1.0 + np.exp(-(a * z + b)))) == pytest.approx(y.mean(), abs=0.05)
