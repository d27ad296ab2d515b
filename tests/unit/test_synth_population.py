"""Population-level truths of the synthetic population, checked on draws without writing files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from carepilot.errors import InputError
from carepilot.synth.conditions import prevalence_targets
from carepilot.synth.duplicates import DUPLICATE_RATE
from carepilot.synth.people import age_band
from carepilot.synth.population import Population, SynthOptions, draw_population

N = 2000


@pytest.fixture(scope="module")
def population() -> Population:
    pop, _ = draw_population(SynthOptions(patients=N, seed=11, out=Path("unused")))
    return pop


@pytest.fixture(scope="module")
def large() -> tuple[Population, object]:
    """10,000 persons: decisions need a few hundred rows per arm for stable confounding figures."""
    return draw_population(SynthOptions(patients=10_000, seed=5, out=Path("unused")))


def test_prevalence_by_age_band_is_within_three_binomial_standard_errors_of_the_target(
    population: Population,
) -> None:
    people, cond = population.people, population.cond
    band = age_band(people.age)
    misses = []
    for name, targets in prevalence_targets().items():
        for b, target in enumerate(targets):
            idx = band == b
            if name == "breast_cancer":
                idx = idx & people.female
            n = int(idx.sum())
            observed = float(cond.has[name][idx].mean())
            # Stated tolerance: 3 binomial standard errors of the band size plus 0.5 percentage points.
            tolerance = 3.0 * math.sqrt(target * (1 - target) / n) + 0.005
            if abs(observed - target) > tolerance:
                misses.append((name, b, observed, target, tolerance))
    assert not misses


def test_conditions_co_occur_more_than_independence_predicts(population: Population) -> None:
    has = population.cond.has
    joint = float((has["hypertension"] & has["type2_diabetes"]).mean())
    independent = float(has["hypertension"].mean() * has["type2_diabetes"].mean())
    assert joint > 1.3 * independent


def test_sites_differ_in_case_mix(population: Population) -> None:
    people = population.people
    mean_age = [people.age[people.site == k].mean() for k in range(3)]
    asian_share = [(people.race[people.site == k] == "asian").mean() for k in range(3)]
    assert max(mean_age) - min(mean_age) > 4.0
    assert max(asian_share) - min(asian_share) > 0.1


def test_duplicate_persons_in_the_lab_source_occur_at_the_stated_rate(population: Population) -> None:
    _, ctx = draw_population(SynthOptions(patients=N, seed=11, out=Path("unused")))
    rate = len(ctx.lab_people) / N
    tolerance = 3.0 * math.sqrt(DUPLICATE_RATE * (1 - DUPLICATE_RATE) / N)
    assert abs(rate - DUPLICATE_RATE) < tolerance
    ehr_ids = set(population.people.patient_id)
    assert not ehr_ids & {lp.patient_id for lp in ctx.lab_people.values()}
    noisy = [lp for i, lp in ctx.lab_people.items() if lp.noise != "none"]
    assert len(noisy) > 0.3 * len(ctx.lab_people)
    swapped = [(i, lp) for i, lp in ctx.lab_people.items() if "day_month_swapped" in lp.noise]
    for i, lp in swapped:
        y, m, d = str(population.people.birth_date[i]).split("-")
        assert lp.birth_date == f"{y}-{d}-{m}"


@pytest.mark.slow
def test_treatment_effects_are_heterogeneous_and_assignment_is_confounded(large: tuple) -> None:
    pop, _ = large
    decisions = {d.name: d for d in pop.decisions}
    # (treated, control, floor for the SD of individual effects, floor for the confounding bias): the bias is
    # the naive difference expected under the true propensities minus the true ATE (docs: "Decisions").
    stated = {
        "t2d_addon": ("glp1", "dpp4", 0.15, 0.15),
        "antiplatelet": ("ticagrelor", "clopidogrel", 0.02, 0.03),
        "antidepressant": ("mirtazapine", "sertraline", 0.5, 0.2),
    }
    for name, (treated, control, sd_floor, bias_floor) in stated.items():
        d = decisions[name]
        effects = d.individual_effects(treated, control)
        bias = d.expected_naive_difference(treated, control) - effects.mean()
        assert effects.std() > sd_floor, name
        assert abs(bias) > bias_floor, name
        # The realised naive difference (one draw of the assignment) is off in the same direction.
        assert np.sign(d.naive_difference(treated, control) - effects.mean()) == np.sign(bias), name
        # Propensities are probabilities that sum to one and depend on covariates.
        assert np.allclose(d.propensity.sum(axis=1), 1.0)
        assert d.propensity.std(axis=0).max() > 0.05


@pytest.mark.slow
def test_cyp2c19_poor_metabolisers_do_worse_on_clopidogrel(large: tuple) -> None:
    pop, _ = large
    d = next(x for x in pop.decisions if x.name == "antiplatelet")
    pheno = d.covariates["cyp2c19_phenotype"]
    harm = d.individual_effects("clopidogrel", "ticagrelor")
    assert harm[pheno == "Poor Metabolizer"].mean() > harm[pheno == "Normal Metabolizer"].mean() + 0.02


@pytest.mark.slow
def test_sglt2_lowers_hba1c_less_when_egfr_is_low(large: tuple) -> None:
    pop, _ = large
    d = next(x for x in pop.decisions if x.name == "t2d_addon")
    drop = d.potential["hba1c_6m"][:, d.options.index("sglt2")] - d.covariates["hba1c"]
    low = d.covariates["egfr"] < 45
    assert low.sum() > 10
    assert drop[low].mean() > drop[~low].mean() + 0.2


def test_bad_options_raise_input_errors() -> None:
    with pytest.raises(InputError, match="--patients"):
        SynthOptions(patients=0, seed=1, out=Path("x")).validate()
    with pytest.raises(InputError, match="--format"):
        SynthOptions(patients=5, seed=1, out=Path("x"), format="xml").validate()
    with pytest.raises(InputError, match="end date"):
        SynthOptions(patients=5, seed=1, out=Path("x"), end_date="yesterday").validate()
