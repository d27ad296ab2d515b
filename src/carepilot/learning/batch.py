"""Run a ScoringJob over a population: in this process (``local``) or on Apache Spark (``spark``).

Both engines call the partition functions of ``learning/scoring.py``; Spark runs them in ``mapInPandas`` over
the population's partitions, so each executor applies the same feature, model and Insight code. Results come
back to the driver as pandas frames with the same dtypes whatever the engine (``conform``), sorted the same
way, ready to compare or to write.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from carepilot.errors import InputError
from carepilot.features.readmission import FEATURES
from carepilot.learning.scoring import (
    INSIGHT_COLUMNS,
    ScoringJob,
    ScoringOutput,
    chunks,
    feature_partition,
    insight_partition,
    risk_insight_partition,
    score_partition,
    view_dtype,
    view_partition,
)

ENGINES = ("local", "spark")
PartitionFn = Callable[[pd.DataFrame, ScoringJob], pd.DataFrame]


def feature_dtypes() -> dict[str, str]:
    return {"patient_id": "object", "index_time": "object", **{f: "float64" for f in FEATURES}}


SCORE_DTYPES = {
    "patient_id": "object",
    "model": "object",
    "model_version": "object",
    "index_time": "object",
    "probability": "float64",
    "out_of_distribution": "bool",
}
INSIGHT_DTYPES = {c: "object" for c in INSIGHT_COLUMNS}


def view_dtypes(job: ScoringJob, name: str) -> dict[str, str]:
    return {c.name: view_dtype(c.type, c.collection) for c in job.compiled[name].columns}


def conform(frame: pd.DataFrame, dtypes: dict[str, str], sort: list[str] | None = None) -> pd.DataFrame:
    """The frame with exactly these columns and dtypes (text as Python str or None), optionally sorted."""
    out = pd.DataFrame(index=range(len(frame)))
    frame = frame.reset_index(drop=True)
    for column, dtype in dtypes.items():
        values = frame[column] if column in frame else pd.Series([None] * len(frame))
        if dtype == "object":
            out[column] = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
        else:
            out[column] = values.astype(dtype)
    if sort:
        out = out.sort_values(sort, kind="mergesort", na_position="first").reset_index(drop=True)
    return out


def _order(columns: dict[str, str]) -> list[str]:
    return list(columns)


def _insight_source(job: ScoringJob) -> tuple[str, PartitionFn] | None:
    if job.insights == "none":
        return None
    if job.insights == "risk":
        return "features", risk_insight_partition
    return "population", insight_partition


# -- local ------------------------------------------------------------------------------------------------------


def run_local(population: pd.DataFrame, job: ScoringJob, chunk_size: int = 500) -> ScoringOutput:
    """Score the population in this process, ``chunk_size`` patients at a time."""
    seconds: dict[str, float] = {}

    def each(fn: PartitionFn, frame: pd.DataFrame) -> pd.DataFrame:
        parts = [fn(part, job) for part in chunks(frame, chunk_size)]
        return pd.concat(parts, ignore_index=True) if parts else fn(frame.iloc[:0], job)

    started = time.perf_counter()
    features = each(feature_partition, population)
    seconds["features"] = time.perf_counter() - started
    t = time.perf_counter()
    scores = each(score_partition, features)
    seconds["models"] = time.perf_counter() - t
    t = time.perf_counter()
    insights = pd.DataFrame(columns=list(INSIGHT_COLUMNS))
    source = _insight_source(job)
    if source is not None:
        insights = each(source[1], features if source[0] == "features" else population)
    seconds["insights"] = time.perf_counter() - t
    t = time.perf_counter()
    views = {name: each(partial(_view_fn, name=name), population) for name in job.views}
    seconds["views"] = time.perf_counter() - t
    return _finish(job, population, features, scores, insights, views, "local", seconds)


def _view_fn(frame: pd.DataFrame, job: ScoringJob, name: str) -> pd.DataFrame:
    return view_partition(frame, job, name)


def _finish(
    job: ScoringJob,
    population: pd.DataFrame,
    features: pd.DataFrame,
    scores: pd.DataFrame,
    insights: pd.DataFrame,
    views: dict[str, pd.DataFrame],
    engine: str,
    seconds: dict[str, float],
) -> ScoringOutput:
    return ScoringOutput(
        features=conform(features, feature_dtypes(), ["patient_id"]),
        scores=conform(scores, SCORE_DTYPES, ["patient_id", "model"]),
        insights=conform(insights, INSIGHT_DTYPES, ["patient_id", "source_id", "id"]),
        views={name: conform(frame, view_dtypes(job, name)) for name, frame in views.items()},
        patients=len(population),
        engine=engine,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )


# -- Spark ------------------------------------------------------------------------------------------------------


def spark_session(cores: int = 2, shuffle_partitions: int = 4, memory: str = "2g") -> Any:
    """A local-mode SparkSession whose Python workers run this interpreter with this package importable.

    Splink's jar of string-similarity functions (shipped inside the splink package, nothing is downloaded) is on
    the class path, so record linkage can run on the same session.
    """
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    package_root = str(Path(__file__).resolve().parents[2])
    worker_path = os.pathsep.join(p for p in (package_root, *sys.path) if p)
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("carepilot-score")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.pyspark.driver.python", sys.executable)
        .config("spark.executorEnv.PYTHONPATH", worker_path)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(cores))
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.jars", similarity_jar_location())
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_schema(dtypes: dict[str, str]) -> Any:
    """The Spark schema of a frame with these pandas dtypes."""
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

    kinds = {"float64": DoubleType(), "bool": BooleanType(), "boolean": BooleanType(), "Int64": LongType()}
    return StructType([StructField(c, kinds.get(d, StringType()), True) for c, d in dtypes.items()])


def _apply(
    fn: PartitionFn, job: ScoringJob, dtypes: dict[str, str], batches: Iterator[pd.DataFrame]
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: run the partition function on each Arrow batch, in the schema's column order."""
    for batch in batches:
        out = fn(batch, job)
        yield conform(out, dtypes)


