"""Pure generative pieces of the synthetic population: equations, phenotype rules, builders."""

from __future__ import annotations

import numpy as np
import pytest
from fhir.resources.R4B import get_fhir_model_class

from carepilot.fhir import builders as fb
from carepilot.synth.decisions import iwpc_sqrt_dose
from carepilot.synth.genomics import allele_names, phenotype
from carepilot.synth.outcomes import readmission_risk
from carepilot.synth.physiology import ckd_epi_2021_egfr, creatinine_for_egfr


def _validate(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_ckd_epi_2021_matches_a_published_example() -> None:
    # 60-year-old woman, creatinine 1.0 mg/dL -> 64 mL/min/1.73 m2 (NKF CKD-EPI 2021 calculator).
    assert ckd_epi_2021_egfr(1.0, 60, True) == pytest.approx(64.5, abs=0.6)
    # 50-year-old man, creatinine 0.8 mg/dL -> ~107.
    assert ckd_epi_2021_egfr(0.8, 50, False) == pytest.approx(107, abs=1.5)


@pytest.mark.parametrize("egfr", [8.0, 25.0, 47.0, 75.0, 110.0])
@pytest.mark.parametrize("female", [True, False])
def test_creatinine_inverts_ckd_epi_2021(egfr: float, female: bool) -> None:
    creat = creatinine_for_egfr(egfr, 67.0, female)
    assert ckd_epi_2021_egfr(creat, 67.0, female) == pytest.approx(egfr, rel=1e-9)


def test_iwpc_equation_reproduces_a_hand_calculation() -> None:
    # 65-year-old, 170 cm, 80 kg, VKORC1 A/G, CYP2C9 *1/*3, White, no amiodarone:
    # 5.6044 - 0.2614*6 + 0.0087*170 + 0.0128*80 - 0.8677 - 0.9357 = 4.7356
    value = iwpc_sqrt_dose(
        np.array([65.0]),
        np.array([170.0]),
        np.array([80.0]),
        np.array([1]),
        np.array(["13"]),
        np.array(["white"], dtype=object),
        np.array([False]),
    )
    assert value[0] == pytest.approx(4.7356, abs=1e-4)


@pytest.mark.parametrize(
    ("gene", "pair", "expected"),
    [
        ("CYP2C19", ("*2", "*2"), "Poor Metabolizer"),
        ("CYP2C19", ("*1", "*2"), "Intermediate Metabolizer"),
        ("CYP2C19", ("*2", "*17"), "Intermediate Metabolizer"),
        ("CYP2C19", ("*1", "*17"), "Rapid Metabolizer"),
        ("CYP2C19", ("*17", "*17"), "Ultrarapid Metabolizer"),
        ("CYP2C9", ("*1", "*3"), "Intermediate Metabolizer"),
        ("CYP2C9", ("*2", "*3"), "Poor Metabolizer"),
        ("CYP2D6", ("*4", "*5"), "Poor Metabolizer"),
        ("CYP2D6", ("*4", "*10"), "Intermediate Metabolizer"),
        ("CYP2D6", ("*1", "*41"), "Normal Metabolizer"),
        ("SLCO1B1", ("*1", "*15"), "Decreased Function"),
        ("SLCO1B1", ("*5", "*15"), "Poor Function"),
        ("TPMT", ("*3A", "*3C"), "Poor Metabolizer"),
        ("DPYD", ("Reference", "c.1905+1G>A (*2A)"), "Intermediate Metabolizer"),
        ("VKORC1", ("C", "T"), None),
    ],
)
def test_phenotypes_follow_cpic_rules(gene: str, pair: tuple[str, str], expected: str | None) -> None:
    names = allele_names(gene)
    assert phenotype(gene, names.index(pair[0]), names.index(pair[1])) == expected


def test_readmission_risk_rises_with_heart_failure_and_prior_admissions() -> None:
    base = dict(
        age=70.0,
        comorbidities=2,
        prior_admissions=0,
        hba1c=None,
        egfr=70.0,
        adherence=0.9,
        heart_failure=False,
        copd=False,
        los_days=3.0,
        disposition="home",
    )
    low = readmission_risk(**base)  # type: ignore[arg-type]
    high = readmission_risk(**{**base, "heart_failure": True, "prior_admissions": 2})  # type: ignore[arg-type]
    assert 0.03 < low < high < 0.6


def test_builders_produce_valid_r4_resources() -> None:
    pid = "6f1c8f7e-0000-4000-8000-000000000001"
    resources = [
        fb.organization("6f1c8f7e-0000-4000-8000-000000000009", "Site", "http://example.org/org", "s1"),
        fb.patient(
            pid,
            identifiers=[fb.identifier("http://example.org/mrn", "M1")],
            family="Doe",
            given=["Ann"],
            gender="female",
            birth_date="1950-02-03",
            race=("2106-3", "White"),
            ethnicity=("2186-5", "Not Hispanic or Latino"),
            language=("en-US", "English (United States)"),
            address=fb.address("1 Main St", "Town", "CA", "90000"),
            phone="555-000-0000",
            managing_organization="6f1c8f7e-0000-4000-8000-000000000009",
        ),
        fb.encounter(
            "e1",
            pid,
            class_code="IMP",
            start="2025-01-01T10:00:00Z",
            end="2025-01-04T10:00:00Z",
            type_code=("32485007", "Hospital admission"),
            discharge_disposition=("home", "Home"),
        ),
        fb.observation_components(
            "o1",
            pid,
            code=(fb.LOINC, "85354-9", "BP"),
            effective="2025-01-01T10:00:00Z",
            category="vital-signs",
            components=[fb.component_quantity((fb.LOINC, "8480-6", "SBP"), 120, "mm[Hg]")],
        ),
        fb.genotype_observation(
            "g1",
            pid,
            gene="CYP2C19",
            hgnc_id="HGNC:2621",
            diplotype="*2/*2",
            phenotype="Poor Metabolizer",
            effective="2025-01-01T10:00:00Z",
        ),
        fb.variant_observation(
            "v1",
            pid,
            gene="EGFR",
            hgnc_id="HGNC:3236",
            transcript="NM_005228.5",
            dna_change="c.2573T>G",
            protein_change="p.Leu858Arg",
            somatic=True,
            effective="2025-01-01T10:00:00Z",
        ),
        fb.medication_request(
            "m1",
            pid,
            rxnorm="6809",
            display="metformin",
            authored_on="2025-01-01T10:00:00Z",
            dose_mg=500.0,
            frequency_per_day=2,
            dosage_text="500 mg twice daily",
        ),
        fb.medication_dispense(
            "d1",
            pid,
            request_id="m1",
            rxnorm="6809",
            display="metformin",
            handed_over="2025-01-02T10:00:00Z",
            quantity_units=180,
            days_supply=90,
        ),
        fb.allergy("a1", pid, code=(fb.RXNORM, "7980", "penicillin"), recorded="2020-01-01"),
    ]
    for resource in resources:
        _validate(resource)
    bundle = fb.transaction_bundle("b1", resources, "2025-01-05T00:00:00Z")
    _validate(bundle)
    assert all(
        e["request"] == {"method": "PUT", "url": f"{e['resource']['resourceType']}/{e['resource']['id']}"}
        for e in bundle["entry"]
    )
