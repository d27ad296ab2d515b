"""National Early Warning Score 2 (NEWS2).

Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of
acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017. Chart 1 (scoring),
Chart 2 (thresholds and triggers). Scale 2 for SpO2 is for patients with hypercapnic respiratory failure and a
prescribed target of 88-92%, as decided by a clinician.

The chart prints integer bands (RR 9-11, pulse 41-50 ...). Measured values between two printed bands (a pulse
of 50.5) take the band whose upper bound they do not exceed, i.e. each band is read as "value <= upper bound".
Written by hand: the chart is a small fixed table; no maintained Python package implements it. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from carepilot.errors import InputError

EVIDENCE_NEWS2 = (
    "Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP, 2017 (Charts 1 and 2)."
)
EVIDENCE_URL = "https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/"


class Consciousness(StrEnum):
    """ACVPU: alert, new confusion, responds to voice, to pain, unresponsive."""

    ALERT = "A"
    CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


class RiskBand(StrEnum):
    LOW = "low"
    LOW_MEDIUM = "low-medium"
    MEDIUM = "medium"
    HIGH = "high"


RESPONSE = {
    RiskBand.LOW: "Ward-based response: routine monitoring (score 0: minimum 12-hourly; 1-4: 4-6-hourly).",
    RiskBand.LOW_MEDIUM: "Urgent ward-based response: a single parameter scores 3; observe at least hourly.",
    RiskBand.MEDIUM: "Key threshold for urgent response: urgent clinical review, observe at least hourly.",
    RiskBand.HIGH: "Emergency response: assessment by a critical-care team, continuous monitoring.",
}

# Plausible input limits: outside these a value is a typing or device error, not a physiological state.
LIMITS = {
    "respiratory_rate": (0.0, 80.0),
    "spo2": (40.0, 100.0),
    "systolic_bp": (30.0, 300.0),
    "pulse": (10.0, 300.0),
    "temperature": (25.0, 45.0),
}


def score_respiratory_rate(rr: float) -> int:
    """RR per minute: <=8 -> 3, 9-11 -> 1, 12-20 -> 0, 21-24 -> 2, >=25 -> 3."""
    if rr <= 8:
        return 3
    if rr <= 11:
        return 1
    if rr <= 20:
        return 0
    if rr <= 24:
        return 2
    return 3


def score_spo2_scale1(spo2: float) -> int:
    """SpO2 % on scale 1: <=91 -> 3, 92-93 -> 2, 94-95 -> 1, >=96 -> 0."""
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def score_spo2_scale2(spo2: float, on_oxygen: bool) -> int:
    """SpO2 % on scale 2: <=83 -> 3, 84-85 -> 2, 86-87 -> 1, 88-92 or >=93 on air -> 0; on oxygen 93-94 -> 1,
    95-96 -> 2, >=97 -> 3."""
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def score_air_or_oxygen(on_oxygen: bool) -> int:
    """Supplemental oxygen scores 2, air 0."""
    return 2 if on_oxygen else 0


def score_systolic_bp(sbp: float) -> int:
    """Systolic BP mmHg: <=90 -> 3, 91-100 -> 2, 101-110 -> 1, 111-219 -> 0, >=220 -> 3."""
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def score_pulse(pulse: float) -> int:
    """Pulse per minute: <=40 -> 3, 41-50 -> 1, 51-90 -> 0, 91-110 -> 1, 111-130 -> 2, >=131 -> 3."""
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def score_consciousness(level: Consciousness) -> int:
    """Alert -> 0; new confusion, voice, pain or unresponsive -> 3."""
    return 0 if level is Consciousness.ALERT else 3


def score_temperature(celsius: float) -> int:
    """Temperature C: <=35.0 -> 3, 35.1-36.0 -> 1, 36.1-38.0 -> 0, 38.1-39.0 -> 1, >=39.1 -> 2."""
    if celsius <= 35.0:
        return 3
    if celsius <= 36.0:
        return 1
    if celsius <= 38.0:
        return 0
    if celsius <= 39.0:
        return 1
    return 2


@dataclass(frozen=True)
class News2Input:
    """One set of observations; ``spo2_scale`` 2 only when a clinician has set a 88-92% target."""

    respiratory_rate: float
    spo2: float
    on_oxygen: bool
    systolic_bp: float
    pulse: float
    consciousness: Consciousness
    temperature: float
    spo2_scale: int = 1


@dataclass(frozen=True)
class News2Result:
    score: int
    band: RiskBand
    parameters: dict[str, int]
    red_score: bool
    response: str


def risk_band(aggregate: int, any_three: bool) -> RiskBand:
    """RCP 2017 Chart 2: 7+ high, 5-6 medium, a single parameter scoring 3 low-medium, otherwise low."""
    if aggregate >= 7:
        return RiskBand.HIGH
    if aggregate >= 5:
        return RiskBand.MEDIUM
    if any_three:
        return RiskBand.LOW_MEDIUM
    return RiskBand.LOW


def news2(obs: News2Input) -> News2Result:
    """Aggregate NEWS2 score and clinical risk band.

    Raises:
        InputError: a value is outside plausible limits, or the SpO2 scale is not 1 or 2.
    """
    for name, value in (
        ("respiratory_rate", obs.respiratory_rate),
        ("spo2", obs.spo2),
        ("systolic_bp", obs.systolic_bp),
        ("pulse", obs.pulse),
        ("temperature", obs.temperature),
    ):
        low, high = LIMITS[name]
        if not low <= value <= high:  # also rejects NaN
            raise InputError(f"NEWS2 {name} {value} is outside the plausible range {low:g}-{high:g}")
    if obs.spo2_scale not in (1, 2):
        raise InputError(f"NEWS2 SpO2 scale must be 1 or 2, got {obs.spo2_scale}")
    spo2 = score_spo2_scale1(obs.spo2) if obs.spo2_scale == 1 else score_spo2_scale2(obs.spo2, obs.on_oxygen)
    parameters = {
        "respiratory_rate": score_respiratory_rate(obs.respiratory_rate),
        "spo2": spo2,
        "air_or_oxygen": score_air_or_oxygen(obs.on_oxygen),
        "systolic_bp": score_systolic_bp(obs.systolic_bp),
        "pulse": score_pulse(obs.pulse),
        "consciousness": score_consciousness(obs.consciousness),
        "temperature": score_temperature(obs.temperature),
    }
    total = sum(parameters.values())
    red = any(v == 3 for v in parameters.values())
    band = risk_band(total, red)
    return News2Result(total, band, parameters, red, RESPONSE[band])
