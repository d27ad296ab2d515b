"""``carepilot score`` on the store: consent is honoured, Parquet outputs and the views are written."""

import pandas as pd

from carepilot.domain.consent import CONSENT_PURPOSE_SYSTEM
from tests.cli import run, run_json
from tests.integration.test_bulk_export import write_ndjson
from tests.samples import condition, observation, patient


def test_patients_who_opted_out_of_decision_support_are_not_scored(tmp_path):
    resources = [
        r
        for pid in ("p1", "p2", "p3")
        for r in (patient(pid), observation(f"o-{pid}", pid), condition(f"c-{pid}", pid))
    ]
    resources.append(
        {
            "resourceType": "Consent",
            "id": "consent-p2",
            "status": "active",
            "scope": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": "Patient/p2"},
            "dateTime": "2026-01-01",
            "provision": {"type": "deny", "purpose": [{"system": CONSENT_PURPOSE_SYSTEM, "code": "decision_support"}]},
        }
    )
    write_ndjson(tmp_path / "in" / "data.ndjson", resources)
    home = tmp_path / "home"
    run_json(home, "ingest", str(tmp_path / "in"))
    out = tmp_path / "scores"
    summary = run_json(home, "score", "--insights", "none", "--out", str(out), "--as-of", "2026-01-01")
    assert summary["patients"] == 2 and summary["excluded_by_consent"] == 1
    assert summary["models"] == [] and summary["scores"] == 0
    features = pd.read_parquet(out / "features.parquet")
    assert sorted(features["patient_id"]) == ["p1", "p3"]
    demographics = pd.read_parquet(out / "views" / "patient_demographics.parquet")
    assert sorted(demographics["patient_id"]) == ["p1", "p3"]
    assert summary["view_rows"]["observations"] == 2


def test_an_unknown_engine_is_refused(tmp_path):
    result = run(tmp_path / "home", "score", "--engine", "flink")
    assert result.exit_code == 2 and "--engine" in result.stderr
