"""Train the readmission model on an ingested synthetic population and get explained Insights back."""

import orjson
import pytest

from tests.cli import run, run_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    home, out = root / "home", root / "population"
    run_json(home, "synth", "--patients", "1100", "--seed", "21", "--out", str(out), "--no-streams")
    run_json(home, "ingest", str(out / "fhir" / "ehr"))
    trained = run_json(home, "train", "readmission", "--folds", "3")
    return home, trained


def test_training_registers_a_checksummed_model_with_a_full_model_card(population):
    home, trained = population
    assert trained["model"] == "readmission" and trained["version"] == "1" and len(trained["sha256"]) == 64
    assert trained["discharges"] >= 100 and set(trained["cross_validated"]) == {"logistic", "lightgbm"}
    card = orjson.loads((home / "models" / "readmission" / "1" / "card.json").read_bytes())
    assert card["version"] == "1"
    attributes = card["hti1_source_attributes"]
    assert len(attributes) == 31 and all(a["value"] for a in attributes)
    assert card["subgroups"] and card["metrics"]["auroc"] == trained["cross_validated"][trained["estimator"]]["auroc"]


def test_a_recently_discharged_patient_gets_an_explained_risk_insight(population):
    home, _ = population
    for patient in run_json(home, "patients"):
        out = run_json(home, "insights", patient["patient_id"])
        risks = [i for i in out["insights"] if i["kind"] == "risk"]
        if risks:
            risk = risks[0]
            assert 0.0 <= risk["value"] <= 1.0
            assert risk["source"]["id"] == "readmission" and risk["source"]["version"] == "1"
            assert risk["explanation"] and risk["confidence"]["statement"]
            return
    pytest.fail("no patient with an inpatient stay got a risk Insight")


def test_a_tampered_model_file_is_never_loaded(population):
    home, _ = population
    artefact = home / "models" / "readmission" / "1" / "model.joblib"
    original = artefact.read_bytes()
    try:
        artefact.write_bytes(original + b"tampered")
        patient = next(p for p in run_json(home, "patients"))
        out = run_json(home, "insights", patient["patient_id"])
        assert not [i for i in out["insights"] if i["kind"] == "risk"]
    finally:
        artefact.write_bytes(original)


def test_a_decision_with_too_few_patients_is_refused_with_the_counts(population):
    home, _ = population
    result = run(home, "train", "antiplatelet-acs")
    assert result.exit_code == 1 and "too few patients per option" in result.stderr
