"""Prefetch handling: transient profiles from prefetched or fetched resources; 412-worthy gaps named."""

from __future__ import annotations

import httpx
import pytest

from carepilot.errors import InputError
from carepilot.fhir.client import FhirClient, FhirFetchError
from carepilot.insights.hooks import ordered_concepts
from carepilot.insights.prefetch import DataUnavailable, gather_resources, render_template, transient_profile
from tests import cds_support as cs

CONTEXT = {"patientId": cs.DIABETIC, "userId": "Practitioner/1"}


def test_templates_render_context_tokens_and_refuse_missing_ones():
    assert render_template("Condition?patient={{context.patientId}}", CONTEXT) == f"Condition?patient={cs.DIABETIC}"
    with pytest.raises(DataUnavailable, match="encounterId"):
        render_template("Encounter/{{context.encounterId}}", CONTEXT)


def test_a_transient_profile_from_prefetch_matches_the_data():
    resources = gather_resources(cs.prefetch_for(cs.population(), cs.DIABETIC), CONTEXT, None)
    profile = transient_profile(resources, cs.DIABETIC)
    assert profile.has_condition("type2_diabetes") and profile.has_condition("hypertension")
    assert profile.latest_value("hba1c") == pytest.approx(10.4)
    assert {m.concept for m in profile.active_medications()} == {"metformin", "lisinopril"}


def test_missing_prefetch_without_a_fhir_server_is_unavailable():
    prefetch = cs.prefetch_for(cs.population(), cs.DIABETIC)
    prefetch["observations"] = None  # the client could not prefetch it
    with pytest.raises(DataUnavailable, match="observations"):
        gather_resources(prefetch, CONTEXT, None)


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_the_bearer_token():
    population = cs.population()
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path + "?" + request.url.query.decode(), request.headers.get("authorization")))
        if request.url.path.endswith(f"/Patient/{cs.DIABETIC}"):
            return httpx.Response(200, json=next(r for r in population if r["id"] == cs.DIABETIC))
        rtype = request.url.path.rsplit("/", 1)[1]
        entries = [{"resource": r} for r in population if r["resourceType"] == rtype and cs._owner(r) == cs.DIABETIC]
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries})

    with FhirClient("https://ehr.example/fhir", "tok-123", transport=httpx.MockTransport(handler)) as client:
        resources = gather_resources(None, CONTEXT, client.resources)
    profile = transient_profile(resources, cs.DIABETIC)
    assert profile.has_condition("type2_diabetes")
    assert all(auth == "Bearer tok-123" for _, auth in seen)
    assert f"/fhir/Condition?patient={cs.DIABETIC}" in [path for path, _ in seen]


def test_search_paging_follows_next_links():
    pages = {
        "1": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Condition", "id": "a"}}],
            "link": [{"relation": "next", "url": "https://ehr.example/fhir/Condition?page=2"}],
        },
        "2": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": "Condition", "id": "b"}}],
        },
    }
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=pages[r.url.params.get("page", "1")]))
    with FhirClient("https://ehr.example/fhir", transport=transport) as client:
        assert [r["id"] for r in client.resources("Condition?patient=x")] == ["a", "b"]


def test_a_failing_fhir_server_raises_a_fetch_error():
    transport = httpx.MockTransport(lambda r: httpx.Response(401))
    with (
        FhirClient("https://ehr.example/fhir", transport=transport) as client,
        pytest.raises(FhirFetchError, match="401"),
    ):
        client.resources("Patient/x")


def test_prefetched_data_of_another_patient_is_refused():
    resources = cs.prefetch_for(cs.population(), cs.DIABETIC)
    foreign = next(r for r in cs.population() if r["resourceType"] == "Observation" and cs._owner(r) == cs.HEART)
    resources["observations"]["entry"].append({"resource": foreign})
    with pytest.raises(InputError, match="another patient"):
        transient_profile(gather_resources(resources, CONTEXT, None), cs.DIABETIC)


def test_ordered_drugs_map_to_concepts_by_code_or_name():
    orders = [
        {
            "resourceType": "MedicationRequest",
            "id": "d1",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "32968"}],
                "text": "clopidogrel 75 MG",
            },
            "subject": {"reference": "Patient/p"},
        },
        {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Simvastatin 40 mg tablet"},
            "subject": {"reference": "Patient/p"},
        },
        {"resourceType": "NutritionOrder", "id": "n1"},
    ]
    assert ordered_concepts(orders) == ("clopidogrel", "simvastatin")
