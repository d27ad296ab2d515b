"""The ``carepilot pgx`` commands, run in-process."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from carepilot.cli.app import app
from carepilot.cli.console import settings
from tests.conftest import REFERENCE_DATA, reference

# CYP2C19 *2 defining sites (GRCh38), homozygous variant; every other pharmacogene position is absent.
STAR2_VCF = (
    "##fileformat=VCFv4.2\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    "chr10\t94775367\trs12769205\tA\tG\t.\tPASS\t.\tGT\t1/1\n"
    "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t1/1\n"
    "chr10\t94842866\trs3758581\tA\tG\t.\tPASS\t.\tGT\t1/1\n"
)


def run(home: Path, *args: str):
    settings.cache_clear()
    env = {"CAREPILOT_HOME": str(home), "CAREPILOT_REFERENCE_DATA": str(REFERENCE_DATA), "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    settings.cache_clear()
    return result


def test_guidance_for_a_poor_metabolizer_proposes_alternatives(tmp_path: Path):
    reference("pharmcat", "main", "phenotype")
    result = run(tmp_path, "pgx", "guidance", "--diplotype", "CYP2C19=*2/*2", "--drug", "clopidogrel", "--json")
    assert result.exit_code == 0, result.output
    payload = orjson.loads(result.stdout)
    [insight] = payload["insights"]
    assert insight["severity"] == "critical" and insight["kind"] == "pgx"
    assert {a["medicationCodeableConcept"]["text"] for a in insight["actions"]} == {"prasugrel", "ticagrelor"}
    assert payload["phenotypes"][0]["phenotype"] == "Poor Metabolizer"


def test_guidance_without_drug_covers_every_drug_the_gene_informs(tmp_path: Path):
    reference("pharmcat", "main", "phenotype")
    result = run(tmp_path, "pgx", "guidance", "-d", "CYP2D6=*4/*4")
    assert result.exit_code == 0, result.output
    assert "Codeine" in result.stdout and "Tramadol" in result.stdout


def test_guidance_rejects_a_malformed_diplotype_option(tmp_path: Path):
    result = run(tmp_path, "pgx", "guidance", "-d", "CYP2C19")
    assert result.exit_code != 0


def test_call_reports_diplotype_and_missing_positions(tmp_path: Path):
    reference("pharmcat", "main", "definition", "alleles")
    vcf = tmp_path / "star2.vcf"
    vcf.write_text(STAR2_VCF)
    result = run(tmp_path, "pgx", "call", str(vcf), "--json")
    assert result.exit_code == 0, result.output
    genes = {g["gene"]: g for g in orjson.loads(result.stdout)["genes"]}
    cyp2c19 = genes["CYP2C19"]
    assert cyp2c19["diplotypes"] == ["*2/*2"]
    assert cyp2c19["phenotype"] == "Poor Metabolizer"
    assert len(cyp2c19["missing_positions"]) > 20
    assert not genes["TPMT"]["called"] and "no genotype" in genes["TPMT"]["reason"]
    assert not genes["CYP2D6"]["called"]


def test_call_table_output_names_each_gene(tmp_path: Path):
    reference("pharmcat", "main", "definition", "alleles")
    vcf = tmp_path / "star2.vcf"
    vcf.write_text(STAR2_VCF)
    result = run(tmp_path, "pgx", "call", str(vcf))
    assert result.exit_code == 0, result.output
    assert "CYP2C19" in result.stdout and "*2/*2" in result.stdout
