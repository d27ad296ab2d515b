"""``carepilot synth`` end to end: files on disk, FHIR validity, concept coverage, determinism, truth."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fhir.resources.R4B import get_fhir_model_class
from typer.testing import CliRunner

from carepilot.bench import run_benchmark
from carepilot.cli.app import app
from carepilot.config import Settings
from carepilot.knowledge.concepts import concept_map
from carepilot.synth.population import SynthOptions, SynthSummary, generate
from tests.conftest import reference

N = 50


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _resources(root: Path) -> list[dict]:
    out: list[dict] = []
    for path in sorted((root / "fhir").rglob("*")):
        if path.suffix == ".json":
            out.extend(e["resource"] for e in orjson.loads(path.read_bytes())["entry"])
        elif path.suffix == ".ndjson":
            out.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
    return out


@pytest.fixture(scope="module")
def bundle_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth-bundle")
    return out, generate(SynthOptions(patients=N, seed=3, out=out, format="bundle", workers=1))


@pytest.fixture(scope="module")
def ndjson_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth-ndjson")
    return out, generate(SynthOptions(patients=N, seed=3, out=out, format="ndjson", workers=2))


@pytest.mark.slow
@pytest.mark.parametrize("run", ["bundle_run", "ndjson_run"])
def test_every_resource_validates_against_fhir_r4b(run: str, request: pytest.FixtureRequest) -> None:
    out, _ = request.getfixturevalue(run)
    failures = []
    resources = _resources(out)
    assert len(resources) > 20 * N
    for resource in resources:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except Exception as exc:  # report every failure, not just the first
            failures.append((resource["resourceType"], resource["id"], str(exc)[:200]))
    assert not failures


def test_bundles_are_transactions_with_urn_uuid_full_urls_and_put_requests(bundle_run: tuple) -> None:
    out, summary = bundle_run
    files = sorted((out / "fhir" / "ehr").glob("*.json"))
    assert len(files) == N
    for path in files[:10]:
        bundle = orjson.loads(path.read_bytes())
        get_fhir_model_class("Bundle").model_validate(bundle)
        assert bundle["type"] == "transaction"
        patients = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        assert [p["id"] for p in patients] == [path.stem]
        for entry in bundle["entry"]:
            res = entry["resource"]
            assert entry["fullUrl"] == f"urn:uuid:{res['id']}"
            assert entry["request"] == {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
    lab_files = list((out / "fhir" / "lab").glob("*.json"))
    assert len(lab_files) == summary.lab_source_patients


def test_every_observation_condition_and_medication_code_is_in_the_concept_map(bundle_run: tuple) -> None:
    out, _ = bundle_run
    cmap = concept_map()
    unmapped: Counter = Counter()
    for r in _resources(out):
        if r["resourceType"] in ("Observation", "Condition"):
            c = r["code"]["coding"][0]
            if cmap.lookup(c["system"], c["code"]) is None:
                unmapped[(c["system"], c["code"])] += 1
        elif r["resourceType"] in ("MedicationRequest", "MedicationDispense"):
            c = r["medicationCodeableConcept"]["coding"][0]
            if cmap.lookup(c["system"], c["code"]) is None and cmap.lookup_drug_text(c.get("display")) is None:
                unmapped[(c["system"], c["code"])] += 1
    assert not unmapped


def test_quantities_use_the_concepts_canonical_or_a_convertible_unit(bundle_run: tuple) -> None:
    from carepilot.domain.units import to_canonical

    out, _ = bundle_run
    cmap = concept_map()
    units: Counter = Counter()
    for r in _resources(out):
        if r["resourceType"] != "Observation" or "valueQuantity" not in r:
            continue
        c = r["code"]["coding"][0]
        concept = cmap.lookup(c["system"], c["code"])
        q = r["valueQuantity"]
        to_canonical(concept.key, q["value"], q["unit"], concept.unit)  # raises when not convertible
        units[(concept.key, q["unit"])] += 1
    assert units[("creatinine", "umol/L")] > 0
    assert units[("hba1c", "mmol/mol")] > 0
    alt_share = units[("creatinine", "umol/L")] / (units[("creatinine", "umol/L")] + units[("creatinine", "mg/dL")])
    assert 0.03 < alt_share < 0.2


@pytest.mark.slow
def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    for fmt in ("bundle", "ndjson"):
        a, b, c = tmp_path / f"{fmt}-a", tmp_path / f"{fmt}-b", tmp_path / f"{fmt}-c"
        # Three chunks of 7: one process and two worker processes must write the same bytes.
        generate(SynthOptions(patients=20, seed=42, out=a, format=fmt, workers=1, chunk_size=7))
        generate(SynthOptions(patients=20, seed=42, out=b, format=fmt, workers=2, chunk_size=7))
        generate(SynthOptions(patients=20, seed=43, out=c, format=fmt, workers=1, chunk_size=7))
        digest_a = _tree_digest(a)
        assert digest_a == _tree_digest(b)
        digest_c = _tree_digest(c)
        shared = set(digest_a) & set(digest_c)
        assert any(digest_a[k] != digest_c[k] for k in shared) or set(digest_a) != set(digest_c)


def test_truth_files_have_the_documented_columns(bundle_run: tuple) -> None:
    out, _ = bundle_run
    expected = {
        "persons": {"person_id", "source", "patient_id"},
        "readmissions": {"patient_id", "encounter_id", "discharge_time", "true_risk", "readmitted"},
        "deterioration": {"patient_id", "drift_start", "event_time"},
        "genotypes": {"patient_id", "gene", "diplotype", "phenotype"},
        "decision_t2d_addon": {
            "patient_id",
            "decision_time",
            "option_given",
            "propensity_glp1",
            "hba1c_6m_glp1",
        },
        "decision_antiplatelet": {"option_given", "propensity_clopidogrel", "mace_risk_12m_ticagrelor"},
        "decision_warfarin": {"option_given", "true_weekly_dose_mg", "inr_day7_warfarin_5mg"},
        "decision_antidepressant": {"option_given", "propensity_mirtazapine", "phq9_12w_sertraline"},
    }
    for name, columns in expected.items():
        schema = pq.read_schema(out / "truth" / f"{name}.parquet")
        assert columns <= set(schema.names), name


def test_readmission_truth_points_at_inpatient_discharges(bundle_run: tuple) -> None:
    out, _ = bundle_run
    readmit = pd.read_parquet(out / "truth" / "readmissions.parquet")
    assert len(readmit) > 0
    assert readmit["true_risk"].between(0, 1).all()
    encounters = {r["id"]: r for r in _resources(out) if r["resourceType"] == "Encounter"}
    admissions: dict[str, list[pd.Timestamp]] = {}
    for enc in encounters.values():
        if enc["class"]["code"] == "IMP":
            ref = enc["subject"]["reference"].split("/")[1]
            admissions.setdefault(ref, []).append(pd.Timestamp(enc["period"]["start"]))
    for row in readmit.itertuples():
        enc = encounters[row.encounter_id]
        assert enc["class"]["code"] == "IMP"
        assert "dischargeDisposition" in enc["hospitalization"]
        if row.x_follow_up_complete:
            # The label in the truth is what the record shows: an admission within 30 days of discharge.
            later = [
                t
                for t in admissions[row.patient_id]
                if row.discharge_time < t <= row.discharge_time + pd.Timedelta(days=30)
            ]
            assert bool(later) == row.readmitted


def test_the_record_shows_the_option_given_and_its_potential_outcome(tmp_path: Path) -> None:
    out = tmp_path / "dec"
    generate(SynthOptions(patients=150, seed=9, out=out, workers=1, streams=False))
    truth = pd.read_parquet(out / "truth" / "decision_t2d_addon.parquet")
    assert len(truth) > 3
    classes = {
        "sglt2": {"empagliflozin", "dapagliflozin"},
        "glp1": {"semaglutide", "dulaglutide", "liraglutide"},
        "dpp4": {"sitagliptin", "linagliptin"},
        "su": {"glipizide", "glimepiride"},
    }
    for row in truth.itertuples():
        bundle = orjson.loads((out / "fhir" / "ehr" / f"{row.patient_id}.json").read_bytes())
        res = [e["resource"] for e in bundle["entry"]]
        decided = row.decision_time.strftime("%Y-%m-%d")
        drugs = {
            r["medicationCodeableConcept"]["text"]
            for r in res
            if r["resourceType"] == "MedicationRequest" and r["authoredOn"].startswith(decided)
        }
        assert drugs & classes[row.option_given]
        a1c = [
            r["valueQuantity"]["value"]
            for r in res
            if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "4548-4"
        ]
        given = getattr(row, f"hba1c_6m_{row.option_given}")
        assert round(given, 1) in a1c
        assert round(row.x_hba1c, 1) in a1c
    p2y12 = pd.read_parquet(out / "truth" / "decision_antiplatelet.parquet")
    assert len(p2y12) > 0
    for row in p2y12.itertuples():
        bundle = orjson.loads((out / "fhir" / "ehr" / f"{row.patient_id}.json").read_bytes())
        drugs = {
            e["resource"]["medicationCodeableConcept"]["text"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "MedicationRequest"
            and e["resource"]["authoredOn"] >= row.decision_time.strftime("%Y-%m-%d")
        }
        assert row.option_given in drugs
    phq = pd.read_parquet(out / "truth" / "decision_antidepressant.parquet")
    assert len(phq) > 0
    for row in phq.itertuples():
        bundle = orjson.loads((out / "fhir" / "ehr" / f"{row.patient_id}.json").read_bytes())
        scores = [
            e["resource"]["valueQuantity"]["value"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
            and e["resource"]["code"]["coding"][0]["code"] == "44261-6"
        ]
        assert round(getattr(row, f"phq9_12w_{row.option_given}")) in scores


def test_lab_source_persons_map_to_ehr_persons_with_different_ids(bundle_run: tuple) -> None:
    out, summary = bundle_run
    persons = pd.read_parquet(out / "truth" / "persons.parquet")
    lab = persons[persons.source == "lab"]
    ehr = persons[persons.source == "ehr"].set_index("person_id")
    assert len(lab) == summary.lab_source_patients
    for row in lab.itertuples():
        assert row.patient_id != ehr.loc[row.person_id, "patient_id"]
        bundle = orjson.loads((out / "fhir" / "lab" / f"{row.patient_id}.json").read_bytes())
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        ehr_bundle = orjson.loads((out / "fhir" / "ehr" / f"{ehr.loc[row.person_id, 'patient_id']}.json").read_bytes())
        ehr_patient = next(e["resource"] for e in ehr_bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        assert patient["identifier"][0]["system"] != ehr_patient["identifier"][0]["system"]
        assert patient["gender"] == ehr_patient["gender"]


def test_streams_have_the_documented_schema_and_units(bundle_run: tuple) -> None:
    out, summary = bundle_run
    table = pq.read_table(out / "streams" / "readings.parquet")
    assert table.schema.names == ["patient_id", "type", "time", "value", "unit", "device"]
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    df = table.to_pandas()
    assert len(df) == summary.readings > 0
    expected_units = {
        "heart_rate": "/min",
        "steps": "/d",
        "spo2": "%",
        "weight": "kg",
        "cgm_glucose": "mg/dL",
        "systolic_bp": "mm[Hg]",
        "diastolic_bp": "mm[Hg]",
    }
    for kind, unit in df.groupby("type")["unit"].first().items():
        assert expected_units[kind] == unit
    hr = df[df.type == "heart_rate"]
    assert hr["value"].between(35, 190).all()
    cgm = df[df.type == "cgm_glucose"]
    if len(cgm):
        gaps = cgm.groupby("patient_id")["time"].diff().dropna().dt.total_seconds()
        assert (gaps == 300).all()


@pytest.mark.slow
def test_deterioration_is_preceded_by_drift_in_the_streams(tmp_path: Path) -> None:
    out = tmp_path / "det"
    generate(SynthOptions(patients=600, seed=21, out=out, workers=1))
    det = pd.read_parquet(out / "truth" / "deterioration.parquet")
    readings = pd.read_parquet(out / "streams" / "readings.parquet")
    hr = readings[readings.type == "heart_rate"]
    rises = []
    for row in det.itertuples():
        mine = hr[hr.patient_id == row.patient_id]
        if mine.empty:
            continue
        before = mine[mine.time < row.drift_start]["value"].mean()
        late = mine[(mine.time > row.event_time - pd.Timedelta(days=1)) & (mine.time <= row.event_time)]["value"]
        if len(late) and before == before:
            rises.append(late.mean() - before)
    assert len(rises) >= 3
    assert sum(rises) / len(rises) > 5.0


def test_vcf_carries_the_defining_positions_of_each_allele(tmp_path: Path) -> None:
    data = reference("pharmcat", "main", "definition", "alleles")
    out = tmp_path / "vcf"
    summary = generate(
        SynthOptions(patients=40, seed=2, out=out, vcf=True, streams=False, workers=1, reference_data=data.parents[3])
    )
    assert summary.vcf_files == 40
    genotypes = pd.read_parquet(out / "truth" / "genotypes.parquet")
    c19 = genotypes[genotypes.gene == "CYP2C19"]
    translation = json.loads((data / "CYP2C19_translation.json").read_text())
    star2 = next(a for a in translation["namedAlleles"] if a["name"] == "*2")
    position = 94781859  # rs4244285, c.681G>A, the *2 splice defect
    assert position in star2["corePositions"]
    for row in c19.itertuples():
        text = (out / "vcf" / f"{row.patient_id}.vcf").read_text()
        assert text.startswith("##fileformat=VCFv4.2")
        line = next(ln for ln in text.splitlines() if ln.startswith(f"chr10\t{position}\t"))
        gt = line.split("\t")[-1]
        copies = row.diplotype.split("/").count("*2")
        assert gt == {0: "0/0", 1: "0/1", 2: "1/1"}[copies]


def test_vcf_is_skipped_with_a_message_when_allele_definitions_are_absent(tmp_path: Path) -> None:
    summary = generate(
        SynthOptions(
            patients=3,
            seed=2,
            out=tmp_path / "o",
            vcf=True,
            streams=False,
            reference_data=tmp_path / "nowhere",
        )
    )
    assert summary.vcf_files == 0
    assert summary.vcf_note and "not found" in summary.vcf_note


def test_cli_writes_a_population_and_a_json_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["synth", "--patients", "8", "--seed", "1", "--out", str(tmp_path / "cli"), "--years", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["patients"] == 8
    assert len(list((tmp_path / "cli" / "fhir" / "ehr").glob("*.json"))) == 8


def test_cli_rejects_a_bad_format_with_exit_code_2(tmp_path: Path) -> None:
    import sys

    from carepilot.cli.app import main

    argv = sys.argv
    sys.argv = ["carepilot", "synth", "--patients", "2", "--out", str(tmp_path), "--format", "xml"]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = argv
    assert exc.value.code == 2


def test_the_synth_benchmark_runs_and_reports_its_metrics(settings: Settings) -> None:
    report = run_benchmark("synth", settings, {"patients": "10", "years": "1"})
    for key in ("patients", "seconds", "patients_per_s", "peak_rss_mb"):
        assert key in report.metrics
    assert report.metrics["patients"] == 10
    assert report.metrics["patients_per_s"] > 0
