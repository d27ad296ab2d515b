"""``carepilot pgx``: call star alleles from a VCF, and CPIC drug guidance for given diplotypes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, print_json, settings
from carepilot.errors import InputError
from carepilot.knowledge.pgx.catalog import load_catalog
from carepilot.knowledge.pgx.guidance import normalise_drug, recommend
from carepilot.knowledge.pgx.insights import gene_results, recommendation_insight
from carepilot.knowledge.pgx.phenotype import translate
from carepilot.knowledge.pgx.report import interpret, positions_of_interest, read_outside_calls
from carepilot.knowledge.pgx.vcf import read_vcf
from carepilot.store.profiles import load_profile

pgx_app = typer.Typer(help="Pharmacogenomics: star-allele calls from VCF and CPIC drug guidance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(pgx_app, name="pgx")


@pgx_app.command("call")
def call(
    vcf: Annotated[Path, typer.Argument(help="VCF file (plain or .gz), GRCh38.")],
    sample: Annotated[str | None, typer.Option(help="Sample column to read (default: the first).")] = None,
    outside: Annotated[
        Path | None, typer.Option(help="Outside calls TSV (GENE<TAB>DIPLOTYPE), e.g. for CYP2D6.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Call diplotypes for every gene with a CPIC allele definition, with phenotype and missing positions."""
    catalog = load_catalog(settings().reference_data)
    genotypes = read_vcf(vcf, sample=sample, positions=positions_of_interest(catalog))
    results = interpret(catalog, genotypes, read_outside_calls(outside) if outside else None)
    if as_json:
        print_json(
            {
                "sample": genotypes.sample,
                "versions": catalog.versions,
                "warnings": genotypes.warnings,
                "genes": [r.as_dict() for r in results.values()],
            }
        )
        return
    table = Table(title=f"pharmacogenes for sample {genotypes.sample}")
    for column in ("gene", "diplotype(s)", "phenotype", "activity score", "missing positions"):
        table.add_column(column)
    for result in results.values():
        summary = result.phenotype
        called = " or ".join(result.call.diplotype_names)
        diplotypes = called if result.call.called else "[yellow]not called[/yellow]"
        missing = result.call.missing_positions
        table.add_row(
            result.gene,
            diplotypes,
            summary.phenotype or "[dim]no phenotype table[/dim]",
            "" if summary.activity_score is None else f"{summary.activity_score:g}",
            f"{len(missing)}: {', '.join(missing[:2])}{' ...' if len(missing) > 2 else ''}" if missing else "none",
        )
    console.print(table)
    for result in results.values():
        if result.call.reason:
            console.print(f"  {result.gene}: {result.call.reason}")
    for warning in genotypes.warnings:
        console.print(f"  warning: {warning}")


@pgx_app.command("guidance")
def guidance(
    patient_id: Annotated[
        str | None, typer.Argument(help="Patient id: use the genotypes in the patient's record.")
    ] = None,
    diplotype: Annotated[
        list[str] | None,
        typer.Option("--diplotype", "-d", help="GENE=DIPLOTYPE, e.g. CYP2C19=*2/*2 (repeatable)."),
    ] = None,
    drug: Annotated[str | None, typer.Option(help="Drug name; default: every drug these genes inform.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """CPIC guidance for a patient's recorded genotypes, or for diplotypes given on the command line."""
    if (patient_id is None) == (not diplotype):
        raise InputError("give either a PATIENT_ID or one or more --diplotype GENE=DIPLOTYPE")
    catalog = load_catalog(settings().reference_data, with_definitions=False)
    rules = catalog.rules
    if patient_id is not None:
        _, repo = open_store(settings())
        profile = load_profile(repo, patient_id)
        results = gene_results(profile, catalog.tables, rules)
        subject, now = patient_id, profile.as_of
    else:
        diplotypes: dict[str, str] = {}
        for item in diplotype or []:
            gene, sep, value = item.partition("=")
            if not sep or not gene.strip() or not value.strip():
                raise InputError(f"--diplotype takes GENE=DIPLOTYPE, got {item!r}")
            diplotypes[gene.strip().upper()] = value.strip()
        results = {g: translate(catalog.tables.get(g), g, d, source="command line") for g, d in diplotypes.items()}
        subject, now = "command-line", datetime.now(UTC)
    drugs = [normalise_drug(drug)] if drug else sorted(d for d in rules.drugs if rules.genes_for(d) & set(results))
    insights = []
    undetermined = []
    for name in drugs:
        recommendations, missing = recommend(name, results, rules)
        insights += [recommendation_insight(r, subject, now) for r in recommendations]
        if missing is not None:
            undetermined.append({"drug": missing.drug, "reason": missing.reason})
    if patient_id is not None and not results:
        console.print(f"[yellow]no pharmacogenomic results in the record of patient {patient_id}[/yellow]")
    if as_json:
        print_json(
            {
                "phenotypes": [asdict(r) for r in results.values()],
                "insights": [asdict(i) for i in insights],
                "undetermined": undetermined,
                "rule_table": {"id": rules.id, "version": rules.version},
            }
        )
        return
    for result in results.values():
        score = "" if result.activity_score is None else f", activity score {result.activity_score:g}"
        console.print(f"[bold]{result.gene} {result.diplotype}[/bold]: {result.phenotype}{score}")
    for insight in insights:
        colour = {"critical": "red", "warning": "yellow"}.get(insight.severity.value, "green")
        console.print(f"\n[{colour}]{insight.severity.value.upper()}[/{colour}] {insight.title}")
        console.print(insight.detail)
        for action in insight.actions:
            console.print(f"  proposed (draft): {action['medicationCodeableConcept']['text']}")
    for skipped in undetermined:
        console.print(f"\n[dim]{skipped['drug']}: no recommendation ({skipped['reason']})[/dim]")
    console.print(f"\nrules {rules.id} {rules.version}")
