"""Diplotype calling on synthetic definitions: scoring, phase, missing positions, special cases."""

from __future__ import annotations

from carepilot.knowledge.pgx.alleles import Exemption
from carepilot.knowledge.pgx.caller import allele_sort_key, call_gene
from tests.unit.pgx_fixtures import GENE1, definition, vcf

ALL_REF = ("100 A T 0/0", "200 C T,G 0/0", "300 G A 0/0")


def test_all_reference_calls_the_reference_pair_with_full_score():
    call = call_gene(GENE1, vcf(*ALL_REF))
    assert call.called and call.diplotype_names == ("*1/*1",)
    assert call.diplotypes[0].score == 6
    assert call.missing_positions == ()


def test_homozygous_variant_calls_the_specific_allele():
    call = call_gene(GENE1, vcf("100 A T 1/1", "200 C T,G 0/0", "300 G A 0/0"))
    assert call.diplotype_names == ("*2/*2",)


def test_unphased_heterozygous_sites_give_every_compatible_diplotype_ranked():
    call = call_gene(GENE1, vcf("100 A T 0/1", "200 C T,G 0/1", "300 G A 0/0"))
    names = [d.name for d in call.candidates]
    assert names[0] == "*1/*4"
    assert "*2/*3" in names
    # The more specific *1/*4 (6 + 2 defined positions) outranks *2/*3 (1 + 1) and is the call.
    assert call.diplotype_names == ("*1/*4",)
    assert call.candidates[0].score > next(d.score for d in call.candidates if d.name == "*2/*3")
    assert not call.phased


def test_phased_heterozygous_sites_on_opposite_strands_give_one_diplotype():
    call = call_gene(GENE1, vcf("100 A T 1|0", "200 C T,G 0|1", "300 G A 0|0"))
    assert call.phased
    assert [d.name for d in call.candidates] == ["*2/*3"]


def test_phased_heterozygous_sites_on_the_same_strand_call_the_combined_allele():
    call = call_gene(GENE1, vcf("100 A T 1|0", "200 C T,G 1|0", "300 G A 0|0"))
    assert call.diplotype_names == ("*1/*4",)
    assert "*2/*3" not in [d.name for d in call.candidates]


def test_multi_allelic_site_uses_the_alt_named_by_gt():
    call = call_gene(GENE1, vcf("100 A T 0/0", "200 C T,G 0/2", "300 G A 0/0"))
    assert call.diplotype_names == ("*1/*6",)


def test_missing_position_is_reported_and_alleles_defined_only_there_are_uncallable():
    call = call_gene(GENE1, vcf("100 A T 0/0", "200 C T,G 0/0"))
    assert call.called
    assert call.missing_positions == ("chr1:300 (rs300)",)
    assert "*5" in call.uncallable_alleles
    assert call.diplotype_names == ("*1/*1",)
    assert call.diplotypes[0].score == 4  # only the two positions seen count


def test_no_call_is_reported_as_missing_and_not_read_as_reference():
    call = call_gene(GENE1, vcf("100 A T ./.", "200 C T,G 0/1", "300 G A 0/0"))
    assert call.missing_positions == ("chr1:100 (rs100) (no-call)",)
    names = {d.name for d in call.candidates}
    # Without position 100, *3 and *4 cannot be told apart: both stay candidates.
    assert {"*1/*3", "*1/*4"} <= names


def test_gene_with_no_data_is_not_called():
    call = call_gene(GENE1, vcf("999 A T 0/1"))
    assert not call.called
    assert call.reason is not None and "no genotype" in call.reason
    assert len(call.missing_positions) == 3


def test_undocumented_allele_makes_the_gene_not_called():
    call = call_gene(GENE1, vcf("100 A C 0/1", "200 C T,G 0/0", "300 G A 0/0"))
    assert not call.called
    assert call.reason is not None and "not in any definition" in call.reason


def test_undocumented_allele_is_read_as_reference_for_toxicity_genes():
    tpmt = definition("TPMT", [(100, "A", ["T"])], {"*1": ["A"], "*2": ["T"]})
    call = call_gene(tpmt, vcf("100 A C 0/1"))
    assert call.called and call.diplotype_names == ("*1/*1",)
    assert any("undocumented" in w for w in call.warnings)


def test_no_matching_pair_is_not_called_rather_than_guessed():
    call = call_gene(GENE1, vcf("100 A T 1/1", "200 C T,G 1/1", "300 G A 1/1"))
    # *2+*3+*5 variants on both strands: no two defined alleles explain it.
    assert not call.called
    assert call.reason is not None and "no pair" in call.reason


