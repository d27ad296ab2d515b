"""Local and Spark engines give identical feature views, feature rows and model scores on the same population."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from carepilot.features.readmission import FEATURES
from carepilot.ingest.pipeline import Ingestor
from carepilot.ingest.readers import discover
from carepilot.learning.batch import population_from_store, run_local, run_spark, spark_session
from carepilot.learning.scoring import FEATURE_VIEWS, RiskModel, ScoringJob, feature_partition
from carepilot.models.risk import RiskClassifier
from carepilot.store.db import open_database
from carepilot.store.repository import SqlRecordRepository
from carepilot.synth.population import SynthOptions, generate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    session = spark_session(cores=2, shuffle_partitions=2, memory="1g")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    base = tmp_path_factory.mktemp("spark-equivalence")
    generate(SynthOptions(patients=25, seed=9, out=base / "population", format="ndjson", streams=False))
    db = open_database(f"sqlite:///{base / 'store.db'}")
    repo = SqlRecordRepository(db)
    for source in ("ehr", "lab"):
        Ingestor(repo, source).ingest(discover([base / "population" / "fhir" / source]))
    frame = population_from_store(db)
    db.dispose()
    return frame


@pytest.fixture(scope="module")
def job(population):
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    features = feature_partition(population, ScoringJob(as_of=as_of, models=(), insights="none", views=()))
    # A real fitted risk model; its label is a fixed rule of the features, enough to make scores vary.
    label = (features["age"].fillna(0) > features["age"].median()).astype(int).to_numpy()
    model = RiskClassifier("logistic", n_bootstrap=2, random_state=0).fit(features[list(FEATURES)], label)
    risk = RiskModel(name="readmission", version="1", estimator=model, features=tuple(FEATURES))
    return ScoringJob(as_of=as_of, models=(risk,), insights="risk", views=FEATURE_VIEWS)


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    order = frame.astype(str).sort_values(list(frame.columns), kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


def test_views_features_and_scores_are_identical_on_local_and_spark(population, job, spark):
    local = run_local(population, job, chunk_size=7)
    distributed = run_spark(population, job, spark, partitions=2)
    assert local.patients == distributed.patients == len(population)
    for name in FEATURE_VIEWS:
        assert len(local.views[name]) > 0
        pd.testing.assert_frame_equal(sorted_rows(local.views[name]), sorted_rows(distributed.views[name]))
    pd.testing.assert_frame_equal(local.features, distributed.features, check_exact=False, rtol=0, atol=1e-12)
    assert len(local.scores) == len(population)
    assert local.scores["probability"].std() > 0
    pd.testing.assert_frame_equal(
        local.scores.drop(columns=["probability"]), distributed.scores.drop(columns=["probability"])
    )
    np.testing.assert_allclose(local.scores["probability"], distributed.scores["probability"], rtol=0, atol=1e-9)
    # Insight ids are fresh UUIDs per run; their content is the same.
    same = ["patient_id", "kind", "severity", "title", "source_id", "source_version"]
    pd.testing.assert_frame_equal(
        local.insights[same].sort_values(same).reset_index(drop=True),
        distributed.insights[same].sort_values(same).reset_index(drop=True),
    )


def test_spark_workers_import_this_checkout(spark):
    import carepilot

    where = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("carepilot").__file__).collect()[0]
    assert where == carepilot.__file__
