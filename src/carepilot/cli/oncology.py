"""``carepilot oncology match``: standard-of-care therapy and CIViC evidence for a tumour biomarker."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from carepilot.bootstrap import open_store
from carepilot.cli.console import console, err_console, print_json, settings
from carepilot.cli.serialise import plain
from carepilot.domain.insight import Declined
from carepilot.errors import InputError
from carepilot.knowledge.oncology import (
    CivicKnowledgeBase,
    VariantMatch,
    load_civic,
    match_biomarker,
    oncology_insights,
    parse_biomarker,
    soc_table,
    summarise_civic,
    tumor_key,
)
from carepilot.store.profiles import load_profile


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Precision oncology: tumour biomarker -> therapy.", no_args_is_help=True)
    group.command(
        "match",
        help="Therapy evidence for a patient's tumour variants, or for GENE:CHANGE biomarkers in a tumour type.",
    )(match)
    app.add_typer(group, name="oncology")


def _civic(use: bool) -> CivicKnowledgeBase | None:
    if not use:
        return None
    folder = settings().reference_data / "civic_2018"
    if not folder.exists():
        err_console.print(f"CIViC data not found at {folder}; showing the standard-of-care table only")
        return None
    return load_civic(folder)


def _as_json(result: VariantMatch, civic: CivicKnowledgeBase | None) -> dict[str, Any]:
    def pair(p: Any) -> dict[str, Any]:
        return {
            "id": p.id,
            "tumor": p.tumor,
            "therapy": p.therapy,
            "line": p.line,
            "significance": p.significance,
            "level": p.level,
            "citation": p.citation,
        }

    def hits(rows: Any) -> list[dict[str, Any]]:
        return [
            {
                "evidence_id": h.item.evidence_id,
                "variant": h.item.variant_name,
                "match": h.match,
                "disease": h.item.disease,
                "drugs": list(h.item.drugs),
                "level": h.item.level,
                "direction": h.item.direction,
                "significance": h.item.significance,
                "pubmed_id": h.item.pubmed_id,
            }
            for h in rows
        ]

    return {
        "input": result.biomarker.text,
        "gene": result.biomarker.gene,
        "variant": result.biomarker.variant,
        "tumor": result.tumor,
        "standard_of_care": [pair(p) for p in result.soc],
        "standard_of_care_other_tumor_types": [pair(p) for p in result.soc_other_tumors],
        "civic_version": civic.version if civic else None,
        "civic_on_label": hits(result.civic_on_label),
        "civic_other_tumor_types": hits(result.civic_other),
    }


def _match_patient(patient_id: str, json_out: bool, civic: CivicKnowledgeBase | None) -> None:
    """Oncology Insights for the tumour variants and cancer diagnoses in one patient's record."""
    _, repo = open_store(settings())
    profile = load_profile(repo, patient_id)
    results = oncology_insights(profile, civic=civic)
    if json_out:
        print_json(plain(results))
        return
    if not results:
        console.print(f"No tumour variants or supported cancer diagnoses in the record of patient {patient_id}.")
    for item in results:
        if isinstance(item, Declined):
            console.print(f"[dim]not answered: {item.reason}[/dim]")
            continue
        console.rule(item.title)
        console.print(item.detail)
        console.print(
            f"[dim]confidence: {item.confidence.statement} · source {item.source.id} {item.source.version}[/dim]"
        )


def match(
    patient_id: Annotated[
        str | None, typer.Argument(help="Patient id: match the tumour variants in the patient's record.")
    ] = None,
    variant: Annotated[
        list[str] | None, typer.Option("--variant", "-v", help="GENE:CHANGE, e.g. EGFR:L858R (repeatable).")
    ] = None,
    tumor: Annotated[
        str | None, typer.Option("--tumor", "-t", help="nsclc | breast_cancer | colorectal_cancer.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    use_civic: Annotated[bool, typer.Option("--civic/--no-civic", help="Add CIViC evidence (reference data).")] = True,
) -> None:
    if patient_id is not None:
        if variant or tumor:
            raise InputError("give either a PATIENT_ID or --variant with --tumor, not both")
        _match_patient(patient_id, json_out, _civic(use_civic))
        return
    if not variant or not tumor:
        raise InputError("give a PATIENT_ID, or one or more --variant GENE:CHANGE with --tumor TYPE")
    table = soc_table()
    key = tumor_key(tumor, table)
    civic = _civic(use_civic)
    results = [match_biomarker(parse_biomarker(v), key, table=table, civic=civic) for v in variant]
    if json_out:
        print_json([_as_json(r, civic) for r in results])
        return
    display = table.tumor_types[key].display
    for r in results:
        b = r.biomarker
        console.rule(f"{b.gene} {b.variant} in {display}")
        if r.soc:
            grid = Table(title="Standard of care (this tumour type)")
            for col in ("therapy", "line", "significance", "level"):
                grid.add_column(col)
            for p in r.soc:
                grid.add_row(p.therapy, p.line, p.significance, p.level)
            console.print(grid)
            for p in r.soc:
                console.print(f"  {p.id}: {p.citation}")
        else:
            console.print("No standard-of-care pair in the curated table for this tumour type.")
        for p in r.soc_other_tumors:
            console.print(f"  other tumour type (off-label here): {table.tumor_types[p.tumor].display}: {p.therapy}")
        if civic is not None:
            on = summarise_civic(r.civic_on_label)
            console.print(
                f"CIViC ({civic.version}): {len(r.civic_on_label)} items in this tumour type, "
                f"{len(r.civic_other)} in others"
            )
            for drugs, sig, level, n in on[:8]:
                console.print(f"  {drugs}: {sig}, best level {level} ({n} items)")
