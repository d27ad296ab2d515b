"""CPIC guidance rules: one test per rule family, plus the table's own integrity."""

from __future__ import annotations

import pytest

from carepilot.errors import UnreadableInputError
from carepilot.knowledge.pgx.guidance import UnknownDrugError, parse_rule_table, recommend, rule_table
from carepilot.knowledge.pgx.phenotype import INDETERMINATE, NOT_CALLED, GenePhenotype


def gp(gene: str, phenotype: str, score: float | None = None, diplotype: str = "x/y") -> GenePhenotype:
    return GenePhenotype(gene, diplotype, phenotype, score)


def only(drug: str, *results: GenePhenotype):
    recommendations, undetermined = recommend(drug, {r.gene: r for r in results})
    assert undetermined is None
    assert len(recommendations) == 1, [r.rule.id for r in recommendations]
    return recommendations[0].rule


def test_clopidogrel_poor_metabolizer_gets_an_alternative_antiplatelet():
    rule = only("clopidogrel", gp("CYP2C19", "Poor Metabolizer"))
    assert rule.severity == "critical" and rule.classification == "Strong"
    assert set(rule.alternatives) == {"prasugrel", "ticagrelor"}
    assert "35034351" in rule.guideline.citation


def test_clopidogrel_intermediate_is_a_moderate_warning_and_normal_is_info():
    assert only("clopidogrel", gp("CYP2C19", "Intermediate Metabolizer")).classification == "Moderate"
    normal = only("clopidogrel", gp("CYP2C19", "Normal Metabolizer"))
    assert normal.severity == "info" and not normal.actionable


def test_warfarin_points_to_the_pharmacogenetic_algorithm_when_either_gene_is_variant():
    rule = only("warfarin", gp("CYP2C9", "Normal Metabolizer", 2.0), gp("VKORC1", "-1639 AA"))
    assert rule.id == "warfarin-cyp2c9-vkorc1-reduced"
    assert "IWPC" in rule.recommendation
    normal = only("warfarin", gp("CYP2C9", "Normal Metabolizer", 2.0), gp("VKORC1", "-1639 GG"))
    assert normal.severity == "info"


def test_simvastatin_poor_slco1b1_function_is_critical_and_decreased_is_a_warning():
    assert only("simvastatin", gp("SLCO1B1", "Poor Function")).severity == "critical"
    decreased = only("simvastatin", gp("SLCO1B1", "Possible Decreased Function"))
    assert decreased.severity == "warning" and "20 mg" in decreased.recommendation


@pytest.mark.parametrize("drug", ["atorvastatin", "rosuvastatin", "pravastatin", "pitavastatin", "lovastatin"])
def test_other_statins_have_slco1b1_rules(drug: str):
    assert only(drug, gp("SLCO1B1", "Poor Function")).guideline.key == "statins"


def test_fluvastatin_combined_slco1b1_and_cyp2c9_rule_replaces_single_gene_rules():
    rule = only("fluvastatin", gp("SLCO1B1", "Poor Function"), gp("CYP2C9", "Intermediate Metabolizer", 1.0))
    assert rule.genes == {"SLCO1B1", "CYP2C9"}
    assert only("fluvastatin", gp("CYP2C9", "Intermediate Metabolizer", 1.5)).id == "fluvastatin-cyp2c9-im"


@pytest.mark.parametrize(
    ("score", "severity", "rule_id"),
    [
        (0.0, "critical", "fluorouracil-dpyd-as0"),
        (0.5, "critical", "fluorouracil-dpyd-as05"),
        (1.0, "warning", "fluorouracil-dpyd-as1"),
        (1.5, "warning", "fluorouracil-dpyd-as1"),
        (2.0, "info", "fluorouracil-dpyd-normal"),
    ],
)
def test_dpyd_activity_score_sets_the_fluoropyrimidine_dose(score: float, severity: str, rule_id: str):
    rule = only("fluorouracil", gp("DPYD", "any", score))
    assert (rule.id, rule.severity) == (rule_id, severity)
    assert only("capecitabine", gp("DPYD", "any", score)).severity == severity


