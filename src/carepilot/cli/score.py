"""``carepilot score``: score the whole population (feature views, every risk model, Insights), local or Spark."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError
from carepilot.ingest.times import parse_datetime
from carepilot.learning.batch import (
    ENGINES,
    population_from_store,
    run_local,
    run_spark,
    spark_session,
    store_results,
    write_parquet,
)
from carepilot.learning.scoring import FEATURE_VIEWS, INSIGHT_MODES, ScoringJob, consented, registered_risk_models
from carepilot.models.registry import ModelRegistry
from carepilot.store.consent import SqlConsentDirectory


def register(app: typer.Typer) -> None:
    app.command("score", help="Score every patient: feature views, every registered risk model, Insights.")(score)


def score(
    engine: Annotated[str, typer.Option("--engine", help="local (this process) or spark (local mode).")] = "local",
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the Parquet outputs.")] = None,
    insights: Annotated[
        str, typer.Option("--insights", help="all (every provider), risk (risk models only) or none.")
    ] = "all",
    views: Annotated[bool, typer.Option("--views/--no-views", help="Also write the feature views.")] = True,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scoring time (default now).")] = None,
    partitions: Annotated[int, typer.Option("--partitions", help="Spark partitions.")] = 4,
    store: Annotated[bool, typer.Option("--store/--no-store", help="Write scores and Insights to the store.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if insights not in INSIGHT_MODES:
        raise InputError(f"--insights must be one of {', '.join(INSIGHT_MODES)}, not {insights!r}")
    when = datetime.now(UTC)
    if as_of is not None:
        parsed = parse_datetime(as_of)
        if parsed is None:
            raise InputError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD) or date-time")
        when = parsed
    s = settings()
    db, _ = open_store(s)
    population, excluded = consented(population_from_store(db), SqlConsentDirectory(db))
    if population.empty:
        raise InputError("no patients to score: the store is empty or every patient opted out")
    models = registered_risk_models(ModelRegistry(s.models_dir))
    job = ScoringJob(
        as_of=when,
        models=models,
        insights=insights,
        views=FEATURE_VIEWS if views else (),
        settings=s,
    )
    if engine == "spark":
        spark = spark_session()
        try:
            output = run_spark(population, job, spark, partitions=partitions)
        finally:
            spark.stop()
    else:
        output = run_local(population, job)
    output.excluded_by_consent = excluded
    run_id = str(uuid.uuid4())
    folder = out or s.home / "scores" / run_id
    written = write_parquet(output, folder)
    stored = store_results(db, output, run_id) if store else {"scores": 0, "insights": 0}
    summary = {
        "run_id": run_id,
        "engine": engine,
        "as_of": when.isoformat(),
        "patients": output.patients,
        "excluded_by_consent": excluded,
        "models": [f"{m.name}@{m.version}" for m in models],
        "scores": len(output.scores),
        "out_of_distribution": int(output.scores["out_of_distribution"].sum()),
        "insights": len(output.insights),
        "insights_by_kind": output.insights["kind"].value_counts().to_dict(),
        "view_rows": {name: len(frame) for name, frame in output.views.items()},
        "stored": stored,
        "seconds": output.seconds,
        "files": written,
    }
    if json_out:
        print_json(summary)
        return
    table = Table(title=f"batch scoring ({engine})", show_header=False)
    for key in ("patients", "excluded_by_consent", "models", "scores", "out_of_distribution", "insights"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    table.add_row("view rows", ", ".join(f"{k}: {v}" for k, v in summary["view_rows"].items()) or "-")
    table.add_row("seconds", ", ".join(f"{k} {v:.1f}" for k, v in output.seconds.items()))
    table.add_row("written to", str(folder))
    console.print(table)
    if not models:
        console.print("no risk model is registered: run carepilot train readmission first")
