"""``carepilot link``: recognise the same person across sources (Splink) and work the review queue."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError
from carepilot.ingest.linkage import (
    LOWER_WEIGHT,
    UPPER_WEIGHT,
    Thresholds,
    link_records,
    records_frame,
    spark_api,
)
from carepilot.store.links import LinkRepository

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Identity resolution across sources: link Patient records of the same person.",
        invoke_without_command=True,
        no_args_is_help=False,
    )
    group.callback(invoke_without_command=True)(link)
    group.command("review", help="List the pairs waiting for review, or accept / reject one.")(review)
    app.add_typer(group, name="link")


def link(
    ctx: typer.Context,
    upper: Annotated[float, typer.Option("--upper", help="Match weight at or above which pairs link.")] = UPPER_WEIGHT,
    lower: Annotated[float, typer.Option("--lower", help="Match weight from which pairs go to review.")] = LOWER_WEIGHT,
    backend: Annotated[str, typer.Option("--backend", help="duckdb (in process) or spark (local mode).")] = "duckdb",
    json_out: JsonFlag = False,
) -> None:
    """Train the linkage model on the store's Patients, link, queue the uncertain pairs."""
    if ctx.invoked_subcommand is not None:
        return
    db, _ = open_store(settings())
    links = LinkRepository(db)
    records = records_frame(links.patient_resources())
    if records.empty:
        raise InputError("the store holds no Patient resources; run carepilot ingest first")
    if backend not in ("duckdb", "spark"):
        raise InputError(f"--backend must be duckdb or spark, not {backend!r}")
    thresholds = Thresholds(upper=upper, lower=lower)
    if backend == "spark":
        from carepilot.learning.batch import spark_session

        spark = spark_session()
        try:
            result = link_records(records, thresholds=thresholds, decisions=links.decisions(), db_api=spark_api(spark))
        finally:
            spark.stop()
    else:
        result = link_records(records, thresholds=thresholds, decisions=links.decisions())
    run_id = str(uuid.uuid4())
    queued = links.save_run(run_id, result.persons, result.pairs)
    summary = {
        "run_id": run_id,
        "records": result.records,
        "sources": sorted(records["source"].unique()),
        "pairs_compared": result.pairs_compared,
        "links": len(result.links()),
        "persons_with_several_records": int(result.persons["golden_id"].nunique()),
        "review_queue": len(result.review_queue()),
        "newly_queued": queued,
        "backend": backend,
        "upper_weight": upper,
        "lower_weight": lower,
        "seconds": round(result.seconds, 2),
    }
    if json_out:
        print_json(summary)
        return
    table = Table(title="identity linkage", show_header=False)
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


def review(
    accept: Annotated[str | None, typer.Option("--accept", help="Accept the pair PATIENT_A:PATIENT_B.")] = None,
    reject: Annotated[str | None, typer.Option("--reject", help="Reject the pair PATIENT_A:PATIENT_B.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Without options, list the open pairs; with one, record the decision (run ``carepilot link`` to apply it)."""
    if accept and reject:
        raise InputError("give --accept or --reject, not both")
    db, _ = open_store(settings())
    links = LinkRepository(db)
    if accept or reject:
        decided = links.decide(accept or reject or "", "accept" if accept else "reject")
        if json_out:
            print_json(decided)
        else:
            console.print(f"pair {decided['pair']}: {decided['status']} (run carepilot link to re-link)")
        return
    items = links.queue()
    if json_out:
        print_json([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in i.items()} for i in items])
        return
    table = Table(title=f"link review queue ({len(items)} open)")
    table.add_column("pair", overflow="fold")
    for col in ("sources", "match weight", "probability"):
        table.add_column(col)
    for i in items:
        table.add_row(
            i["pair"],
            f"{i['left_source']} / {i['right_source']}",
            f"{i['match_weight']:.1f}",
            f"{i['match_probability']:.3f}",
        )
    console.print(table)
