"""Diplotype -> phenotype translation on synthetic tables and the built-in CYP2D6 activity table."""

from __future__ import annotations

import pytest

from carepilot.errors import InputError
from carepilot.knowledge.pgx.caller import Diplotype, GeneCall
from carepilot.knowledge.pgx.guidance import rule_table
from carepilot.knowledge.pgx.phenotype import (
    INDETERMINATE,
    NOT_CALLED,
    combined,
    parse_phenotype_table,
    phenotype_for_call,
    split_diplotype,
    translate,
)

CYP2C19 = parse_phenotype_table(
    {
        "gene": "CYP2C19",
        "version": "synthetic",
        "namedAlleles": [
            {"name": "*1", "functionValue": "Normal function"},
            {"name": "*2", "functionValue": "No function"},
            {"name": "*17", "functionValue": "Increased function"},
            {"name": "*99", "functionValue": "No function"},
        ],
        "diplotypes": [
            {"diplotype": "*1/*1", "diplotypekey": {"*1": 2}, "phenotype": "Normal Metabolizer"},
            {
                "diplotype": "*1/*2",
                "diplotypekey": {"*1": 1, "*2": 1},
                "phenotype": "Intermediate Metabolizer",
            },
            {"diplotype": "*2/*2", "diplotypekey": {"*2": 2}, "phenotype": "Poor Metabolizer"},
        ],
    }
)

DPYD = parse_phenotype_table(
    {
        "gene": "DPYD",
        "version": "synthetic",
        "namedAlleles": [
            {"name": "Reference", "activityValue": "1.0", "functionValue": "Normal function"},
            {"name": "c.1A>T", "activityValue": "0.0", "functionValue": "No function"},
            {"name": "c.2C>T", "activityValue": "0.5", "functionValue": "Decreased function"},
            {"name": "c.3G>A", "activityValue": "1.0", "functionValue": "Normal function"},
        ],
        "diplotypes": [
            {"diplotypekey": {"Reference": 2}, "phenotype": "Normal Metabolizer", "activityScore": "2.0"},
            {
                "diplotypekey": {"Reference": 1, "c.2C>T": 1},
                "phenotype": "Intermediate Metabolizer",
                "activityScore": "1.5",
            },
            {
                "diplotypekey": {"c.1A>T": 1, "c.2C>T": 1},
                "phenotype": "Poor Metabolizer",
                "activityScore": "0.5",
            },
            {
                "diplotypekey": {"Reference": 1, "c.1A>T": 1},
                "phenotype": "Intermediate Metabolizer",
                "activityScore": "1.0",
            },
        ],
    }
)


def test_listed_diplotype_takes_its_row_in_either_order():
    assert translate(CYP2C19, "CYP2C19", "*2/*2").phenotype == "Poor Metabolizer"
    assert translate(CYP2C19, "CYP2C19", "*2/*1").phenotype == "Intermediate Metabolizer"


def test_unlisted_diplotype_is_translated_from_allele_functions():
    result = translate(CYP2C19, "CYP2C19", "*99/*99")
    assert result.phenotype == "Poor Metabolizer"
    assert result.note == "translated from the allele functions"


def test_unknown_allele_is_indeterminate_not_guessed():
    assert translate(CYP2C19, "CYP2C19", "*1/*1000").phenotype == INDETERMINATE


def test_activity_score_gene_gives_score_and_phenotype():
    result = translate(DPYD, "DPYD", "Reference/c.2C>T")
    assert result.phenotype == "Intermediate Metabolizer" and result.activity_score == 1.5


@pytest.mark.parametrize(
    ("diplotype", "phenotype", "score"),
    [
        ("*1/*1", "Normal Metabolizer", 2.0),
        ("*1/*4", "Intermediate Metabolizer", 1.0),
        ("*4/*4", "Poor Metabolizer", 0.0),
        ("*1/*1x2", "Ultrarapid Metabolizer", 3.0),
        ("*1/*41", "Normal Metabolizer", 1.5),
        ("*10/*10", "Intermediate Metabolizer", 0.5),
    ],
)
def test_cyp2d6_activity_score_bins(diplotype: str, phenotype: str, score: float):
    table = rule_table().activity_tables["CYP2D6"]
    result = translate(table, "CYP2D6", diplotype)
    assert (result.phenotype, result.activity_score) == (phenotype, score)


def test_cyp2d6_allele_without_activity_value_is_indeterminate():
    table = rule_table().activity_tables["CYP2D6"]
    assert translate(table, "CYP2D6", "*1/*999").phenotype == INDETERMINATE


def test_dpyd_phenotype_uses_the_two_lowest_activity_variants():
    call = GeneCall(
        gene="DPYD",
        called=True,
        diplotypes=(Diplotype("c.1A>T + c.2C>T + c.3G>A", None),),
        variant_alleles=("c.1A>T", "c.2C>T", "c.3G>A"),
    )
    [result] = phenotype_for_call(DPYD, call)
    assert result.lookup_diplotype == "c.1A>T/c.2C>T"
    assert result.phenotype == "Poor Metabolizer" and result.activity_score == 0.5


def test_slco1b1_rs4149056_genotype_translates_directly():
    assert translate(None, "SLCO1B1", "rs4149056 T/C").phenotype == "Decreased Function"
    assert translate(None, "SLCO1B1", "rs4149056 C/C").phenotype == "Poor Function"


def test_not_called_gene_gives_not_called_phenotype():
    [result] = phenotype_for_call(CYP2C19, GeneCall(gene="CYP2C19", called=False, reason="no data"))
    assert result.phenotype == NOT_CALLED


def test_ambiguous_call_with_different_phenotypes_is_indeterminate():
    call = GeneCall(gene="CYP2C19", called=True, diplotypes=(Diplotype("*1", "*1", 5), Diplotype("*2", "*2", 5)))
    assert combined(phenotype_for_call(CYP2C19, call)).phenotype == INDETERMINATE


def test_malformed_diplotype_text_is_an_input_error():
    with pytest.raises(InputError):
        split_diplotype("*1/*2/*3")
    with pytest.raises(InputError):
        split_diplotype("*1/")
