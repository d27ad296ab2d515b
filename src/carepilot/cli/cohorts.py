"""``carepilot cohorts``: group the store's patients by condition, lab and utilisation profile, in words."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError
from carepilot.features.cohorts import cohort_frame
from carepilot.features.population import data_end, iter_profiles
from carepilot.models.cohorts import cluster


def register(app: typer.Typer) -> None:
    app.command("cohorts", help="Cluster patients into cohorts and describe each group and its outcomes.")(cohorts)


def cohorts(
    k: Annotated[
        int | None, typer.Option("--k", help="Number of cohorts (default: chosen by silhouette, 2-8).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    if k is not None and k < 2:
        raise InputError(f"--k must be at least 2, got {k}")
    s = settings()
    _, repo = open_store(s)
    profiles = list(iter_profiles(repo))
    frame = cohort_frame(profiles, data_end(profiles)) if profiles else cohort_frame([], data_end([]))
    result = cluster(frame, k=k, seed=seed)
    if json_out:
        print_json({"patients": len(frame), **result.to_dict()})
        return
    how = "given" if result.chosen_by == "given" else f"chosen by silhouette ({result.silhouette[result.k]:.3f})"
    table = Table(title=f"{len(frame)} patients in {result.k} cohorts (k {how})")
    for col in ("#", "cohort", "patients", "median age", "30-day readmission", "mortality"):
        table.add_column(col)
    for c in result.cohorts:
        rr, mort = c.outcomes["readmission_rate_30d"], c.outcomes["mortality"]
        table.add_row(
            str(c.label + 1),
            c.name,
            f"{c.size} ({100 * c.share:.0f}%)",
            f"{c.outcomes['median_age']:g}",
            "-" if rr is None else f"{100 * rr:.0f}%",
            "unknown" if mort is None else f"{100 * mort:.1f}%",
        )
    console.print(table)
    for c in result.cohorts:
        console.print(f"[bold]{c.label + 1}. {c.name}[/bold]: {c.description}")
