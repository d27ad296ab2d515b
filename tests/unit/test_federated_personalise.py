"""A site's personalised model (Ditto): it departs from the global model only when its own patients say so."""

from __future__ import annotations

import numpy as np

from carepilot.domain.consent import StaticConsent
from carepilot.features.readmission import FEATURES
from carepilot.federated.logistic import local_fit
from carepilot.federated.personalise import personalise
from carepilot.federated.preprocessing import pool_statistics, site_statistics
from carepilot.federated.sites import site_data
from tests.unit.federated_frames import site_frame


def _global(frames):
    prep = pool_statistics(FEATURES, [site_statistics(f, FEATURES) for f in frames])
    pooled = np.vstack([prep.transform(f) for f in frames])
    y = np.concatenate([f["label"].to_numpy() for f in frames])
    lam = 1.0 / (0.1 * prep.n)
    theta, _ = local_fit(np.zeros(pooled.shape[1] + 1), pooled, y, lam=lam, steps=300)
    return prep, theta, lam


def test_a_site_like_the_others_keeps_the_global_model_or_stays_close_to_it():
    frames = [site_frame(s, 400, seed=i) for i, s in enumerate("abc")]
    prep, theta, lam = _global(frames)
    mine = personalise(site_data("a", frames[0], StaticConsent()), prep, theta, lam)
    assert not np.isfinite(mine.mu) or mine.mu >= 0.1
    assert np.linalg.norm(mine.theta - theta) < 0.5 * np.linalg.norm(theta)


def test_a_site_whose_patients_differ_moves_away_from_the_global_model_and_fits_them_better():
    frames = [site_frame(s, 400, seed=i) for i, s in enumerate("ab")]
    odd = site_frame("c", 600, seed=9)
    odd["label"] = 1 - odd["label"]  # the opposite relation between features and outcome at this site
    prep, theta, lam = _global([*frames, odd])
    data = site_data("c", odd, StaticConsent())
    mine = personalise(data, prep, theta, lam)
    assert np.isfinite(mine.mu) and mine.mu <= 0.1
    y = data.test["label"].to_numpy()
    own = mine.predict(prep, data.test)
    assert np.mean((own - y) ** 2) < np.mean(
        (1 / (1 + np.exp(-(prep.transform(data.test) @ theta[:-1] + theta[-1]))) - y) ** 2
    )
