"""One sample's pharmacogenomic report: the VCF call per gene with its phenotype, plus outside calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from carepilot.domain.profile import Measurement
from carepilot.errors import UnreadableInputError
from carepilot.knowledge.pgx.caller import Diplotype, GeneCall, call_genes
from carepilot.knowledge.pgx.catalog import PgxCatalog
from carepilot.knowledge.pgx.phenotype import GenePhenotype, combined, phenotype_for_call
from carepilot.knowledge.pgx.record import genotype_measurement
from carepilot.knowledge.pgx.vcf import VcfGenotypes


@dataclass(frozen=True)
class GeneResult:
    gene: str
    call: GeneCall
    phenotypes: tuple[GenePhenotype, ...]

    @property
    def phenotype(self) -> GenePhenotype:
        return combined(list(self.phenotypes))

    def as_dict(self) -> dict[str, object]:
        summary = self.phenotype
        return {
            "gene": self.gene,
            "called": self.call.called,
            "source": self.call.source,
            "diplotypes": [d.name for d in self.call.diplotypes],
            "score": self.call.diplotypes[0].score if self.call.diplotypes else None,
            "candidates": [{"diplotype": d.name, "score": d.score} for d in self.call.candidates[:20]],
            "phenotype": summary.phenotype,
            "activity_score": summary.activity_score,
            "phenotype_diplotype": summary.lookup_diplotype,
            "phased": self.call.phased,
            "missing_positions": list(self.call.missing_positions),
            "uncallable_alleles": list(self.call.uncallable_alleles),
            "observed_variants": list(self.call.observed_variants),
            "reason": self.call.reason,
            "warnings": list(self.call.warnings),
        }


def outside_call(gene: str, diplotype: str) -> GeneCall:
    """A diplotype called elsewhere (CYP2D6 caller, lab report) in the form the report uses."""
    parts = diplotype.split("/")
    allele2 = parts[1].strip() if len(parts) > 1 else None
    return GeneCall(
        gene=gene,
        called=True,
        diplotypes=(Diplotype(parts[0].strip(), allele2, 0),),
        source="outside",
    )


def read_outside_calls(path: Path) -> dict[str, str]:
    """Read an outside-call TSV (``GENE<TAB>DIPLOTYPE`` per line, ``#`` comments), as the reference tool."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UnreadableInputError(f"cannot read outside calls {path.name}: {exc}") from exc
    out: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise UnreadableInputError(f"{path.name} line {number}: expected GENE<TAB>DIPLOTYPE")
        out[fields[0].strip()] = fields[1].strip()
    return out


def interpret(
    catalog: PgxCatalog, genotypes: VcfGenotypes, outside: dict[str, str] | None = None
) -> dict[str, GeneResult]:
    """Call every defined gene from the VCF, then translate each call (outside calls replace VCF calls)."""
    calls = call_genes(catalog.definitions, genotypes)
    for gene, diplotype in (outside or {}).items():
        calls[gene] = outside_call(gene, diplotype)
    out: dict[str, GeneResult] = {}
    for gene in sorted(calls):
        call = calls[gene]
        table = catalog.tables.get(gene)
        out[gene] = GeneResult(gene, call, tuple(phenotype_for_call(table, call)))
    return out


def as_measurements(results: dict[str, GeneResult], sample: str, effective: datetime | None) -> list[Measurement]:
    """``pgx_genotype`` Measurements for the unambiguous calls, so a VCF result reaches the PatientProfile.

    Ambiguous and uncalled genes are left out: an order check must not act on a guess.
    """
    out: list[Measurement] = []
    for gene, result in sorted(results.items()):
        call = result.call
        if not call.called or call.ambiguous or call.source == "outside":
            continue
        summary = result.phenotype
        diplotype = summary.lookup_diplotype or call.diplotypes[0].name
        if "/" not in diplotype and not diplotype.startswith("rs"):
            continue
        out.append(genotype_measurement(f"vcf-{sample}-{gene}", f"{gene} {diplotype}", effective))
    return out


def positions_of_interest(catalog: PgxCatalog) -> set[tuple[str, int]]:
    """Every allele-defining position of every gene, for reading only those sites from a large VCF."""
    return {(locus.chromosome, locus.position) for d in catalog.definitions.values() for locus in d.loci}
