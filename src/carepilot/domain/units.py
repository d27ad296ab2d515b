"""Conversion of measured quantities to each concept's canonical UCUM unit.

Written by hand: the conversions CarePilot needs include substance-specific ones (molar mass of glucose and
creatinine, the IFCC-NGSP master equation for HbA1c) that generic unit libraries (pint, ucumvert) do not know.
Factors and their sources are in ``CONVERSIONS``; the original value and unit are always kept by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Unit spellings seen in feeds -> the UCUM code. Compared case-sensitively first, then case-insensitively.
UNIT_ALIASES: dict[str, str] = {
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "umol/l": "umol/L",
    "µmol/l": "umol/L",
    "μmol/l": "umol/L",
    "mmol/mol": "mmol/mol",
    "%": "%",
    "percent": "%",
    "kg": "kg",
    "kilogram": "kg",
    "g": "g",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "[lb_av]": "[lb_av]",
    "cm": "cm",
    "m": "m",
    "in": "[in_i]",
    "[in_i]": "[in_i]",
    "cel": "Cel",
    "°c": "Cel",
    "degc": "Cel",
    "[degf]": "[degF]",
    "°f": "[degF]",
    "degf": "[degF]",
    "mm[hg]": "mm[Hg]",
    "mmhg": "mm[Hg]",
    "/min": "/min",
    "{beats}/min": "/min",
    "beats/min": "/min",
    "{breaths}/min": "/min",
    "bpm": "/min",
    "/d": "/d",
    "{steps}/d": "/d",
    "{steps}": "/d",
    "pg/ml": "pg/mL",
    "ng/l": "ng/L",
    "g/dl": "g/dL",
    "g/l": "g/L",
    "mmol/mmol": "mmol/mmol",
    "mg/g": "mg/g",
    "mg/mmol": "mg/mmol",
    "meq/l": "meq/L",
    "{inr}": "{INR}",
    "{ratio}": "{INR}",
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}",
    "kg/m2": "kg/m2",
    "kg/m^2": "kg/m2",
    "{score}": "{score}",
    "score": "{score}",
    "1": "1",
}


def canonical_unit_code(unit: str | None) -> str | None:
    """The UCUM spelling of a unit as received, or None when it is empty."""
    if unit is None:
        return None
    text = unit.strip()
    if not text:
        return None
    return UNIT_ALIASES.get(text.lower(), text)


def _linear(factor: float, offset: float = 0.0) -> Callable[[float], float]:
    return lambda value: value * factor + offset


GLUCOSE_MG_PER_MMOL = 18.016  # molar mass of glucose 180.16 g/mol
CREATININE_UMOL_PER_MG_DL = 88.42  # molar mass of creatinine 113.12 g/mol
CHOLESTEROL_MG_PER_MMOL = 38.67  # molar mass of cholesterol 386.65 g/mol
TRIGLYCERIDE_MG_PER_MMOL = 88.57  # triolein 885.7 g/mol
LB_TO_KG = 0.45359237
IN_TO_CM = 2.54

# (concept or "*", from unit, to unit) -> converter. "*" applies to any concept.
CONVERSIONS: dict[tuple[str, str, str], Callable[[float], float]] = {
    ("glucose", "mmol/L", "mg/dL"): _linear(GLUCOSE_MG_PER_MMOL),
    ("cgm_glucose", "mmol/L", "mg/dL"): _linear(GLUCOSE_MG_PER_MMOL),
    ("creatinine", "umol/L", "mg/dL"): _linear(1 / CREATININE_UMOL_PER_MG_DL),
    # NGSP % = 0.09148 x IFCC mmol/mol + 2.152 (IFCC-NGSP master equation, Hoelzel et al. Clin Chem 2004).
    ("hba1c", "mmol/mol", "%"): _linear(0.09148, 2.152),
    ("ldl", "mmol/L", "mg/dL"): _linear(CHOLESTEROL_MG_PER_MMOL),
    ("hdl", "mmol/L", "mg/dL"): _linear(CHOLESTEROL_MG_PER_MMOL),
    ("total_cholesterol", "mmol/L", "mg/dL"): _linear(CHOLESTEROL_MG_PER_MMOL),
    ("triglycerides", "mmol/L", "mg/dL"): _linear(TRIGLYCERIDE_MG_PER_MMOL),
    ("albumin_creatinine_ratio", "mg/mmol", "mg/g"): _linear(8.84),
    ("potassium", "meq/L", "mmol/L"): _linear(1.0),
    ("sodium", "meq/L", "mmol/L"): _linear(1.0),
    ("*", "[lb_av]", "kg"): _linear(LB_TO_KG),
    ("*", "g", "kg"): _linear(0.001),
    ("*", "[in_i]", "cm"): _linear(IN_TO_CM),
    ("*", "m", "cm"): _linear(100.0),
    ("*", "[degF]", "Cel"): lambda f: (f - 32.0) * 5.0 / 9.0,
    ("*", "g/L", "g/dL"): _linear(0.1),
    ("*", "ng/L", "pg/mL"): _linear(1.0),
    ("*", "1", "%"): _linear(100.0),  # fractions (SpO2 0.97) to percent
}


@dataclass(frozen=True)
class Converted:
    value: float
    unit: str


class UnitConversionError(ValueError):
    """The unit cannot be converted to the concept's canonical unit."""


def to_canonical(concept: str, value: float, unit: str | None, canonical: str | None) -> Converted:
    """Convert ``value unit`` of ``concept`` to the canonical unit.

    Raises:
        UnitConversionError: the unit is missing or there is no conversion to the canonical unit.
    """
    if canonical is None:
        return Converted(value, canonical_unit_code(unit) or "")
    code = canonical_unit_code(unit)
    if code is None:
        # Dimensionless scores and ratios carry no unit in many feeds.
        if canonical in ("{score}", "{INR}", "1"):
            return Converted(value, canonical)
        raise UnitConversionError(f"no unit given for {concept}; expected {canonical}")
    if code == canonical or code.lower() == canonical.lower():
        return Converted(value, canonical)
    converter = CONVERSIONS.get((concept, code, canonical)) or CONVERSIONS.get(("*", code, canonical))
    if converter is None:
        raise UnitConversionError(f"cannot convert {concept} from {unit!r} to {canonical}")
    return Converted(round(converter(value), 6), canonical)
