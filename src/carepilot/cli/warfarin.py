"""``carepilot warfarin dose``: the IWPC warfarin dose for covariates given on the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from carepilot.cli.console import console, print_json
from carepilot.errors import InputError
from carepilot.knowledge.warfarin import (
    Algorithm,
    Race,
    WarfarinCovariates,
    choose_algorithm,
    impute_vkorc1,
    iwpc_dose,
    iwpc_table,
    parse_cyp2c9,
    parse_vkorc1,
    race_category,
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Warfarin dosing (IWPC algorithms).", no_args_is_help=True)
    group.command("dose", help="Estimate the weekly warfarin maintenance dose (IWPC, NEJM 2009).")(dose)
    app.add_typer(group, name="warfarin")


def dose(
    age_decade: Annotated[int | None, typer.Option("--age-decade", help="Age in decades: 6 for 60-69 years.")] = None,
    age: Annotated[float | None, typer.Option("--age", help="Age in years (instead of --age-decade).")] = None,
    height: Annotated[float, typer.Option("--height", help="Height in cm.")] = 170.0,
    weight: Annotated[float, typer.Option("--weight", help="Weight in kg.")] = 80.0,
    cyp2c9: Annotated[str | None, typer.Option("--cyp2c9", help="CYP2C9 diplotype, e.g. '*1/*3'.")] = None,
    vkorc1: Annotated[
        str | None,
        typer.Option("--vkorc1", help="VKORC1 -1639G>A genotype ('A/G'), or 'rs9934438 C/T' to impute."),
    ] = None,
    race: Annotated[
        str | None, typer.Option("--race", help="white | asian | black | other (missing or mixed).")
    ] = None,
    amiodarone: Annotated[bool, typer.Option("--amiodarone", help="Taking amiodarone.")] = False,
    enzyme_inducer: Annotated[
        bool, typer.Option("--enzyme-inducer", help="Taking carbamazepine, phenytoin or rifampin.")
    ] = False,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="auto | pharmacogenetic | clinical (auto: genotype if given).")
    ] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    if age_decade is None and age is None:
        raise InputError("give --age-decade (6 for 60-69 years) or --age in years")
    from carepilot.knowledge.warfarin import age_decade as to_decade

    decade = age_decade if age_decade is not None else to_decade(age or 0.0)
    race_value = Race(race) if race in {r.value for r in Race} else race_category(race)
    genotype_cyp = parse_cyp2c9(cyp2c9) if cyp2c9 else None
    genotype_vk = None
    if vkorc1:
        snp, genotype = parse_vkorc1(f"VKORC1 {vkorc1}")
        genotype_vk = impute_vkorc1({snp: genotype}, race_value)
        if genotype_vk is None:
            raise InputError(f"VKORC1 {vkorc1} cannot be used to impute -1639G>A for race {race_value}")
    cov = WarfarinCovariates(
        age_decade=decade,
        height_cm=height,
        weight_kg=weight,
        race=race_value,
        cyp2c9=genotype_cyp,
        vkorc1=genotype_vk,
        amiodarone=amiodarone,
        enzyme_inducer=enzyme_inducer,
    )
    if algorithm not in ("auto", "pharmacogenetic", "clinical"):
        raise InputError(f"--algorithm must be auto, pharmacogenetic or clinical, got {algorithm!r}")
    chosen = choose_algorithm(cov) if algorithm == "auto" else Algorithm(algorithm)
    estimate = iwpc_dose(cov, chosen)
    table = iwpc_table()
    if json_out:
        print_json(
            {
                "algorithm": str(chosen),
                "weekly_dose_mg": round(estimate.weekly_dose_mg, 2),
                "daily_dose_mg": round(estimate.weekly_dose_mg / 7, 2),
                "sqrt_weekly_dose": round(estimate.sqrt_weekly_dose, 4),
                "terms": [{"term": t.key, "label": t.label, "value": round(t.contribution, 4)} for t in estimate.terms],
                "covariates": {
                    "age_decade": cov.age_decade,
                    "height_cm": cov.height_cm,
                    "weight_kg": cov.weight_kg,
                    "race": str(cov.race),
                    "cyp2c9": cov.cyp2c9,
                    "vkorc1": cov.vkorc1,
                    "amiodarone": cov.amiodarone,
                    "enzyme_inducer": cov.enzyme_inducer,
                },
                "source": {"id": table.id, "version": table.version, "citation": table.citation},
            }
        )
        return
    grid = Table(title=f"IWPC {chosen} algorithm: square root of the weekly dose")
    grid.add_column("term")
    grid.add_column("contribution", justify="right")
    for term in estimate.terms:
        grid.add_row(term.label, f"{term.contribution:+.4f}")
    grid.add_row("[bold]sum (sqrt of weekly dose)[/bold]", f"[bold]{estimate.sqrt_weekly_dose:.4f}[/bold]")
    console.print(grid)
    console.print(
        f"Estimated maintenance dose: [bold]{estimate.weekly_dose_mg:.1f} mg/week[/bold] "
        f"({estimate.weekly_dose_mg / 7:.2f} mg/day)"
    )
    if chosen is Algorithm.CLINICAL and algorithm == "auto":
        console.print("No genotype given: clinical algorithm used (genotype-guided dosing is more accurate).")
    if amiodarone:
        console.print("Amiodarone: major interaction with warfarin; monitor INR closely (see the safety check).")
    console.print(f"Source: {table.citation}")
