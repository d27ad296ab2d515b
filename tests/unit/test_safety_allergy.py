"""Allergy cross-checks at drug-class level."""

from __future__ import annotations

from datetime import date, datetime

from carepilot.domain.insight import Insight, Severity
from carepilot.domain.profile import Allergy, Coding, Demographics, PatientProfile
from carepilot.knowledge.safety import safety_insights

AS_OF = datetime(2026, 1, 15)


def allergic_to(*allergens: str, status: str = "active") -> PatientProfile:
    allergies = tuple(
        Allergy(f"a-{k}", k, Coding("urn:test", k), datetime(2020, 1, 1), clinical_status=status) for k in allergens
    )
    return PatientProfile(Demographics("synthetic-a", date(1980, 1, 1), "female"), AS_OF, allergies=allergies)


def only(results) -> Insight:
    insights = [r for r in results if isinstance(r, Insight)]
    assert len(insights) == 1, [i.title for i in insights]
    return insights[0]


def test_penicillin_allergy_and_amoxicillin_is_critical():
    alert = only(safety_insights(allergic_to("penicillin"), ["amoxicillin"]))
    assert alert.severity is Severity.CRITICAL
    assert alert.topic == "allergy:penicillin-penicillin:amoxicillin:penicillin"


def test_penicillin_allergy_and_a_cephalosporin_is_low_risk_information():
    alert = only(safety_insights(allergic_to("penicillin"), ["ceftriaxone"]))
    assert alert.severity is Severity.INFO
    assert "1-2%" in alert.detail


def test_amoxicillin_allergy_and_cephalexin_flags_the_shared_side_chain():
    alert = only(safety_insights(allergic_to("amoxicillin"), ["cephalexin"]))
    assert alert.severity is Severity.WARNING
    assert "side chain" in alert.detail


def test_sulfonamide_antibiotic_allergy_and_furosemide_is_informational():
    alert = only(safety_insights(allergic_to("sulfamethoxazole"), ["furosemide"]))
    assert alert.severity is Severity.INFO
    assert "Strom" in alert.evidence[0].citation


def test_sulfonamide_antibiotic_allergy_and_cotrimoxazole_is_critical():
    alert = only(safety_insights(allergic_to("sulfamethoxazole"), ["trimethoprim_sulfamethoxazole"]))
    assert alert.severity is Severity.CRITICAL


def test_resolved_allergy_is_not_checked():
    assert safety_insights(allergic_to("penicillin", status="resolved"), ["amoxicillin"]) == []


def test_unrelated_allergy_raises_nothing():
    assert safety_insights(allergic_to("penicillin"), ["azithromycin"]) == []
