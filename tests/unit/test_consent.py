"""Consent choices read from FHIR Consent resources: deny provisions, nested exceptions, the latest choice wins."""

from carepilot.domain.consent import (
    ACT_REASON_SYSTEM,
    CONSENT_PURPOSE_SYSTEM,
    ConsentScope,
    StaticConsent,
    consent_choices,
)


def consent(patient: str, when: str, kind: str, purposes: list[str], *, status: str = "active", nested=None) -> dict:
    provision: dict = {"type": kind, "purpose": [{"system": CONSENT_PURPOSE_SYSTEM, "code": p} for p in purposes]}
    if nested:
        provision["provision"] = nested
    return {
        "resourceType": "Consent",
        "status": status,
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": when,
        "provision": provision,
    }


def test_deny_training_only_opts_out_of_training():
    out = consent_choices([consent("p1", "2026-01-01", "deny", ["training"])])
    assert out[ConsentScope.TRAINING] == {"p1"}
    assert out[ConsentScope.DECISION_SUPPORT] == frozenset()


def test_deny_without_purpose_opts_out_of_everything_but_nested_permit_carves_out():
    nested = [{"type": "permit", "purpose": [{"system": CONSENT_PURPOSE_SYSTEM, "code": "decision_support"}]}]
    c = consent("p2", "2026-01-01", "deny", [], nested=nested)
    out = consent_choices([c])
    assert out[ConsentScope.TRAINING] == {"p2"} and out[ConsentScope.SHARING] == {"p2"}
    assert "p2" not in out[ConsentScope.DECISION_SUPPORT]


def test_latest_consent_wins_and_inactive_ones_are_ignored():
    out = consent_choices(
        [
            consent("p3", "2026-01-01", "deny", ["sharing"]),
            consent("p3", "2026-02-01", "permit", ["sharing"]),
            consent("p4", "2026-01-01", "deny", ["sharing"], status="inactive"),
        ]
    )
    assert out[ConsentScope.SHARING] == frozenset()


def test_hl7_research_purpose_means_training():
    c = consent("p5", "2026-01-01", "deny", [])
    c["provision"]["purpose"] = [{"system": ACT_REASON_SYSTEM, "code": "HRESCH"}]
    assert consent_choices([c])[ConsentScope.TRAINING] == {"p5"}


def test_static_consent():
    directory = StaticConsent({ConsentScope.TRAINING: ["a"]})
    assert not directory.allows("a", ConsentScope.TRAINING)
    assert directory.allows("a", ConsentScope.SHARING) and directory.allows("b", ConsentScope.TRAINING)
