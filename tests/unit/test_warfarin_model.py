"""The learned warfarin dose model on synthetic data with a known dose rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carepilot.domain.insight import Interval
from carepilot.errors import ModelError
from carepilot.knowledge.warfarin import Race, WarfarinCovariates
from carepilot.models.warfarin_model import FEATURES, HeightWeightImputer, WarfarinDoseModel, covariate_frame

SMALL = {
    "inner_folds": 3,
    "max_rounds": 60,
    "round_grid": (30, 60),
    "learning_rate": 0.1,
    "ridge_alphas": (1.0, 10.0),
}


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    covs = [
        WarfarinCovariates(
            age_decade=int(rng.integers(3, 9)),
            height_cm=float(rng.normal(170, 9)),
            weight_kg=float(rng.normal(80, 14)),
            race=Race(rng.choice([r.value for r in Race])),
            cyp2c9=str(rng.choice(["*1/*1", "*1/*2", "*1/*3"])),
            vkorc1=str(rng.choice(["G/G", "A/G", "A/A"])),
            amiodarone=bool(rng.random() < 0.1),
        )
        for _ in range(n)
    ]
    frame = covariate_frame(covs)
    root = (
        5.0
        - 0.25 * frame["age_decade"]
        + 0.01 * frame["weight_kg"]
        - 0.8 * frame["vkorc1_a"]
        - 0.9 * frame["cyp2c9_1_3"]
        - 0.5 * frame["amiodarone"]
        + rng.normal(0, 0.35, n)
    )
    return frame, np.clip(root, 1.0, None).to_numpy() ** 2


@pytest.mark.slow
def test_model_learns_the_rule_and_its_interval_covers_about_as_promised():
    X, y = synthetic(400, 1)
    X_test, y_test = synthetic(300, 2)
    model = WarfarinDoseModel(alpha=0.2, **SMALL).fit(X, y)
    pred = model.predict(X_test)
    assert np.mean(np.abs(pred - y_test)) < 0.7 * np.mean(np.abs(np.median(y) - y_test))
    low, high = model.predict_interval(X_test)
    coverage = np.mean((y_test >= low) & (y_test <= high))
    assert 0.7 <= coverage <= 0.92
    assert model.ridge_weight_ in model.weights
    assert model.n_rounds_ in SMALL["round_grid"]


@pytest.mark.slow
def test_predict_with_interval_gives_one_patient_value_inside_its_interval():
    X, y = synthetic(200, 3)
    model = WarfarinDoseModel(**SMALL).fit(X, y)
    value, interval = model.predict_with_interval(WarfarinCovariates(6, 170.0, 80.0, vkorc1="A/A"))
    assert isinstance(interval, Interval) and interval.level == pytest.approx(0.8)
    assert interval.low <= value <= interval.high


def test_model_refuses_bad_training_input():
    X, y = synthetic(60, 4)
    with pytest.raises(ModelError, match="positive"):
        WarfarinDoseModel(**SMALL).fit(X, np.where(np.arange(60) == 0, -1.0, y))
    with pytest.raises(ModelError, match="columns"):
        WarfarinDoseModel(**SMALL).fit(X.drop(columns=["age_decade"]), y)


def test_height_imputer_fills_from_weight_and_keeps_known_values():
    frame = covariate_frame([WarfarinCovariates(6, 150.0 + i, 50.0 + 1.5 * i) for i in range(30)])
    frame.loc[3, "height_cm"] = np.nan
    filled = HeightWeightImputer().fit(frame).transform(frame)
    assert filled.loc[3, "height_cm"] == pytest.approx(153.0, abs=0.5)
    assert filled.loc[4, "height_cm"] == 154.0
    assert list(filled.columns) == list(FEATURES)
