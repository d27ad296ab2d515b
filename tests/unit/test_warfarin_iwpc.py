"""IWPC warfarin equations: hand-computed cases from the published coefficients, and genotype text parsing."""

from __future__ import annotations

import pytest

from carepilot.errors import InputError
from carepilot.knowledge.warfarin import (
    Algorithm,
    GenotypeFormatError,
    Race,
    WarfarinCovariates,
    age_decade,
    choose_algorithm,
    impute_vkorc1,
    iwpc_dose,
    iwpc_table,
    parse_cyp2c9,
    parse_vkorc1,
    race_category,
)

# Coefficients typed from the IWPC Supplementary Appendix (N Engl J Med 2009;360:753-64), independently of the
# data file, so that a typo in either one fails these tests.


def test_pharmacogenetic_equation_matches_a_hand_computed_case():
    cov = WarfarinCovariates(6, 170.0, 80.0, Race.WHITE, cyp2c9="*1/*3", vkorc1="A/G")
    root = 5.6044 - 0.2614 * 6 + 0.0087 * 170 + 0.0128 * 80 - 0.8677 - 0.9357
    estimate = iwpc_dose(cov, Algorithm.PHARMACOGENETIC)
    assert estimate.sqrt_weekly_dose == pytest.approx(root, abs=1e-9)
    assert estimate.weekly_dose_mg == pytest.approx(root**2, abs=1e-9)
    assert estimate.weekly_dose_mg == pytest.approx(22.43, abs=0.01)


def test_pharmacogenetic_equation_with_every_adjustment():
    cov = WarfarinCovariates(
        4, 182.0, 95.5, Race.BLACK, cyp2c9="*2/*3", vkorc1="A/A", amiodarone=True, enzyme_inducer=True
    )
    root = 5.6044 - 0.2614 * 4 + 0.0087 * 182 + 0.0128 * 95.5 - 1.6974 - 1.9206 - 0.2760 + 1.1816 - 0.5503
    assert iwpc_dose(cov, Algorithm.PHARMACOGENETIC).weekly_dose_mg == pytest.approx(root**2, abs=1e-9)


def test_pharmacogenetic_equation_uses_unknown_terms_for_missing_genotypes():
    cov = WarfarinCovariates(7, 160.0, 60.0, Race.MISSING_OR_MIXED)
    root = 5.6044 - 0.2614 * 7 + 0.0087 * 160 + 0.0128 * 60 - 0.4854 - 0.2188 - 0.1032
    assert iwpc_dose(cov, Algorithm.PHARMACOGENETIC).sqrt_weekly_dose == pytest.approx(root, abs=1e-9)


def test_clinical_equation_matches_a_hand_computed_case():
    cov = WarfarinCovariates(7, 160.0, 60.0, Race.ASIAN, amiodarone=True)
    root = 4.0376 - 0.2546 * 7 + 0.0118 * 160 + 0.0134 * 60 - 0.6752 - 0.5695
    estimate = iwpc_dose(cov, Algorithm.CLINICAL)
    assert estimate.weekly_dose_mg == pytest.approx(root**2, abs=1e-9)
    assert estimate.weekly_dose_mg == pytest.approx(13.71, abs=0.01)


def test_clinical_equation_race_and_inducer_terms():
    black = WarfarinCovariates(5, 175.0, 90.0, Race.BLACK, enzyme_inducer=True)
    root = 4.0376 - 0.2546 * 5 + 0.0118 * 175 + 0.0134 * 90 + 0.4060 + 1.2799
    assert iwpc_dose(black, Algorithm.CLINICAL).sqrt_weekly_dose == pytest.approx(root, abs=1e-9)


def test_amiodarone_lowers_the_dose_in_both_equations():
    base = WarfarinCovariates(6, 170.0, 80.0, Race.WHITE, cyp2c9="*1/*1", vkorc1="G/G")
    amio = WarfarinCovariates(6, 170.0, 80.0, Race.WHITE, cyp2c9="*1/*1", vkorc1="G/G", amiodarone=True)
    for algorithm in Algorithm:
        assert iwpc_dose(amio, algorithm).weekly_dose_mg < iwpc_dose(base, algorithm).weekly_dose_mg