def run_spark(population: pd.DataFrame, job: ScoringJob, spark: Any, partitions: int = 4) -> ScoringOutput:
    """Score the population on Spark: each stage is a ``mapInPandas`` of the same partition function."""
    if partitions < 1:
        raise InputError("partitions must be at least 1")
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    frame = spark.createDataFrame(population[["patient_id", "resources"]], schema="patient_id string, resources string")
    frame = frame.repartition(partitions).cache()

    def stage(source: Any, fn: PartitionFn, dtypes: dict[str, str]) -> Any:
        return source.mapInPandas(partial(_apply, fn, job, dtypes), schema=spark_schema(dtypes))

    features_df = stage(frame, feature_partition, feature_dtypes()).cache()
    features = features_df.toPandas()
    seconds["features"] = time.perf_counter() - started
    t = time.perf_counter()
    scores = stage(features_df, score_partition, SCORE_DTYPES).toPandas()
    seconds["models"] = time.perf_counter() - t
    t = time.perf_counter()
    insights = pd.DataFrame(columns=list(INSIGHT_COLUMNS))
    source = _insight_source(job)
    if source is not None:
        upstream = features_df if source[0] == "features" else frame
        insights = stage(upstream, source[1], INSIGHT_DTYPES).toPandas()
    seconds["insights"] = time.perf_counter() - t
    t = time.perf_counter()
    views = {name: stage(frame, partial(_view_fn, name=name), view_dtypes(job, name)).toPandas() for name in job.views}
    seconds["views"] = time.perf_counter() - t
    features_df.unpersist()
    frame.unpersist()
    return _finish(job, population, features, scores, insights, views, "spark", seconds)


