"""Kidney function equations against published examples, and renal dose rules."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from carepilot.domain.insight import Declined, Insight, InsightKind, Severity
from carepilot.domain.profile import Coding, Demographics, Measurement, PatientProfile
from carepilot.errors import InputError
from carepilot.knowledge.safety import ckd_epi_2021, cockcroft_gault, kidney_function, safety_insights

AS_OF = datetime(2026, 1, 15)


def test_ckd_epi_2021_matches_the_nkf_calculator_example():
    # National Kidney Foundation CKD-EPI 2021 calculator: male, 55 years, creatinine 1.2 mg/dL -> 71.
    assert round(ckd_epi_2021(1.2, 55, "male")) == 71


@pytest.mark.parametrize(
    ("scr", "age", "sex", "expected"),
    [
        # Worked from the published equation (Inker et al., N Engl J Med 2021;385:1737-49, Table/Appendix):
        # 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200 x 0.9938^age x 1.012 [female].
        (1.0, 50, "male", 142 * (1.0 / 0.9) ** -1.2 * 0.9938**50),  # ~91.7
        (1.0, 50, "female", 142 * (1.0 / 0.7) ** -1.2 * 0.9938**50 * 1.012),  # ~68.6
        (0.6, 40, "female", 142 * (0.6 / 0.7) ** -0.241 * 0.9938**40 * 1.012),  # below kappa: alpha branch
        (0.7, 30, "male", 142 * (0.7 / 0.9) ** -0.302 * 0.9938**30),
    ],
)
def test_ckd_epi_2021_branches(scr, age, sex, expected):
    assert ckd_epi_2021(scr, age, sex) == pytest.approx(expected, rel=1e-12)


def test_ckd_epi_2021_published_rounded_values():
    assert round(ckd_epi_2021(1.0, 50, "male")) == 92
    assert round(ckd_epi_2021(1.0, 50, "female")) == 69


def test_cockcroft_gault_textbook_example():
    # (140 - 60) x 70 / (72 x 1.0) = 77.8 mL/min; x 0.85 for a woman.
    assert cockcroft_gault(1.0, 60, 70, "male") == pytest.approx(77.78, abs=0.01)
    assert cockcroft_gault(1.0, 60, 70, "female") == pytest.approx(66.11, abs=0.01)


def test_kidney_equations_reject_bad_input():
    with pytest.raises(InputError, match="creatinine"):
        ckd_epi_2021(0, 50, "male")
    with pytest.raises(InputError, match="sex"):
        ckd_epi_2021(1.0, 50, "unknown")
    with pytest.raises(InputError, match="adults"):
        ckd_epi_2021(1.0, 12, "female")


def _obs(concept, value, unit):
    return Measurement(f"obs-{concept}", concept, Coding("urn:test", concept), datetime(2026, 1, 10), value, unit)


def patient(*measurements, sex="female", born=date(1951, 1, 1)):
    return PatientProfile(Demographics("synthetic-r", born, sex), AS_OF, measurements=tuple(measurements))


def test_egfr_is_computed_from_creatinine_when_not_reported():
    kidney = kidney_function(patient(_obs("creatinine", 1.8, "mg/dL")))
    assert kidney.egfr_source == "CKD-EPI 2021"
    assert kidney.egfr == pytest.approx(ckd_epi_2021(1.8, patient().age, "female"))  # type: ignore[arg-type]
    assert kidney.crcl is None  # no weight


def test_metformin_is_contraindicated_below_egfr_30():
    results = safety_insights(patient(_obs("egfr", 25.0, "mL/min/{1.73_m2}")), ["metformin"])
    assert len(results) == 1
    alert = results[0]
    assert isinstance(alert, Insight)
    assert alert.kind is InsightKind.DOSE and alert.severity is Severity.CRITICAL
    assert "contraindicated" in alert.title
    assert "Glucophage" in alert.evidence[0].citation


def test_metformin_between_30_and_45_is_do_not_start_and_above_45_is_silent():
    mid = safety_insights(patient(_obs("egfr", 40.0, "mL/min/{1.73_m2}")), ["metformin"])
    assert [r.topic for r in mid if isinstance(r, Insight)] == ["renal:metformin-30-45"]
    assert safety_insights(patient(_obs("egfr", 60.0, "mL/min/{1.73_m2}")), ["metformin"]) == []


def test_sglt2_inhibitor_glycaemic_efficacy_is_flagged_below_45():
    results = safety_insights(patient(_obs("egfr", 38.0, "mL/min/{1.73_m2}")), ["dapagliflozin"])
    assert [r.topic for r in results if isinstance(r, Insight)] == ["renal:sglt2-glycaemic-lt45"]
    low = safety_insights(patient(_obs("egfr", 22.0, "mL/min/{1.73_m2}")), ["dapagliflozin"])
    assert {r.topic for r in low if isinstance(r, Insight)} == {
        "renal:sglt2-glycaemic-lt45",
        "renal:dapagliflozin-lt25",
    }


def test_crcl_rules_use_cockcroft_gault_when_weight_is_known():
    p = patient(_obs("creatinine", 2.0, "mg/dL"), _obs("body_weight", 60.0, "kg"))
    results = [r for r in safety_insights(p, ["nitrofurantoin"]) if isinstance(r, Insight)]
    assert len(results) == 1
    assert "Cockcroft-Gault" in results[0].detail
    assert results[0].value == pytest.approx(round(cockcroft_gault(2.0, p.age, 60.0, "female"), 1))  # type: ignore[arg-type]


def test_crcl_rule_falls_back_to_egfr_and_says_so():
    results = safety_insights(patient(_obs("egfr", 20.0, "mL/min/{1.73_m2}")), ["nitrofurantoin"])
    assert isinstance(results[0], Insight)
    assert "used in place of CrCl" in results[0].detail


def test_renal_check_without_any_kidney_data_is_declined():
    results = safety_insights(patient(), ["metformin"])
    assert len(results) == 1 and isinstance(results[0], Declined)
    assert "renal dosing check for metformin" in results[0].reason
