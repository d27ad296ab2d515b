"""NEWS2 against the Royal College of Physicians 2017 scoring table (Chart 1) and trigger bands (Chart 2)."""

from __future__ import annotations

import pytest

from carepilot.errors import InputError
from carepilot.monitoring.news2 import (
    Consciousness,
    News2Input,
    RiskBand,
    news2,
    risk_band,
    score_consciousness,
    score_pulse,
    score_respiratory_rate,
    score_spo2_scale1,
    score_spo2_scale2,
    score_systolic_bp,
    score_temperature,
)


@pytest.mark.parametrize(
    ("rr", "points"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiratory_rate_bands(rr: float, points: int) -> None:
    assert score_respiratory_rate(rr) == points


@pytest.mark.parametrize(("spo2", "points"), [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)])
def test_spo2_scale1_bands(spo2: float, points: int) -> None:
    assert score_spo2_scale1(spo2) == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [
        (83, False, 3),
        (84, False, 2),
        (85, False, 2),
        (86, False, 1),
        (87, False, 1),
        (88, False, 0),
        (92, False, 0),
        (93, False, 0),
        (97, False, 0),
        (88, True, 0),
        (92, True, 0),
        (93, True, 1),
        (94, True, 1),
        (95, True, 2),
        (96, True, 2),
        (97, True, 3),
        (100, True, 3),
        (83, True, 3),
    ],
)
def test_spo2_scale2_bands(spo2: float, on_oxygen: bool, points: int) -> None:
    assert score_spo2_scale2(spo2, on_oxygen) == points


@pytest.mark.parametrize(
    ("sbp", "points"),
    [(60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bp_bands(sbp: float, points: int) -> None:
    assert score_systolic_bp(sbp) == points


@pytest.mark.parametrize(
    ("pulse", "points"),
    [(30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)],
)
def test_pulse_bands(pulse: float, points: int) -> None:
    assert score_pulse(pulse) == points


@pytest.mark.parametrize(
    ("temp", "points"),
    [
        (34.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (41.0, 2),
    ],
)
def test_temperature_bands(temp: float, points: int) -> None:
    assert score_temperature(temp) == points


@pytest.mark.parametrize(("level", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness_acvpu(level: str, points: int) -> None:
    assert score_consciousness(Consciousness(level)) == points


def _obs(**overrides: object) -> News2Input:
    base: dict[str, object] = {
        "respiratory_rate": 16,
        "spo2": 97,
        "on_oxygen": False,
        "systolic_bp": 125,
        "pulse": 72,
        "consciousness": Consciousness.ALERT,
        "temperature": 37.0,
    }
    base.update(overrides)
    return News2Input(**base)  # type: ignore[arg-type]


def test_normal_observations_score_zero_low_risk() -> None:
    result = news2(_obs())
    assert result.score == 0
    assert result.band is RiskBand.LOW
    assert not result.red_score


def test_oxygen_adds_two_points() -> None:
    assert news2(_obs(on_oxygen=True)).score == 2
    assert news2(_obs(on_oxygen=True)).parameters["air_or_oxygen"] == 2


def test_a_single_red_score_is_low_medium() -> None:
    result = news2(_obs(consciousness=Consciousness.CONFUSION))
    assert result.score == 3
    assert result.band is RiskBand.LOW_MEDIUM
    assert result.red_score


def test_aggregate_bands_at_their_edges() -> None:
    # RR 22 (2) + SpO2 95 (1) + pulse 95 (1) = 4 -> low
    assert news2(_obs(respiratory_rate=22, spo2=95, pulse=95)).band is RiskBand.LOW
    # + temperature 38.5 (1) = 5 -> medium
    five = news2(_obs(respiratory_rate=22, spo2=95, pulse=95, temperature=38.5))
    assert (five.score, five.band) == (5, RiskBand.MEDIUM)
    # RR 22 (2) + SpO2 93 (2) + pulse 115 (2) = 6 -> medium
    assert news2(_obs(respiratory_rate=22, spo2=93, pulse=115)).band is RiskBand.MEDIUM
    # + SBP 105 (1) = 7 -> high
    seven = news2(_obs(respiratory_rate=22, spo2=93, pulse=115, systolic_bp=105))
    assert (seven.score, seven.band) == (7, RiskBand.HIGH)


def test_risk_band_precedence() -> None:
    assert risk_band(0, False) is RiskBand.LOW
    assert risk_band(4, False) is RiskBand.LOW
    assert risk_band(3, True) is RiskBand.LOW_MEDIUM
    assert risk_band(5, True) is RiskBand.MEDIUM
    assert risk_band(7, False) is RiskBand.HIGH


def test_scale2_is_used_only_when_asked() -> None:
    assert news2(_obs(spo2=88)).parameters["spo2"] == 3
    assert news2(_obs(spo2=88, spo2_scale=2)).parameters["spo2"] == 0
    assert news2(_obs(spo2=97, spo2_scale=2, on_oxygen=True)).parameters["spo2"] == 3


@pytest.mark.parametrize(
    "overrides",
    [
        {"spo2": 101},
        {"pulse": -5},
        {"temperature": 50.0},
        {"respiratory_rate": float("nan")},
        {"spo2_scale": 3},
    ],
)
def test_implausible_inputs_are_input_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(InputError):
        news2(_obs(**overrides))