def test_dpyd_reduction_is_fifty_percent():
    assert "50%" in only("capecitabine", gp("DPYD", "Intermediate Metabolizer", 1.0)).recommendation


def test_thiopurines_follow_tpmt_and_nudt15_separately():
    assert only("mercaptopurine", gp("TPMT", "Poor Metabolizer")).severity == "critical"
    assert only("azathioprine", gp("NUDT15", "Intermediate Metabolizer")).severity == "warning"
    both, _ = recommend(
        "thioguanine",
        {"TPMT": gp("TPMT", "Intermediate Metabolizer"), "NUDT15": gp("NUDT15", "Poor Metabolizer")},
    )
    assert {r.rule.id for r in both} == {"thioguanine-tpmt-im", "thioguanine-nudt15-pm"}


@pytest.mark.parametrize("phenotype", ["Ultrarapid Metabolizer", "Poor Metabolizer"])
def test_codeine_is_avoided_in_ultrarapid_and_poor_metabolizers(phenotype: str):
    rule = only("codeine", gp("CYP2D6", phenotype))
    assert rule.severity == "critical" and rule.classification == "Strong"
    assert "tramadol" in rule.recommendation  # the alternative must not be tramadol


def test_tramadol_intermediate_metabolizer_is_optional():
    assert only("tramadol", gp("CYP2D6", "Intermediate Metabolizer")).classification == "Optional"


def test_ssri_rules_for_citalopram_escitalopram_and_sertraline():
    assert only("citalopram", gp("CYP2C19", "Poor Metabolizer")).classification == "Moderate"
    assert only("escitalopram", gp("CYP2C19", "Ultrarapid Metabolizer")).severity == "warning"
    assert only("sertraline", gp("CYP2C19", "Likely Poor Metabolizer")).classification == "Optional"


@pytest.mark.parametrize("phenotype", [INDETERMINATE, NOT_CALLED])
def test_unknown_gene_result_gives_no_recommendation_and_says_why(phenotype: str):
    recommendations, undetermined = recommend("clopidogrel", {"CYP2C19": gp("CYP2C19", phenotype)})
    assert recommendations == []
    assert undetermined is not None and "CYP2C19" in undetermined.reason


def test_missing_gene_result_gives_no_recommendation():
    recommendations, undetermined = recommend("codeine", {})
    assert recommendations == [] and undetermined is not None and "no CYP2D6 result" in undetermined.reason


def test_unknown_drug_is_an_input_error():
    with pytest.raises(UnknownDrugError):
        recommend("paracetamol", {})


def test_every_rule_has_a_citation_guideline_and_valid_fields():
    table = rule_table()
    assert table.version and table.id
    for rule in table.rules:
        assert rule.citation and rule.guideline.url.startswith("https://")
        assert "PMID" in rule.guideline.citation
        assert rule.classification in {"Strong", "Moderate", "Optional"}
        assert rule.severity in {"info", "warning", "critical"}
    required = {
        "clopidogrel",
        "warfarin",
        "simvastatin",
        "atorvastatin",
        "rosuvastatin",
        "pravastatin",
        "fluvastatin",
        "fluorouracil",
        "capecitabine",
        "mercaptopurine",
        "azathioprine",
        "thioguanine",
        "codeine",
        "tramadol",
        "citalopram",
        "escitalopram",
        "sertraline",
    }
    assert required <= table.drugs


def test_rule_without_citation_is_refused():
    text = (
        'id = "t"\nversion = "1"\n[guidelines.g]\ntitle = "T"\ncitation = "C"\nurl = "https://x"\n'
        '[[rules]]\nid = "r"\ndrug = "d"\nguideline = "g"\ncitation = ""\n'
        'when = { G = { phenotype = ["P"] } }\n'
        'implication = "i"\nrecommendation = "r"\nclassification = "Strong"\nseverity = "info"\n'
    )
    with pytest.raises(UnreadableInputError, match="no citation"):
        parse_rule_table(text)
