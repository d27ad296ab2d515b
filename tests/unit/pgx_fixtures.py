"""Synthetic pharmacogene definitions and VCF text for the pgx unit tests (no reference data needed)."""

from __future__ import annotations

from typing import Any

from carepilot.knowledge.pgx.alleles import Exemption, GeneDefinition, parse_definition
from carepilot.knowledge.pgx.vcf import VcfGenotypes, parse_vcf

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,assembly=GRCh38>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)


def vcf(*records: str, header: str = HEADER) -> VcfGenotypes:
    """Genotypes from records written as 'POS REF ALT GT' (chr1), or full tab-separated lines."""
    lines = []
    for record in records:
        if "\t" in record:
            lines.append(record)
            continue
        pos, ref, alt, gt = record.split()
        lines.append(f"chr1\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t.\tGT\t{gt}")
    return parse_vcf((header + "\n".join(lines) + "\n").splitlines(), source="test.vcf")


def definition(
    gene: str,
    loci: list[tuple[int, str, list[str]]],
    alleles: dict[str, list[str | None]],
    exemption: Exemption | None = None,
) -> GeneDefinition:
    """A gene definition in the translation-file shape; the first allele is the reference."""
    raw: dict[str, Any] = {
        "gene": gene,
        "chromosome": "chr1",
        "version": "synthetic",
        "variants": [
            {"chromosome": "chr1", "position": pos, "rsid": f"rs{pos}", "ref": ref, "alts": alts}
            for pos, ref, alts in loci
        ],
        "namedAlleles": [
            {"name": name, "alleles": values, "reference": i == 0} for i, (name, values) in enumerate(alleles.items())
        ],
    }
    return parse_definition(raw, exemption)


# GENE1: three SNVs. *4 carries both *2's and *3's variants, the classic phase ambiguity.
GENE1 = definition(
    "GENE1",
    [(100, "A", ["T"]), (200, "C", ["T", "G"]), (300, "G", ["A"])],
    {
        "*1": ["A", "C", "G"],
        "*2": ["T", None, None],
        "*3": [None, "T", None],
        "*4": ["T", "T", None],
        "*5": [None, None, "A"],
        "*6": [None, "G", None],
    },
)
