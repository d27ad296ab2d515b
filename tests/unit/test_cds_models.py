"""The CDS Hooks 2.0.1 models refuse what the specification forbids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from carepilot.api.cds_models import (
    Action,
    Card,
    DiscoveryResponse,
    FeedbackRequest,
    HookRequest,
    OrderSignContext,
    PatientViewContext,
)
from carepilot.insights.hooks import SERVICES, CdsHookService

SOURCE = {"label": "CarePilot"}


def test_summary_must_be_under_140_characters():
    Card.model_validate({"summary": "x" * 139, "indicator": "info", "source": SOURCE})
    with pytest.raises(ValidationError):
        Card.model_validate({"summary": "x" * 140, "indicator": "info", "source": SOURCE})


def test_indicator_is_one_of_three():
    with pytest.raises(ValidationError):
        Card.model_validate({"summary": "s", "indicator": "hard-stop", "source": SOURCE})


def test_suggestions_need_a_selection_behaviour():
    card = {"summary": "s", "indicator": "info", "source": SOURCE, "suggestions": [{"label": "do it"}]}
    with pytest.raises(ValidationError, match="selectionBehavior"):
        Card.model_validate(card)
    Card.model_validate({**card, "selectionBehavior": "at-most-one"})


def test_actions_need_their_target():
    with pytest.raises(ValidationError):
        Action.model_validate({"type": "create"})
    with pytest.raises(ValidationError):
        Action.model_validate({"type": "delete"})
    Action.model_validate({"type": "delete", "resourceId": "ServiceRequest/1"})


def test_fhir_authorization_requires_fhir_server():
    body = {
        "hook": "patient-view",
        "hookInstance": "x",
        "context": {},
        "fhirAuthorization": {
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "s",
            "subject": "c",
        },
    }
    with pytest.raises(ValidationError, match="fhirServer"):
        HookRequest.model_validate(body)
    HookRequest.model_validate({**body, "fhirServer": "http://fhir.example"})


def test_hook_contexts_require_their_fields():
    with pytest.raises(ValidationError):
        PatientViewContext.model_validate({"userId": "Practitioner/1"})
    with pytest.raises(ValidationError):
        OrderSignContext.model_validate({"userId": "u", "patientId": "p"})


def test_feedback_outcome_and_timestamp_are_required():
    with pytest.raises(ValidationError):
        FeedbackRequest.model_validate(
            {"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2020-01-01T00:00:00Z"}]}
        )
    with pytest.raises(ValidationError):
        FeedbackRequest.model_validate({"feedback": [{"card": "c", "outcome": "accepted"}]})


def test_this_services_discovery_document_is_valid_and_declares_every_hook():
    doc = CdsHookService.discovery(None)  # type: ignore[arg-type]  # discovery reads no state
    parsed = DiscoveryResponse.model_validate(doc)
    assert {s.hook for s in parsed.services} == {"patient-view", "order-select", "order-sign", "encounter-discharge"}
    assert all(s.prefetch and s.prefetch["patient"] == "Patient/{{context.patientId}}" for s in parsed.services)
    assert len({s.id for s in SERVICES}) == len(SERVICES)


def test_discovery_snapshot():
    doc = CdsHookService.discovery(None)  # type: ignore[arg-type]
    assert [(s["id"], s["hook"]) for s in doc["services"]] == [
        ("carepilot-patient-view", "patient-view"),
        ("carepilot-order-select", "order-select"),
        ("carepilot-order-sign", "order-sign"),
        ("carepilot-encounter-discharge", "encounter-discharge"),
    ]
    assert doc["services"][0]["prefetch"] == {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}",
        "observations": "Observation?patient={{context.patientId}}",
        "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    }
