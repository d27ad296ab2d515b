"""Tumour biomarker normalisation and standard-of-care matching."""

from __future__ import annotations

import pytest

from carepilot.errors import InputError
from carepilot.knowledge.oncology import (
    BiomarkerFormatError,
    civic_from_rows,
    match_biomarker,
    normalise_variant,
    parse_biomarker,
    soc_table,
    tumor_key,
    variant_match,
)


@pytest.mark.parametrize(
    ("text", "gene", "variant"),
    [
        ("EGFR L858R", "EGFR", "L858R"),
        ("EGFR:L858R", "EGFR", "L858R"),
        ("EGFR p.L858R", "EGFR", "L858R"),
        ("EGFR p.(Leu858Arg)", "EGFR", "L858R"),
        ("EGFR exon 19 deletion", "EGFR", "EXON 19 DELETION"),
        ("EGFR Ex19del", "EGFR", "EXON 19 DELETION"),
        ("EGFR E746_A750del", "EGFR", "EXON 19 DELETION"),
        ("EGFR p.Glu746_Ala750del", "EGFR", "EXON 19 DELETION"),
        ("ALK fusion", "ALK", "FUSION"),
        ("EML4-ALK", "ALK", "FUSION"),
        ("ERBB2 amplification", "ERBB2", "AMPLIFICATION"),
        ("HER2 positive", "ERBB2", "POSITIVE"),
        ("HER2+", "ERBB2", "POSITIVE"),
        ("ER+", "HR", "POSITIVE"),
        ("HR positive", "HR", "POSITIVE"),
        ("BRCA2 germline mutation", "BRCA2", "MUTATION"),
        ("BRCA1 c.68_69delAG", "BRCA1", "MUTATION"),
        ("braf v600e", "BRAF", "V600E"),
        ("MSI-H", "MSI", "HIGH"),
        ("MSI-high", "MSI", "HIGH"),
        ("dMMR", "MSI", "HIGH"),
    ],
)
def test_biomarker_text_forms(text, gene, variant):
    b = parse_biomarker(text)
    assert (b.gene, b.variant) == (gene, variant)


def test_civic_style_names_normalise_to_the_same_form():
    assert normalise_variant("ALK", "ALK FUSIONS") == "FUSION"
    assert normalise_variant("ALK", "ALK FUSION G1202R") == "ALK FUSION G1202R"
    assert normalise_variant("EGFR", "EXON 19 DELETION") == "EXON 19 DELETION"
    assert normalise_variant("EGFR", "T790M") == "T790M"


def test_unreadable_biomarkers_are_input_errors():
    with pytest.raises(BiomarkerFormatError):
        parse_biomarker("EGFR")
    with pytest.raises(BiomarkerFormatError):
        parse_biomarker("   ")


def test_variant_coverage_levels():
    assert variant_match("V600E", "V600E") == "exact"
    assert variant_match("V600", "V600E") == "codon"
    assert variant_match("MUTATION", "G12D") == "gene"
    assert variant_match("MUTATION", "AMPLIFICATION") is None
    assert variant_match("G12C", "G12D") is None


@pytest.mark.parametrize(
    ("text", "tumor", "pair_id"),
    [
        ("EGFR L858R", "nsclc", "nsclc-egfr-osimertinib"),
        ("EGFR E746_A750del", "nsclc", "nsclc-egfr-osimertinib"),
        ("ALK fusion", "nsclc", "nsclc-alk-alectinib-lorlatinib"),
        ("KRAS G12C", "nsclc", "nsclc-kras-g12c"),
        ("BRAF V600E", "nsclc", "nsclc-braf-v600e"),
        ("ERBB2 amplification", "breast_cancer", "breast-her2-trastuzumab"),
        ("HR positive", "breast_cancer", "breast-hr-endocrine-cdk46"),
        ("BRCA2 germline mutation", "breast_cancer", "breast-brca2-olaparib"),
        ("KRAS G12D", "colorectal_cancer", "crc-kras-anti-egfr-resistance"),
        ("NRAS Q61K", "colorectal_cancer", "crc-nras-anti-egfr-resistance"),
        ("BRAF V600E", "colorectal_cancer", "crc-braf-v600e-encorafenib"),
        ("MSI-H", "colorectal_cancer", "crc-msi-high-pembrolizumab"),
    ],
)
def test_standard_of_care_pairs(text, tumor, pair_id):
    assert [p.id for p in match_biomarker(parse_biomarker(text), tumor).soc] == [pair_id]


def test_a_biomarker_in_another_tumour_type_is_off_label():
    m = match_biomarker(parse_biomarker("BRAF V600E"), "breast_cancer")
    assert m.soc == ()
    assert {p.id for p in m.soc_other_tumors} == {"nsclc-braf-v600e", "crc-braf-v600e-encorafenib"}


def test_egfr_t790m_has_no_curated_first_line_pair():
    assert match_biomarker(parse_biomarker("EGFR T790M"), "nsclc").soc == ()


def test_every_pair_cites_a_guideline_and_names_a_known_tumour():
    table = soc_table()
    for pair in table.pairs:
        assert pair.tumor in table.tumor_types
        assert "NCCN" in pair.citation or "ESMO" in pair.citation
        assert pair.significance in ("sensitivity", "resistance")


def test_tumour_aliases():
    assert tumor_key("lung") == "nsclc"
    assert tumor_key("Colorectal") == "colorectal_cancer"
    with pytest.raises(InputError, match="unknown tumour type"):
        tumor_key("liver")


def _row(eid, gene, variant, disease, drugs, level="B", sig="Sensitivity", etype="Predictive", direction="Supports"):
    return {
        "evidence_id": eid,
        "gene": gene,
        "variant": variant,
        "disease": disease,
        "drugs": drugs,
        "evidence_type": etype,
        "evidence_direction": direction,
        "evidence_level": level,
        "clinical_significance": sig,
        "evidence_status": "accepted",
        "pubmed_id": "1",
        "citation": "Synthetic 2020",
        "evidence_civic_url": f"https://civic.example/{eid}",
        "rating": "3",
        "variant_origin": "Somatic Mutation",
    }


def test_civic_rows_are_filtered_normalised_and_split_by_tumour_type():
    kb = civic_from_rows(
        [
            _row("1", "EGFR", "L858R", "Non-small Cell Lung Carcinoma", "Erlotinib", level="A"),
            _row("2", "EGFR", "L858R", "Colorectal Cancer", "Gefitinib", level="C"),
            _row("3", "EGFR", "MUTATION", "Lung Adenocarcinoma", "Afatinib"),
            _row(
                "4",
                "EGFR",
                "L858R",
                "Non-small Cell Lung Carcinoma",
                "",
                etype="Prognostic",
                sig="Poor Outcome",
            ),
            _row(
                "5",
                "EGFR",
                "T790M",
                "Non-small Cell Lung Carcinoma",
                "Erlotinib",
                sig="Resistance or Non-Response",
            ),
        ],
        version="synthetic",
    )
    assert {i.evidence_id for i in kb.items} == {"1", "2", "3", "5"}
    m = match_biomarker(parse_biomarker("EGFR p.Leu858Arg"), "nsclc", civic=kb)
    assert [(h.item.evidence_id, h.match, h.on_label) for h in m.civic] == [
        ("1", "exact", True),
        ("3", "gene", True),
        ("2", "exact", False),
    ]
