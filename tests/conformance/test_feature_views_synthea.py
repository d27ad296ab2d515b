"""The bundled feature views run on an ordinary Synthea R4 bundle and account for every resource."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from carepilot.features.viewdefinition import run_view
from carepilot.features.viewdefinition.sources import iter_resources
from carepilot.features.views import available_views, view_definition
from tests.conftest import reference


@pytest.fixture(scope="module")
def bundle_resources() -> list[dict[str, Any]]:
    folder: Path = reference("synthea_fhir_r4")
    first = sorted(folder.glob("*.json"))[0]
    return list(iter_resources([first]))


def test_the_project_ships_the_four_feature_views() -> None:
    assert available_views() == ["conditions", "medication_requests", "observations", "patient_demographics"]


def test_demographics_give_one_row_per_patient_keyed_by_its_id(
    bundle_resources: list[dict[str, Any]],
) -> None:
    patients = [r for r in bundle_resources if r["resourceType"] == "Patient"]
    rows = run_view(view_definition("patient_demographics"), bundle_resources)
    assert [r["patient_id"] for r in rows] == [p["id"] for p in patients]
    assert all(r["gender"] in {"male", "female", "other", "unknown"} for r in rows)
    assert all(isinstance(r["deceased"], bool) for r in rows)


def test_observations_give_a_row_per_observation_and_per_component(
    bundle_resources: list[dict[str, Any]],
) -> None:
    observations = [r for r in bundle_resources if r["resourceType"] == "Observation"]
    patient_id = next(r["id"] for r in bundle_resources if r["resourceType"] == "Patient")
    rows = run_view(view_definition("observations"), bundle_resources)
    components = sum(len(o.get("component", [])) for o in observations)
    assert len(rows) == len(observations) + components
    assert {r["patient_id"] for r in rows} == {patient_id}
    assert all(r["code"] for r in rows)
    quantities = [r for r in rows if r["value"] is not None]
    assert quantities and all(isinstance(r["value"], float | int) and r["unit"] for r in quantities)
    assert Counter(r["part"] for r in rows)["component"] == components


def test_conditions_and_medication_requests_keep_every_resource(
    bundle_resources: list[dict[str, Any]],
) -> None:
    patient_id = next(r["id"] for r in bundle_resources if r["resourceType"] == "Patient")
    for view, resource_type, key in (
        ("conditions", "Condition", "condition_id"),
        ("medication_requests", "MedicationRequest", "medication_request_id"),
    ):
        expected = [r["id"] for r in bundle_resources if r["resourceType"] == resource_type]
        rows = run_view(view_definition(view), bundle_resources)
        assert [r[key] for r in rows] == expected
        assert {r["patient_id"] for r in rows} <= {patient_id}
    conditions = run_view(view_definition("conditions"), bundle_resources)
    assert all(r["code_system"] == "http://snomed.info/sct" and r["code"] and r["onset"] for r in conditions)
    meds = run_view(view_definition("medication_requests"), bundle_resources)
    assert all(r["rxnorm_code"] for r in meds)
