"""PGx Insights for an order: lab-reported genotypes on the profile, CPIC guidance, draft alternatives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest

from carepilot.domain.insight import InsightKind, Severity
from carepilot.domain.profile import Coding, Demographics, Measurement, PatientProfile
from carepilot.knowledge.pgx.catalog import load_catalog
from carepilot.knowledge.pgx.insights import evaluate, pgx_insights
from carepilot.knowledge.pgx.record import (
    ReportedGenotypeError,
    genotype_measurement,
    parse_reported,
    reported_results,
)
from tests.conftest import REFERENCE_DATA, reference
from tests.unit.test_pgx_phenotype import CYP2C19

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def patient(*texts: str, when: datetime = NOW - timedelta(days=30)) -> PatientProfile:
    measurements = tuple(genotype_measurement(f"obs-{i}", text, when) for i, text in enumerate(texts))
    return PatientProfile(Demographics("synthetic-1", None, None), NOW, measurements=measurements)


def test_cyp2c19_poor_metabolizer_ordering_clopidogrel_gets_an_alternative_with_the_cpic_citation():
    [insight] = pgx_insights(patient("CYP2C19 *2/*2"), ["clopidogrel"], tables={"CYP2C19": CYP2C19})
    assert insight.kind == InsightKind.PGX
    assert insight.severity == Severity.CRITICAL
    assert "Poor Metabolizer" in insight.title and len(insight.title) < 140
    assert insight.evidence[0].url == "https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/"
    assert "PMID 35034351" in insight.evidence[0].citation
    assert insight.evidence[0].level is not None and "Strong" in insight.evidence[0].level
    assert insight.confidence.level == "CPIC Strong" and "Strong" in insight.confidence.statement
    assert insight.source.id.startswith("carepilot.pgx.cpic:") and insight.source.version
    assert insight.explanation[0].label == "CYP2C19 *2/*2"
    drugs = {a["medicationCodeableConcept"]["text"] for a in insight.actions}
    assert drugs == {"prasugrel", "ticagrelor"}
    for action in insight.actions:
        assert action["status"] == "draft" and action["intent"] == "proposal"
        assert action["subject"] == {"reference": "Patient/synthetic-1"}
        MedicationRequest.model_validate(action)  # a valid FHIR R4 resource


def test_normal_metabolizer_gives_no_alert_unless_info_is_asked_for():
    profile = patient("CYP2C19 *1/*1")
    assert pgx_insights(profile, ["clopidogrel"], tables={"CYP2C19": CYP2C19}) == []
    [info] = pgx_insights(profile, ["clopidogrel"], tables={"CYP2C19": CYP2C19}, include_info=True)
    assert info.severity == Severity.INFO and info.actions == ()


def test_drug_with_guidance_but_no_genotype_is_declined_with_a_reason():
    result = evaluate(patient(), ["clopidogrel", "metformin"], tables={"CYP2C19": CYP2C19})
    assert result.insights == ()
    [declined] = result.declined
    assert declined.engine == "pgx" and "CYP2C19" in declined.reason


def test_codeine_ultrarapid_uses_the_built_in_cyp2d6_table():
    [insight] = pgx_insights(patient("CYP2D6 *1/*1x2"), ["codeine"], tables={})
    assert insight.severity == Severity.CRITICAL
    assert insight.value == 3.0 and insight.unit == "activity score"


def test_lab_reported_phenotype_is_used_when_no_diplotype_is_reported():
    phenotype = Measurement(
        resource_id="obs-p",
        concept="pgx_phenotype",
        code=Coding("http://loinc.org", "79716-7", "CYP2D6 phenotype"),
        effective=NOW - timedelta(days=1),
        value=None,
        unit=None,
        text_value="CYP2D6 Poor Metabolizer",
    )
    profile = PatientProfile(Demographics("synthetic-2", None, None), NOW, measurements=(phenotype,))
    [insight] = pgx_insights(profile, ["tramadol"], tables={})
    assert insight.severity == Severity.CRITICAL


def test_latest_report_wins_and_results_after_as_of_are_ignored():
    measurements = (
        genotype_measurement("old", "CYP2C19 *1/*1", NOW - timedelta(days=400)),
        genotype_measurement("new", "CYP2C19 *2/*2", NOW - timedelta(days=10)),
        genotype_measurement("future", "CYP2C19 *1/*17", NOW + timedelta(days=10)),
    )
    profile = PatientProfile(Demographics("synthetic-3", None, None), NOW, measurements=measurements)
    result = reported_results(profile)["CYP2C19"]
    assert (result.value, result.resource_id) == ("*2/*2", "new")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CYP2C19 *2/*2", ("CYP2C19", "*2/*2")),
        ("CYP2C19*1/*17", ("CYP2C19", "*1/*17")),
        ("CYP2D6: *1/*4", ("CYP2D6", "*1/*4")),
        ("VKORC1 -1639G>A G/A", ("VKORC1", "-1639 AG")),
        ("VKORC1 rs9923231 T/T", ("VKORC1", "-1639 AA")),
    ],
)
def test_reported_genotype_texts_are_parsed(text: str, expected: tuple[str, str]):
    assert parse_reported(text) == expected


def test_unreadable_genotype_text_is_an_input_error():
    with pytest.raises(ReportedGenotypeError, match="obs-9"):
        parse_reported("positive", "obs-9")


def test_cyp2c19_star2_homozygote_with_clopidogrel_using_the_cpic_tables():
    reference("pharmcat", "main", "phenotype", "CYP2C19.json")
    tables = load_catalog(REFERENCE_DATA, with_definitions=False).tables
    [insight] = pgx_insights(patient("CYP2C19 *2/*2"), ["clopidogrel"], tables=tables)
    assert insight.severity == Severity.CRITICAL
    assert {a["medicationCodeableConcept"]["text"] for a in insight.actions} == {"prasugrel", "ticagrelor"}
    warfarin = pgx_insights(patient("CYP2C9 *1/*3", "VKORC1 A/A"), ["warfarin"], tables=tables)
    assert [i.severity for i in warfarin] == [Severity.WARNING]
