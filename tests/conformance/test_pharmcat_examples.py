"""Conformance: the reference tool's example VCFs give its expected diplotypes, scores and phenotypes."""

from __future__ import annotations

import json

import pytest

from carepilot.config import Settings
from carepilot.knowledge.pgx.catalog import load_catalog
from carepilot.knowledge.pgx.insights import pgx_insights
from carepilot.knowledge.pgx.report import as_measurements, interpret
from carepilot.knowledge.pgx.vcf import read_vcf
from tests.conftest import REFERENCE_DATA, reference


@pytest.fixture(scope="module")
def catalog():
    reference("pharmcat", "main", "definition", "alleles")
    return load_catalog(REFERENCE_DATA)


@pytest.mark.parametrize("example", ["pharmcat.example", "pharmcat.example2"])
def test_example_vcf_matches_expected_diplotypes_and_phenotypes(catalog, example: str):
    folder = reference("pharmcat", "docs", "examples")
    results = interpret(catalog, read_vcf(folder / f"{example}.vcf"))
    expected = json.loads((folder / f"{example}.match.json").read_text())
    phenotypes = json.loads((folder / f"{example}.phenotype.json").read_text())["geneReports"]
    compared = 0
    for gene_call in expected["results"]:
        gene = gene_call["gene"]
        result = results[gene]
        want = [(d["name"], d["score"]) for d in gene_call["diplotypes"]]
        assert [(d.name, d.score) for d in result.call.diplotypes] == want, gene
        assert list(result.call.missing_positions) == [], gene
        wanted_phenotypes = {p for d in phenotypes[gene]["sourceDiplotypes"] for p in d["phenotypes"]}
        if gene in catalog.tables and wanted_phenotypes:
            assert {result.phenotype.phenotype} == wanted_phenotypes, gene
        compared += 1
    assert compared == 19


def test_cyp2d6_is_not_called_from_the_vcf_as_in_the_reference_tool(catalog):
    folder = reference("pharmcat", "docs", "examples")
    results = interpret(catalog, read_vcf(folder / "pharmcat.example2.vcf"))
    assert not results["CYP2D6"].call.called


def test_the_benchmark_meets_its_target(catalog):
    reference("pharmcat", "docs", "examples")
    from carepilot.bench import run_benchmark

    report = run_benchmark("pgx", Settings(reference_data=REFERENCE_DATA), {})
    assert report.metrics["diplotype_match_rate"] == 1.0
    assert report.metrics["phenotype_match_rate"] == 1.0
    assert "CYP2D6" in report.metrics["genes_not_covered"]


def test_example2_vcf_feeds_an_order_check_through_the_profile(catalog):
    from datetime import UTC, datetime

    from carepilot.domain.profile import Demographics, PatientProfile

    folder = reference("pharmcat", "docs", "examples")
    results = interpret(catalog, read_vcf(folder / "pharmcat.example2.vcf"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    measurements = as_measurements(results, "Sample_2", now)
    assert any(m.text_value == "CYP2C19 *2/*2" for m in measurements)
    profile = PatientProfile(Demographics("synthetic-vcf", None, None), now, measurements=tuple(measurements))
    [insight] = pgx_insights(profile, ["clopidogrel"], tables=catalog.tables)
    assert insight.severity.value == "critical"