def test_uncovered_cyp2c9_allele_is_refused():
    cov = WarfarinCovariates(6, 170.0, 80.0, Race.BLACK, cyp2c9="*1/*8", vkorc1="G/G")
    with pytest.raises(GenotypeFormatError, match=r"\*1/\*8"):
        iwpc_dose(cov, Algorithm.PHARMACOGENETIC)


def test_algorithm_choice_falls_back_to_clinical_without_any_genotype():
    assert choose_algorithm(WarfarinCovariates(6, 170.0, 80.0)) is Algorithm.CLINICAL
    assert choose_algorithm(WarfarinCovariates(6, 170.0, 80.0, vkorc1="A/A")) is Algorithm.PHARMACOGENETIC


def test_covariates_outside_plausible_ranges_are_input_errors():
    with pytest.raises(InputError, match="height"):
        WarfarinCovariates(6, 17.0, 80.0)
    with pytest.raises(InputError, match="age decade"):
        WarfarinCovariates(15, 170.0, 80.0)


def test_age_decade_follows_iwpc_bands():
    assert age_decade(65) == 6
    assert age_decade(19.9) == 1
    assert age_decade(97) == 9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CYP2C9 *1/*3", "*1/*3"),
        ("CYP2C9*3/*1", "*1/*3"),
        ("cyp2c9 *2/*2 (poor)", "*2/*2"),
        ("*11/*1", "*1/*11"),
    ],
)
def test_cyp2c9_text_forms(text, expected):
    assert parse_cyp2c9(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("VKORC1 -1639G>A A/G", ("rs9923231", "A/G")),
        ("VKORC1 c.-1639G>A G/A", ("rs9923231", "A/G")),
        ("VKORC1 A/A", ("rs9923231", "A/A")),
        ("VKORC1 rs9923231 C/T", ("rs9923231", "A/G")),
        ("VKORC1 rs9923231 T/T", ("rs9923231", "A/A")),
        ("VKORC1 rs9934438 T/C", ("rs9934438", "C/T")),
    ],
)
def test_vkorc1_text_forms(text, expected):
    assert parse_vkorc1(text) == expected


def test_unreadable_genotypes_raise_a_clear_error():
    with pytest.raises(GenotypeFormatError, match="CYP2C9"):
        parse_cyp2c9("CYP2C9 normal")
    with pytest.raises(GenotypeFormatError, match="VKORC1"):
        parse_vkorc1("VKORC1 unknown")


def test_vkorc1_imputation_follows_the_iwpc_rules():
    assert impute_vkorc1({"rs9934438": "C/T"}, Race.BLACK) == "A/G"
    assert impute_vkorc1({"rs2359612": "T/T"}, Race.WHITE) == "A/A"
    # rs2359612 and rs8050894 are not used in Black or missing/mixed race (weaker linkage).
    assert impute_vkorc1({"rs2359612": "T/T"}, Race.BLACK) is None
    assert impute_vkorc1({"rs8050894": "C/C"}, Race.MISSING_OR_MIXED) is None
    assert impute_vkorc1({"rs9923231": "G/G", "rs9934438": "T/T"}, Race.WHITE) == "G/G"


def test_race_text_maps_to_iwpc_categories():
    assert race_category("White") is Race.WHITE
    assert race_category("Black or African American") is Race.BLACK
    assert race_category("2028-9") is Race.ASIAN
    assert race_category("White; Asian") is Race.MISSING_OR_MIXED
    assert race_category(None) is Race.MISSING_OR_MIXED


def test_coefficient_table_carries_its_citation():
    table = iwpc_table()
    assert "N Engl J Med 2009;360:753-64" in table.citation
    assert table.pharmacogenetic["intercept"] == 5.6044
    assert set(table.enzyme_inducers) == {"carbamazepine", "phenytoin", "rifampin"}