def test_reference_block_counts_as_reference():
    block = "chr1\t50\t.\tN\t<NON_REF>\t.\tPASS\tEND=400\tGT\t0/0"
    call = call_gene(GENE1, vcf(block))
    assert call.diplotype_names == ("*1/*1",)


def test_wobble_definition_matches_either_base_but_scores_less_on_reference():
    gene = definition(
        "GENE2",
        [(100, "A", ["G"]), (200, "C", ["T"])],
        {"*1": ["A", "C"], "*2": ["R", "T"]},
    )
    call = call_gene(gene, vcf("100 A G 0/0", "200 C T 1/1"))
    assert call.diplotype_names == ("*2/*2",)
    assert call.diplotypes[0].score == 2  # the R at 100 adds nothing when the sample is reference there
    variant = call_gene(gene, vcf("100 A G 1/1", "200 C T 1/1"))
    assert variant.diplotype_names == ("*2/*2",) and variant.diplotypes[0].score == 4


def test_haploid_sample_gives_a_single_allele():
    call = call_gene(GENE1, vcf("100 A T 1", "200 C T,G 0", "300 G A 0"))
    assert call.diplotype_names == ("*2",)


def test_cyp2d6_is_left_to_an_outside_call():
    cyp2d6 = definition("CYP2D6", [(100, "A", ["T"])], {"*1": ["A"], "*4": ["T"]})
    call = call_gene(cyp2d6, vcf("100 A T 0/1"))
    assert not call.called and call.source == "outside"


def test_missing_required_position_blocks_the_call():
    gene = definition(
        "NAT2",
        [(100, "A", ["T"]), (200, "C", ["T"])],
        {"*4": ["A", "C"], "*5": ["T", None]},
        Exemption(required_positions=frozenset({200})),
    )
    call = call_gene(gene, vcf("100 A T 0/1"))
    assert not call.called and call.reason is not None and "required" in call.reason


def test_unphased_priority_list_breaks_a_tie():
    tie = definition(
        "GENE3",
        [(100, "A", ["T"]), (200, "C", ["T"])],
        {"*1": ["A", "C"], "*2": ["T", "C"], "*3": ["A", "T"], "*4": ["T", "T"]},
        Exemption(unphased_priorities=((frozenset({"*1/*4", "*2/*3"}), "*2/*3"),)),
    )
    call = call_gene(tie, vcf("100 A T 0/1", "200 C T 0/1"))
    assert call.diplotype_names == ("*2/*3",)
    assert len(call.candidates) == 2


def test_dpyd_lists_every_variant_when_more_than_two_are_unphased():
    dpyd = definition(
        "DPYD",
        [(100, "A", ["T"]), (200, "C", ["T"]), (300, "G", ["A"])],
        {
            "Reference": ["A", "C", "G"],
            "c.1A>T": ["T", None, None],
            "c.2C>T": [None, "T", None],
            "c.3G>A": [None, None, "A"],
        },
    )
    call = call_gene(dpyd, vcf("100 A T 0/1", "200 C T 0/1", "300 G A 0/1"))
    assert call.called
    assert sorted(call.variant_alleles) == ["c.1A>T", "c.2C>T", "c.3G>A"]
    single = call_gene(dpyd, vcf("100 A T 0/1", "200 C T 0/0", "300 G A 0/0"))
    assert single.diplotype_names == ("Reference/c.1A>T",)


def test_slco1b1_falls_back_to_rs4149056_when_no_star_allele_fits():
    slco = definition(
        "SLCO1B1",
        [(21178615, "T", ["C"]), (300, "G", ["A"])],
        {"*1": ["T", "G"], "*5": ["C", None]},
    )
    call = call_gene(slco, vcf("chr1\t21178615\t.\tT\tC\t.\tPASS\t.\tGT\t0/1", "300 G A 1/1"))
    assert call.called and call.diplotype_names == ("rs4149056 T/C",)


def test_allele_names_sort_naturally_as_diplotypes_are_written():
    assert sorted(["*10", "*2", "*1"], key=allele_sort_key) == ["*1", "*2", "*10"]
    assert sorted(["*38", "*2"], key=allele_sort_key) == ["*2", "*38"]
    assert allele_sort_key("Reference") < allele_sort_key("c.1A>T")


def test_equal_scores_without_a_priority_rule_leave_the_call_ambiguous():
    tie = definition(
        "GENE4",
        [(100, "A", ["T"]), (200, "C", ["T"])],
        {"*1": ["A", "C"], "*2": ["T", "C"], "*3": ["A", "T"], "*4": ["T", "T"]},
    )
    call = call_gene(tie, vcf("100 A T 0/1", "200 C T 0/1"))
    assert call.ambiguous
    assert set(call.diplotype_names) == {"*1/*4", "*2/*3"}
