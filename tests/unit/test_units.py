import pytest

from carepilot.domain.units import UnitConversionError, canonical_unit_code, to_canonical

# (concept, value, unit as received, canonical unit, expected value in canonical unit)
CONVERSIONS = [
    ("creatinine", 88.42, "umol/L", "mg/dL", 1.0),
    ("creatinine", 176.84, "µmol/L", "mg/dL", 2.0),
    ("glucose", 5.5, "mmol/L", "mg/dL", 99.088),
    ("cgm_glucose", 10.0, "mmol/l", "mg/dL", 180.16),
    ("hba1c", 53.0, "mmol/mol", "%", 7.00044),
    ("hba1c", 48.0, "mmol/mol", "%", 6.54304),
    ("body_weight", 220.0, "[lb_av]", "kg", 99.79032),
    ("body_weight", 150.0, "lbs", "kg", 68.03886),
    ("temperature", 98.6, "[degF]", "Cel", 37.0),
    ("temperature", 212.0, "°F", "Cel", 100.0),
    ("ldl", 2.6, "mmol/L", "mg/dL", 100.542),
    ("triglycerides", 1.7, "mmol/L", "mg/dL", 150.569),
    ("hemoglobin", 135.0, "g/L", "g/dL", 13.5),
    ("body_height", 70.0, "[in_i]", "cm", 177.8),
    ("spo2", 0.97, "1", "%", 97.0),
    ("potassium", 4.2, "mEq/L", "mmol/L", 4.2),
    ("hba1c", 7.2, "%", "%", 7.2),
    ("systolic_bp", 120.0, "mmHg", "mm[Hg]", 120.0),
]


@pytest.mark.parametrize(("concept", "value", "unit", "canonical", "expected"), CONVERSIONS)
def test_quantities_convert_to_the_canonical_unit(concept, value, unit, canonical, expected):
    converted = to_canonical(concept, value, unit, canonical)
    assert converted.unit == canonical
    assert converted.value == pytest.approx(expected, abs=1e-3)


def test_a_unit_with_no_conversion_is_refused_with_the_concept_named():
    with pytest.raises(UnitConversionError, match="creatinine"):
        to_canonical("creatinine", 1.0, "mg/mmol", "mg/dL")


def test_a_missing_unit_is_refused_for_a_dimensioned_concept_but_not_for_a_score():
    with pytest.raises(UnitConversionError):
        to_canonical("glucose", 100.0, None, "mg/dL")
    assert to_canonical("phq9", 12.0, None, "{score}").value == 12.0


def test_unit_spellings_are_folded_to_ucum():
    assert canonical_unit_code("MG/DL") == "mg/dL"
    assert canonical_unit_code(" lb ") == "[lb_av]"
    assert canonical_unit_code("") is None
