"""The synthetic population ingests with zero quarantined records, as bundles and as Bulk NDJSON."""

import pandas as pd
import pytest

from tests.cli import run_json


@pytest.mark.parametrize("fmt", ["bundle", "ndjson"])
def test_every_generated_resource_ingests_with_nothing_quarantined(tmp_path, fmt):
    out = tmp_path / "population"
    home = tmp_path / "home"
    run_json(home, "synth", "--patients", "40", "--seed", "3", "--out", str(out), "--format", fmt, "--no-streams")
    ehr = run_json(home, "ingest", str(out / "fhir" / "ehr"), "--source", "ehr")
    lab = run_json(home, "ingest", str(out / "fhir" / "lab"), "--source", "lab")
    assert ehr["quarantined"] == 0 and lab["quarantined"] == 0, (ehr["quarantine_reasons"], lab["quarantine_reasons"])
    persons = pd.read_parquet(out / "truth" / "persons.parquet")
    assert ehr["patients"] == (persons.source == "ehr").sum() == 40
    assert lab["patients"] == (persons.source == "lab").sum()
    assert len(run_json(home, "patients")) == len(persons)
    quality = run_json(home, "quality")
    units = next(c for c in quality["conformance"] if c["check"].startswith("units that cannot"))
    assert units["count"] == 0
    unmapped = [c for c in quality["conformance"] if c["check"].startswith("codes not in the concept map")]
    assert unmapped and all(c["count"] == 0 for c in unmapped), unmapped
