"""Benchmark ``score``: batch scoring of a population, local process against Spark local mode (target: 100,000
patients in under 10 minutes on this machine).

Steps, all in one temporary home:

1. synthesise ``patients`` persons (default 1,000), ingest both sources into a fresh store, train the
   readmission model (the registered risk model the scorer runs);
2. the whole pipeline on that real population, local engine: FHIR resources -> profile -> risk features ->
   every risk model -> every Insight of the default providers -> the four feature views (``full_pipeline``);
3. the scale curve: synthesising 100,000 patients takes about 15 minutes here, so the feature rows of step 2
   are replicated under new patient ids up to each size in ``sizes``; every model and every risk Insight
   (probability, bootstrap interval, SHAP explanation) is then computed for real on each row, by the local
   engine and by Spark (``local[2]``, ``mapInPandas``), and timed.

``patients_per_s`` and ``seconds`` are the largest size's model + risk-Insight stage on the faster engine;
``projected_full_seconds`` adds the per-patient cost of step 2's feature extraction (profile + features)
measured on the real population, for the same number of patients.

Options: ``patients=N`` (1000), ``seed=S`` (3), ``sizes=A,B,...`` (2000,5000; the issue's curve is
``sizes=10000,50000,100000``), ``engines=local,spark``, ``partitions=P`` (4).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from carepilot.bench import BenchReport, environment, peak_rss_mb
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.ingest.pipeline import Ingestor
from carepilot.ingest.readers import discover
from carepilot.learning.batch import population_from_store, run_features_frame, run_local, spark_session
from carepilot.learning.scoring import FEATURE_VIEWS, ScoringJob, registered_risk_models
from carepilot.learning.training import train_readmission
from carepilot.models.registry import ModelRegistry
from carepilot.store.db import open_database
from carepilot.store.repository import SqlRecordRepository
from carepilot.synth.population import SynthOptions, generate

TARGET_PATIENTS = 100_000
TARGET_SECONDS = 600.0
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)


def replicate(features: pd.DataFrame, size: int) -> pd.DataFrame:
    """``size`` feature rows: the real rows repeated, each copy under new patient ids."""
    if features.empty:
        raise BenchmarkError("the synthetic population produced no feature rows")
    copies = -(-size // len(features))
    frames = []
    for k in range(copies):
        copy = features.copy()
        copy["patient_id"] = [f"{pid}-r{k}" for pid in features["patient_id"]]
        frames.append(copy)
    return pd.concat(frames, ignore_index=True).iloc[:size].reset_index(drop=True)


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Synthesise, ingest, train, score the real population end to end, then time the scale curve."""
    try:
        patients = int(options.get("patients", "1000"))
        seed = int(options.get("seed", "3"))
        sizes = [int(x) for x in options.get("sizes", "2000,5000").split(",") if x.strip()]
        engines = [e.strip() for e in options.get("engines", "local,spark").split(",") if e.strip()]
        partitions = int(options.get("partitions", "4"))
    except ValueError as exc:
        raise BenchmarkError(f"bad score benchmark option: {exc}") from exc
    if not sizes or any(s < 1 for s in sizes) or not set(engines) <= {"local", "spark"}:
        raise BenchmarkError("sizes must be positive integers and engines a subset of local,spark")
    home = Path(tempfile.mkdtemp(prefix="carepilot-score-bench-"))
    notes: list[str] = []
    started = time.perf_counter()
    try:
        population_dir = home / "population"
        generate(
            SynthOptions(
                patients=patients,
                seed=seed,
                out=population_dir,
                format="ndjson",
                streams=False,
                reference_data=settings.reference_data,
            )
        )
        local_settings = settings.model_copy(update={"home": home, "database_url": None})
        db = open_database(local_settings.resolved_database_url)
        repo = SqlRecordRepository(db)
        for source in ("ehr", "lab"):
            Ingestor(repo, source).ingest(discover([population_dir / "fhir" / source]))
        registry = ModelRegistry(local_settings.models_dir)
        train_readmission(repo, registry, home / "plots", n_bootstrap=10)
        models = registered_risk_models(registry)
        population = population_from_store(db)
        prepared = time.perf_counter() - started

        # 2. the whole pipeline on the real population
        full_job = ScoringJob(as_of=AS_OF, models=models, insights="all", views=FEATURE_VIEWS, settings=local_settings)
        t = time.perf_counter()
        full = run_local(population, full_job)
        full_seconds = time.perf_counter() - t
        feature_cost = full.seconds["features"] / max(1, full.patients)

        # 3. the scale curve on replicated feature rows
        job = ScoringJob(as_of=AS_OF, models=models, insights="risk", views=())
        curve: list[dict[str, Any]] = []
        spark = spark_session() if "spark" in engines else None
        try:
            if spark is not None:  # start the Python workers once, outside the timings
                run_features_frame(full.features.head(50), job, "spark", spark, partitions=partitions)
            for size in sizes:
                rows = replicate(full.features, size)
                for engine in engines:
                    t = time.perf_counter()
                    scores, insights = run_features_frame(rows, job, engine, spark, partitions=partitions)
                    seconds = time.perf_counter() - t
                    curve.append(
                        {
                            "patients": size,
                            "engine": engine,
                            "seconds": round(seconds, 2),
                            "patients_per_s": round(size / seconds, 1),
                            "scores": len(scores),
                            "risk_insights": len(insights),
                        }
                    )
        finally:
            if spark is not None:
                spark.stop()
        db.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    largest = max(sizes)
    at_largest = [p for p in curve if p["patients"] == largest]
    best = min(at_largest, key=lambda p: p["seconds"])
    projected = best["seconds"] + feature_cost * largest
    notes.append(
        f"sizes above {patients} replicate the real population's feature rows under new ids; models and risk "
        "Insights are computed for every row"
    )
    if largest < TARGET_PATIENTS:
        notes.append(
            f"largest size {largest} is below the target's {TARGET_PATIENTS}: run with -o sizes=10000,50000,100000"
        )
    metrics: dict[str, Any] = {
        "patients": largest,
        "seconds": best["seconds"],
        "patients_per_s": best["patients_per_s"],
        "engine": best["engine"],
        "projected_full_seconds": round(projected, 1),
        "curve": curve,
        "full_pipeline": {
            "patients": full.patients,
            "seconds": round(full_seconds, 2),
            "patients_per_s": round(full.patients / full_seconds, 2),
            "stage_seconds": full.seconds,
            "insights": len(full.insights),
            "insights_by_kind": full.insights["kind"].value_counts().to_dict(),
            "view_rows": {k: len(v) for k, v in full.views.items()},
        },
        "prepare_seconds": round(prepared, 1),
        "peak_rss_mb": peak_rss_mb(),
        "target": f"{TARGET_PATIENTS} patients in under {TARGET_SECONDS:.0f} s",
        "meets_target": largest >= TARGET_PATIENTS and projected < TARGET_SECONDS,
    }
    return BenchReport(
        benchmark="score",
        dataset=f"synthetic population, {patients} persons (seed {seed}), replicated to {sizes}",
        n=largest,
        metrics=metrics,
        baselines={},
        seconds=round(time.perf_counter() - started, 1),
        environment=environment(),
        notes=notes,
    )
