"""Per-patient GRCh38 VCF 4.2 files at the positions of the CPIC allele definitions.

The allele definitions are read at run time from the PharmCAT translation tables
(``<reference_data>/pharmcat/main/definition/alleles/<GENE>_translation.json``); nothing is copied. For each
of the two alleles of a diplotype, the positions where that named allele differs from the reference sequence
get the allele's base; every other defined position is written homozygous reference. Genotypes are unphased.
Hand-written because writing a fixed set of SNV/indel records needs no VCF library (pysam would add a C
dependency for a text format this small). Structural alleles (CYP2D6 *5, the gene deletion) have no position
in the tables and are not written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from carepilot.synth.genomics import PGX_GENES, Genotypes, gene_table

CHROM_ORDER = {f"chr{k}": k for k in range(1, 23)} | {"chrX": 23, "chrY": 24}
IUPAC_AMBIGUOUS = set("RYSWKMBDHVN")


@dataclass
class GeneSites:
    """One gene's defined positions and, per named allele, the VCF allele it carries where it differs."""

    gene: str
    chrom: str
    positions: list[int]
    ids: list[str]
    refs: list[str]
    alts: list[list[str]]
    allele_sites: dict[str, dict[int, str]]  # pharmcat allele name -> {site index: VCF allele}


def translation_folder(reference_data: Path) -> Path:
    """Where the PharmCAT allele definition tables live under the reference data."""
    return reference_data / "pharmcat" / "main" / "definition" / "alleles"


def load_gene_sites(folder: Path, gene: str) -> GeneSites:
    """Parse one ``<GENE>_translation.json`` into the positions and per-allele differences."""
    data = orjson.loads((folder / f"{gene}_translation.json").read_bytes())
    variants = data["variants"]
    reference = next(a for a in data["namedAlleles"] if a.get("reference"))
    ref_alleles = reference["alleles"]
    allele_sites: dict[str, dict[int, str]] = {}
    for named in data["namedAlleles"]:
        sites: dict[int, str] = {}
        for k, value in enumerate(named["alleles"]):
            if value is None or value == ref_alleles[k]:
                continue
            if len(value) == 1 and value in IUPAC_AMBIGUOUS:
                continue  # an ambiguity code means "either": not definitional for this allele
            mapping = variants[k].get("cpicToVcfAlleleMap") or {}
            sites[k] = mapping.get(value, value)
        allele_sites[named["name"]] = sites
    return GeneSites(
        gene=gene,
        chrom=data["chromosome"],
        positions=[int(v["position"]) for v in variants],
        ids=[v.get("rsid") or "." for v in variants],
        refs=[v["ref"] for v in variants],
        alts=[list(v.get("alts") or []) for v in variants],
        allele_sites=allele_sites,
    )


def load_all_sites(reference_data: Path) -> list[GeneSites] | None:
    """Sites of every pharmacogene, or None when the translation tables are absent."""
    folder = translation_folder(reference_data)
    if not all((folder / f"{g}_translation.json").is_file() for g in PGX_GENES):
        return None
    return [load_gene_sites(folder, g) for g in PGX_GENES]


def _genotype(sites: GeneSites, k: int, first: str | None, second: str | None) -> tuple[str, list[str]]:
    alts = sites.alts[k]
    ref = sites.refs[k]
    indices = []
    for allele in (first, second):
        if allele is None or allele == ref:
            indices.append(0)
            continue
        if allele not in alts:
            alts = [*alts, allele]
        indices.append(alts.index(allele) + 1)
    indices.sort()
    return f"{indices[0]}/{indices[1]}", alts


def vcf_text(sample: str, gene_sites: list[GeneSites], alleles: dict[str, tuple[str, str]]) -> str:
    """The VCF of one sample; ``alleles``: gene -> two PharmCAT allele names ('' = not representable)."""
    header = [
        "##fileformat=VCFv4.2",
        "##source=carepilot-synth",
        "##reference=GRCh38",
        *sorted(
            {f"##contig=<ID={s.chrom},assembly=GRCh38>" for s in gene_sites},
            key=lambda x: CHROM_ORDER.get(x.split("=")[2].split(",")[0], 99),
        ),
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}",
    ]
    records: list[tuple[int, int, str]] = []
    for sites in gene_sites:
        a_name, b_name = alleles[sites.gene]
        a_sites = sites.allele_sites.get(a_name, {})
        b_sites = sites.allele_sites.get(b_name, {})
        chrom_rank = CHROM_ORDER.get(sites.chrom, 99)
        for k, pos in enumerate(sites.positions):
            gt, alts = _genotype(sites, k, a_sites.get(k), b_sites.get(k))
            alt = ",".join(alts) or "."
            line = f"{sites.chrom}\t{pos}\t{sites.ids[k]}\t{sites.refs[k]}\t{alt}\t.\tPASS\t.\tGT\t{gt}"
            records.append((chrom_rank, pos, line))
    records.sort()
    return "\n".join(header + [r[2] for r in records]) + "\n"


def patient_alleles(genotypes: Genotypes, i: int) -> dict[str, tuple[str, str]]:
    """PharmCAT allele names of person ``i`` per gene."""
    out = {}
    for gene in PGX_GENES:
        table = gene_table(gene)["alleles"]
        out[gene] = (
            table[genotypes.first[gene][i]]["pharmcat"],
            table[genotypes.second[gene][i]]["pharmcat"],
        )
    return out


def write_vcfs(
    out: Path, patient_ids: list[str], indices: list[int], genotypes: Genotypes, gene_sites: list[GeneSites]
) -> int:
    """Write ``out/vcf/<patient_id>.vcf`` for each patient; returns the number of files."""
    folder = out / "vcf"
    folder.mkdir(parents=True, exist_ok=True)
    for pid, i in zip(patient_ids, indices, strict=True):
        (folder / f"{pid}.vcf").write_text(vcf_text(pid, gene_sites, patient_alleles(genotypes, i)))
    return len(patient_ids)
