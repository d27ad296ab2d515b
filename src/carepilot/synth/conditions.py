"""Chronic conditions and cancers by age, sex, race and site, with co-occurrence.

Liability-threshold (Gaussian copula) model (Falconer 1965; the multivariate probit of Ashford & Sowden 1970):
person i has condition c when ``L_ic = offset_ic + sum_f lambda_cf F_if + sqrt(1 - sum lambda^2) e_ic``
exceeds a threshold tau_c,band. The latent factors F (metabolic, cardiac, smoking, mood) are shared across
conditions, which makes hypertension, diabetes, kidney disease and heart disease co-occur as they do in
NHANES. The offsets move risk between sexes, races and sites; the thresholds are then solved per age band so
that the expected prevalence in the band equals the published target (``data/population.toml``), whatever the
site mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from carepilot.synth.people import People, age_band, site_profiles
from carepilot.synth.tables import load_table

FACTORS = ("metabolic", "cardiac", "smoking", "mood")
BAND_CENTRES = np.array([31.0, 55.0, 76.0])
CANCERS = ("nsclc", "breast_cancer", "colorectal_cancer")


@dataclass
class Conditions:
    """Which persons have which condition and since when."""

    names: tuple[str, ...]
    has: dict[str, np.ndarray]  # bool per person
    onset: dict[str, np.ndarray]  # datetime64[D] per person (NaT where absent)
    probability: dict[str, np.ndarray]  # the true marginal probability each person had
    factors: dict[str, np.ndarray]
    smoker: np.ndarray  # ever-smoker, from the smoking factor

    def count(self) -> np.ndarray:
        """Number of the chronic (non-cancer) conditions each person has."""
        return sum((self.has[c].astype(int) for c in self.names if c not in CANCERS), np.zeros(1, dtype=int))


def _solve_threshold(offsets: np.ndarray, target: float) -> float:
    """Threshold tau with mean(Phi(offset - tau)) == target (expected band prevalence)."""
    if offsets.size == 0:
        return 0.0

    def gap(tau: float) -> float:
        return float(norm.cdf(offsets - tau).mean() - target)

    return float(brentq(gap, -12.0, 12.0, xtol=1e-9))


def condition_offsets(people: People, spec: dict, site_shift: np.ndarray) -> np.ndarray:
    """Probit-scale shift of each person's liability for one condition (sex, race, site, age within band)."""
    band = age_band(people.age)
    offset = np.where(people.female, -spec["sex_shift"], spec["sex_shift"]).astype(float)
    offset += spec["age_slope"] * (people.age - BAND_CENTRES[band]) / 10.0
    races = spec.get("race_shift", {})
    for race_key, shift in races.items():
        if race_key == "hispanic":
            offset += np.where(people.hispanic, shift, 0.0)
        else:
            offset += np.where(people.race == race_key, shift, 0.0)
    return offset + site_shift


def assign_conditions(rng: np.random.Generator, people: People, n_sites: int, end: np.datetime64) -> Conditions:
    """Draw conditions and onset dates for every person; also shifts BMI with the metabolic factor."""
    table = load_table("population")["conditions"]
    n = people.n
    factors = {f: rng.standard_normal(n) for f in FACTORS}
    # Metabolic liability raises BMI (obesity is the main shared cause of HTN/T2D/CKD; NHANES).
    people.bmi = np.clip(people.bmi + 2.2 * factors["metabolic"], 16.0, 60.0)
    site_shift = np.array([s["prevalence_shift"] for s in site_profiles(n_sites)])[people.site]
    band = age_band(people.age)
    has: dict[str, np.ndarray] = {}
    onset: dict[str, np.ndarray] = {}
    probability: dict[str, np.ndarray] = {}
    for name, spec in table.items():
        offset = condition_offsets(people, spec, site_shift)
        loadings = spec.get("loadings", {})
        shared = sum((w * factors[f] for f, w in loadings.items()), np.zeros(n))
        resid = np.sqrt(max(1.0 - sum(w * w for w in loadings.values()), 0.0))
        liability = offset + shared + resid * rng.standard_normal(n)
        eligible = {"female": people.female, "male": ~people.female}.get(spec.get("sex", ""), np.ones(n, dtype=bool))
        prob = np.zeros(n)
        present = np.zeros(n, dtype=bool)
        for b, target in enumerate(spec["targets"]):
            idx = band == b
            elig = idx & eligible
            # A sex-restricted condition's target is the prevalence within that sex.
            tau = _solve_threshold(offset[elig], target)
            prob[elig] = norm.cdf(offset[elig] - tau)
            present[elig] = liability[elig] > tau
        has[name] = present
        probability[name] = prob
        # Time since diagnosis ~ exponential (mean 7 years chronic, 4 years cancer), never before age 18.
        mean_years = 4.0 if name in CANCERS else 7.0
        duration = np.minimum(rng.exponential(mean_years, n), people.age - 18.0)
        dates = end - (duration * 365.25).astype("timedelta64[D]")
        onset[name] = np.where(present, dates, np.datetime64("NaT")).astype("datetime64[D]")
    smoker = factors["smoking"] > norm.ppf(1 - 0.36)  # 36% ever-smokers among US adults (NHIS 2019)
    return Conditions(names=tuple(table), has=has, onset=onset, probability=probability, factors=factors, smoker=smoker)


def prevalence_targets() -> dict[str, list[float]]:
    """The stated prevalence target per condition and age band (18-44, 45-64, 65+), from the data table."""
    return {name: list(spec["targets"]) for name, spec in load_table("population")["conditions"].items()}


def condition_code(name: str) -> tuple[str, str]:
    """SNOMED CT code and display of a condition."""
    code, display = load_table("population")["conditions"][name]["snomed"]
    return str(code), str(display)
