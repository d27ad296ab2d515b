"""VCF writing from allele definition tables, on a small made-up table of the PharmCAT translation shape."""

from __future__ import annotations

from pathlib import Path

import orjson

from carepilot.synth.vcf import load_gene_sites, vcf_text

# A made-up gene with three positions: an SNV, an indel written through cpicToVcfAlleleMap, and a position
# where one allele carries an IUPAC ambiguity code (not definitional).
TABLE = {
    "gene": "GENEX",
    "chromosome": "chr7",
    "variants": [
        {
            "position": 100,
            "rsid": "rs1",
            "ref": "A",
            "alts": ["G"],
            "cpicToVcfAlleleMap": {"A": "A", "G": "G"},
        },
        {
            "position": 200,
            "rsid": "rs2",
            "ref": "CT",
            "alts": ["C"],
            "cpicToVcfAlleleMap": {"T": "CT", "delT": "C"},
        },
        {
            "position": 300,
            "rsid": None,
            "ref": "G",
            "alts": ["T"],
            "cpicToVcfAlleleMap": {"G": "G", "T": "T"},
        },
    ],
    "namedAlleles": [
        {"name": "*1", "reference": True, "alleles": ["A", "T", "G"]},
        {"name": "*2", "reference": False, "alleles": ["G", None, "K"]},
        {"name": "*3", "reference": False, "alleles": [None, "delT", "T"]},
    ],
}


def _sites(tmp_path: Path):
    (tmp_path / "GENEX_translation.json").write_bytes(orjson.dumps(TABLE))
    return load_gene_sites(tmp_path, "GENEX")


def test_each_allele_sets_only_its_defining_positions(tmp_path: Path) -> None:
    sites = _sites(tmp_path)
    assert sites.allele_sites["*1"] == {}
    assert sites.allele_sites["*2"] == {0: "G"}  # the ambiguity code K at position 300 is not definitional
    assert sites.allele_sites["*3"] == {1: "C", 2: "T"}  # delT written as the VCF allele C


def test_genotypes_are_unphased_and_sorted(tmp_path: Path) -> None:
    sites = _sites(tmp_path)
    text = vcf_text("p1", [sites], {"GENEX": ("*2", "*3")})
    body = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
    assert [(r[1], r[3], r[4], r[9]) for r in body] == [
        ("100", "A", "G", "0/1"),
        ("200", "CT", "C", "0/1"),
        ("300", "G", "T", "0/1"),
    ]
    homozygous = vcf_text("p2", [sites], {"GENEX": ("*3", "*3")})
    assert "chr7\t200\trs2\tCT\tC\t.\tPASS\t.\tGT\t1/1" in homozygous
    assert "chr7\t300\t.\tG\tT\t.\tPASS\t.\tGT\t1/1" in homozygous
    assert homozygous.startswith("##fileformat=VCFv4.2\n")
    assert "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tp2" in homozygous


def test_an_allele_missing_from_the_table_reads_as_reference(tmp_path: Path) -> None:
    sites = _sites(tmp_path)
    text = vcf_text("p3", [sites], {"GENEX": ("", "*1")})
    assert all(line.endswith("0/0") for line in text.splitlines() if not line.startswith("#"))
