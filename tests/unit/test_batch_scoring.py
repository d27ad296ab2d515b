"""Batch scoring pieces: consent filtering, batched risk Insights equal to one-at-a-time ones, typed view frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from carepilot.domain.consent import ConsentScope, StaticConsent
from carepilot.domain.insight import Declined, Insight
from carepilot.errors import InputError
from carepilot.features.viewdefinition import parse_view
from carepilot.learning.scoring import ScoringJob, consented, profile_of, risk_features, typed_view_frame
from carepilot.models.risk import RiskClassifier
from carepilot.models.risk_insight import RiskModelInfo, risk_insight, risk_insights
from tests.samples import observation, patient

AS_OF = datetime(2026, 1, 15, tzinfo=UTC)
INFO = RiskModelInfo(model_id="readmission", version="2", outcome="30-day readmission")


def test_patients_who_opted_out_of_decision_support_are_not_scored():
    population = pd.DataFrame({"patient_id": ["a", "b", "c"], "resources": ["[]", "[]", "[]"]})
    consent = StaticConsent({ConsentScope.DECISION_SUPPORT: ["b"], ConsentScope.TRAINING: ["c"]})
    kept, excluded = consented(population, consent)
    assert kept["patient_id"].tolist() == ["a", "c"] and excluded == 1


@pytest.mark.slow
def test_batched_risk_insights_equal_the_one_at_a_time_ones():
    rng = np.random.default_rng(3)
    n = 800
    X = pd.DataFrame({"hba1c": rng.normal(7.0, 1.5, n), "age": rng.normal(60.0, 10.0, n)})
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(-1.5 + 1.2 * (X["hba1c"] - 7.0))))).astype(int)
    model = RiskClassifier("logistic", param_grid=[{"C": 1.0}], n_bootstrap=4).fit(X, y)
    rows = pd.DataFrame({"hba1c": [6.0, 8.5, 40.0, 7.2], "age": [50.0, 70.0, 60.0, 65.0]})  # 40% is out of range
    ids = ["p1", "p2", "p3", "p4"]
    batched = risk_insights(model, rows, ids, as_of=AS_OF, info=INFO)
    single = [risk_insight(model, rows.iloc[[i]], patient_id=pid, as_of=AS_OF, info=INFO) for i, pid in enumerate(ids)]
    assert isinstance(batched[2], Declined) and isinstance(single[2], Declined)
    for b, s in zip(batched, single, strict=True):
        assert type(b) is type(s)
        if isinstance(b, Insight):
            assert b.id == s.id and b.title == s.title and b.explanation == s.explanation
            assert b.value == pytest.approx(s.value, abs=1e-12) and b.interval == s.interval


def test_batched_risk_insights_refuse_rows_and_ids_of_different_lengths():
    with pytest.raises(InputError):
        risk_insights(None, pd.DataFrame({"a": [1.0]}), [], as_of=AS_OF, info=INFO)  # type: ignore[arg-type]


def test_features_come_from_the_resources_at_scoring_time_for_a_patient_never_admitted():
    resources = [patient("p1"), observation("o1", "p1", value=8.2)]
    profile = profile_of("p1", resources, AS_OF)
    assert profile is not None
    index, features = risk_features(profile)
    assert index == AS_OF and features["latest_hba1c"] == pytest.approx(8.2)
    assert profile_of("p2", resources, AS_OF) is None


def test_view_rows_get_one_stable_dtype_per_column():
    view = parse_view(
        {
            "resourceType": "ViewDefinition",
            "resource": "Patient",
            "status": "active",
            "select": [
                {
                    "column": [
                        {"name": "id", "path": "id", "type": "id"},
                        {"name": "active", "path": "active", "type": "boolean"},
                        {"name": "n", "path": "multipleBirthInteger", "type": "integer"},
                    ]
                }
            ],
        }
    )
    frame = typed_view_frame([{"id": "a", "active": True, "n": 2}, {"id": "b", "active": None, "n": None}], view)
    assert [str(t) for t in frame.dtypes] == ["object", "boolean", "Int64"]


def test_a_job_asking_for_every_insight_needs_settings():
    with pytest.raises(InputError):
        ScoringJob(as_of=AS_OF, models=(), insights="all", views=())
    with pytest.raises(InputError):
        ScoringJob(as_of=AS_OF, models=(), insights="some", views=())
