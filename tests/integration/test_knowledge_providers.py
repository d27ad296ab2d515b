"""Knowledge engines answer through the InsightService for patients read from the store."""

from datetime import UTC, datetime, timedelta

import orjson

from carepilot.bootstrap import open_store
from carepilot.config import Settings
from carepilot.domain.insight import InsightKind
from carepilot.fhir.builders import genotype_observation
from carepilot.insights.providers import knowledge_providers
from carepilot.insights.service import InsightContext, InsightService
from carepilot.store.profiles import load_profile
from tests import samples
from tests.cli import run_json
from tests.conftest import REFERENCE_DATA, reference

NOW = datetime.now(UTC)


def _store(tmp_path, resources):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "patient.json"
    path.write_bytes(orjson.dumps(samples.bundle(resources)))
    home = tmp_path / "home"
    run_json(home, "ingest", str(path))
    _, repo = open_store(Settings(home=home, reference_data=REFERENCE_DATA))
    return repo


def test_a_cyp2c19_poor_metaboliser_ordering_clopidogrel_gets_an_alternative_with_the_cpic_citation(tmp_path):
    reference("pharmcat", "main", "phenotype")
    genotype = genotype_observation(
        "g1", "pat-1", gene="CYP2C19", hgnc_id="HGNC:2621", diplotype="*2/*2", phenotype=None, effective="2024-01-01"
    )
    repo = _store(tmp_path, [samples.patient(), genotype])
    profile = load_profile(repo, "pat-1")
    service = InsightService(knowledge_providers(REFERENCE_DATA))
    result = service.for_patient(profile, InsightContext(hook="order-select", ordered_concepts=("clopidogrel",)))
    pgx = [i for i in result.insights if i.kind is InsightKind.PGX]
    assert pgx, result
    insight = pgx[0]
    assert "clopidogrel" in insight.title.lower()
    assert any("cpicpgx.org" in (e.url or "") or "CPIC" in e.citation for e in insight.evidence)
    drafts = {a["medicationCodeableConcept"]["text"].lower() for a in insight.actions}
    assert drafts & {"prasugrel", "ticagrelor"}
    assert all(a["status"] == "draft" and a["intent"] == "proposal" for a in insight.actions)


def test_a_patient_on_amiodarone_starting_warfarin_gets_the_interaction_and_a_reduced_dose(tmp_path):
    started = (NOW - timedelta(days=400)).date().isoformat()
    amiodarone = samples.medication_request("m-amio", rxnorm="703", authored=started)
    amiodarone["medicationCodeableConcept"]["coding"][0]["display"] = "amiodarone"
    height = samples.observation("h", loinc="8302-2", value=170.0, unit="cm", when="2024-01-01T00:00:00Z")
    weight = samples.observation("w", loinc="29463-7", value=80.0, unit="kg", when="2024-01-01T00:00:00Z")
    with_amio = _store(tmp_path / "a", [samples.patient(), amiodarone, height, weight])
    without = _store(tmp_path / "b", [samples.patient(), height, weight])
    service = InsightService(knowledge_providers(REFERENCE_DATA))
    context = InsightContext(hook="order-sign", ordered_concepts=("warfarin",))
    result = service.for_patient(load_profile(with_amio, "pat-1"), context)
    baseline = service.for_patient(load_profile(without, "pat-1"), context)
    interactions = [i for i in result.insights if i.kind is InsightKind.INTERACTION]
    assert any("amiodarone" in i.title.lower() for i in interactions)
    dose = next(i for i in result.insights if i.kind is InsightKind.DOSE)
    dose_without = next(i for i in baseline.insights if i.kind is InsightKind.DOSE)
    assert dose.value is not None and dose_without.value is not None
    assert dose.value < dose_without.value
