"""The VCF reader: genotype forms, no-calls, multi-allelic sites, reference blocks, gzip, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from carepilot.errors import InputError, UnreadableInputError
from carepilot.knowledge.pgx.vcf import VcfFormatError, normalise_chromosome, parse_vcf, read_vcf
from tests.unit.pgx_fixtures import HEADER, vcf


def test_unphased_and_phased_genotypes_keep_their_phase_flag():
    genotypes = vcf("100 A T 0/1", "200 C T 1|0")
    unphased = genotypes.at("chr1", 100, "A")
    phased = genotypes.at("chr1", 200, "C")
    assert unphased is not None and unphased.alleles == ("A", "T") and not unphased.phased
    assert phased is not None and phased.alleles == ("T", "C") and phased.phased


def test_multi_allelic_alt_is_indexed_from_ref():
    call = vcf("200 C T,G 1/2").at("chr1", 200, "C")
    assert call is not None and call.alleles == ("T", "G")


def test_no_call_is_recorded_as_missing_not_as_reference():
    genotypes = vcf("100 A T ./.", "200 C T ./1")
    assert genotypes.at("chr1", 100, "A") is None
    assert genotypes.is_no_call("chr1", 100)
    assert genotypes.at("chr1", 200, "C") is None
    assert any("partial no-call" in w for w in genotypes.warnings)


def test_absent_position_is_none():
    assert vcf("100 A T 0/0").at("chr1", 999, "G") is None


def test_reference_block_covers_positions_inside_it():
    block = "chr1\t150\t.\tA\t<NON_REF>\t.\tPASS\tEND=250\tGT\t0/0"
    genotypes = vcf(block)
    inside = genotypes.at("chr1", 200, "C")
    assert inside is not None and inside.alleles == ("C", "C") and inside.from_reference_block
    assert genotypes.at("chr1", 251, "C") is None


def test_haploid_genotype_has_one_allele():
    call = vcf("100 A T 1").at("chr1", 100, "A")
    assert call is not None and call.alleles == ("T",)


def test_chromosome_names_without_chr_prefix_are_normalised():
    assert normalise_chromosome("10") == "chr10"
    assert normalise_chromosome("x") == "chrX"
    assert normalise_chromosome("MT") == "chrM"
    line = "1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t0/1"
    assert vcf(line).at("chr1", 100, "A") is not None


def test_gzip_file_is_read(tmp_path: Path):
    path = tmp_path / "s.vcf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(HEADER + "chr1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t1/1\n")
    call = read_vcf(path).at("chr1", 100, "A")
    assert call is not None and call.alleles == ("T", "T")


def test_named_sample_column_is_selected():
    header = HEADER.replace("\tS1\n", "\tS1\tS2\n")
    genotypes = parse_vcf((header + "chr1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t0/0\t1/1\n").splitlines(), sample="S2")
    call = genotypes.at("chr1", 100, "A")
    assert genotypes.sample == "S2" and call is not None and call.alleles == ("T", "T")


def test_unknown_sample_name_is_an_input_error():
    with pytest.raises(InputError, match="sample 'nobody' not found"):
        parse_vcf(HEADER.splitlines(), sample="nobody")


def test_grch37_vcf_is_refused():
    header = HEADER.replace("assembly=GRCh38", "assembly=GRCh37")
    with pytest.raises(VcfFormatError, match="GRCh38"):
        parse_vcf(header.splitlines())


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("chr1\tabc\t.\tA\tT\t.\tPASS\t.\tGT\t0/1", "POS"),
        ("chr1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t0/5", "not in REF/ALT"),
        ("chr1\t100\t.\tA\tT\t.\tPASS\t.\tDP\t7", "no GT"),
        ("chr1\t100\t.\tA", "columns"),
    ],
)
def test_malformed_lines_name_the_line(record: str, message: str):
    with pytest.raises(VcfFormatError, match=message):
        vcf(record)


def test_text_without_header_is_refused():
    with pytest.raises(VcfFormatError, match="header"):
        parse_vcf(["chr1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t0/1"])


def test_missing_file_is_unreadable(tmp_path: Path):
    with pytest.raises(UnreadableInputError):
        read_vcf(tmp_path / "absent.vcf")


def test_polyploid_call_is_treated_as_missing():
    genotypes = vcf("100 A T 0/1/1")
    assert genotypes.at("chr1", 100, "A") is None
    assert any("treated as missing" in w for w in genotypes.warnings)


def test_positions_filter_keeps_only_wanted_sites_and_reference_blocks():
    text = (
        HEADER
        + "chr1\t100\t.\tA\tT\t.\tPASS\t.\tGT\t0/1\n"
        + "chr1\t200\t.\tC\tT\t.\tPASS\t.\tGT\t1/1\n"
        + "chr1\t300\t.\tG\t<NON_REF>\t.\tPASS\tEND=400\tGT\t0/0\n"
    )
    genotypes = parse_vcf(text.splitlines(), positions={("1", 200)})
    assert genotypes.at("chr1", 100, "A") is None
    assert genotypes.at("chr1", 200, "C") is not None
    assert genotypes.at("chr1", 350, "G") is not None