def run_features_frame(
    features: pd.DataFrame, job: ScoringJob, engine: str, spark: Any = None, partitions: int = 4, chunk_size: int = 2000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Models and risk Insights over ready feature rows (the bench's scaled populations); returns scores, insights."""
    if engine == "local":
        scores = pd.concat([score_partition(p, job) for p in chunks(features, chunk_size)], ignore_index=True)
        insights = (
            pd.concat([risk_insight_partition(p, job) for p in chunks(features, chunk_size)], ignore_index=True)
            if job.insights != "none"
            else pd.DataFrame(columns=list(INSIGHT_COLUMNS))
        )
        return conform(scores, SCORE_DTYPES), conform(insights, INSIGHT_DTYPES)
    if engine != "spark" or spark is None:
        raise InputError(f"engine must be local or spark (with a session), not {engine!r}")
    sdf = spark.createDataFrame(conform(features, feature_dtypes()), schema=spark_schema(feature_dtypes()))
    sdf = sdf.repartition(partitions).cache()
    scores = sdf.mapInPandas(
        partial(_apply, score_partition, job, SCORE_DTYPES), schema=spark_schema(SCORE_DTYPES)
    ).toPandas()
    insights = pd.DataFrame(columns=list(INSIGHT_COLUMNS))
    if job.insights != "none":
        insights = sdf.mapInPandas(
            partial(_apply, risk_insight_partition, job, INSIGHT_DTYPES), schema=spark_schema(INSIGHT_DTYPES)
        ).toPandas()
    sdf.unpersist()
    return conform(scores, SCORE_DTYPES), conform(insights, INSIGHT_DTYPES)


# -- reading the store, writing the results ---------------------------------------------------------------------


def population_from_store(db: Any, excluded: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Every patient in the store with the JSON array of its current resources, minus ``excluded`` ids."""
    from sqlalchemy import select

    from carepilot.store import tables as t

    grouped: dict[str, list[str]] = {}
    with db.read() as conn:
        query = select(t.resources.c.patient_id, t.resources.c.content).where(t.resources.c.patient_id.is_not(None))
        for pid, content in conn.execute(query.order_by(t.resources.c.patient_id)):
            if pid in excluded:
                continue
            grouped.setdefault(pid, []).append(content)
    return pd.DataFrame(
        {"patient_id": list(grouped), "resources": ["[" + ",".join(items) + "]" for items in grouped.values()]}
    )


def write_parquet(output: ScoringOutput, out: Path) -> dict[str, str]:
    """Write features, scores, Insights and each view as Parquet under ``out``; returns what went where."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"features": output.features, "scores": output.scores, "insights": output.insights}
    written = {}
    for name, frame in files.items():
        path = out / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        written[name] = str(path)
    for name, frame in output.views.items():
        path = out / "views" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        written[f"view:{name}"] = str(path)
    return written


def store_results(db: Any, output: ScoringOutput, run_id: str) -> dict[str, int]:
    """Write the scores (``risk_scores``) and the Insights (``insights``, ids already stored kept)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from carepilot.ingest.times import parse_datetime
    from carepilot.store import tables as t

    now = datetime.now(UTC)
    score_rows = [
        {
            "run_id": run_id,
            "patient_id": r.patient_id,
            "model": r.model,
            "model_version": r.model_version,
            "index_time": parse_datetime(r.index_time) if r.index_time else None,
            "probability": float(r.probability),
            "engine": output.engine,
            "scored_at": now,
        }
        for r in output.scores.itertuples(index=False)
    ]
    insight_rows = [
        {
            "id": r.id,
            "patient_id": r.patient_id,
            "kind": r.kind,
            "severity": r.severity,
            "title": r.title,
            "payload": r.payload,
            "source_id": r.source_id,
            "source_version": r.source_version,
            "hook_instance": f"batch:{run_id}",
            "created_at": now,
        }
        for r in output.insights.itertuples(index=False)
    ]
    dialect_insert = sqlite_insert if db.is_sqlite else postgresql_insert
    with db.write() as conn:
        for start in range(0, len(score_rows), 5000):
            conn.execute(insert(t.risk_scores), score_rows[start : start + 5000])
        for start in range(0, len(insight_rows), 2000):
            conn.execute(dialect_insert(t.insights).on_conflict_do_nothing(), insight_rows[start : start + 2000])
    return {"scores": len(score_rows), "insights": len(insight_rows)}
