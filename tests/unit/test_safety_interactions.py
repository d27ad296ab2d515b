"""Drug-drug interactions and duplicate therapy for a new order."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from carepilot.domain.insight import Insight, InsightKind, Severity
from carepilot.domain.profile import Coding, Demographics, Medication, PatientProfile
from carepilot.knowledge.safety import UnknownDrugError, safety_insights, safety_tables

AS_OF = datetime(2026, 1, 15)


def patient(*active: str, ended: tuple[str, ...] = ()) -> PatientProfile:
    meds = [Medication(f"m-{k}", k, Coding("urn:test", k), "active", datetime(2025, 1, 1)) for k in active]
    meds += [
        Medication(f"m-{k}", k, Coding("urn:test", k), "completed", datetime(2024, 1, 1), ended=datetime(2024, 2, 1))
        for k in ended
    ]
    return PatientProfile(Demographics("synthetic-i", date(1970, 1, 1), "male"), AS_OF, medications=tuple(meds))


def topics(results) -> set[str]:
    return {r.topic for r in results if isinstance(r, Insight)}


def test_clopidogrel_with_omeprazole_is_a_major_interaction():
    results = safety_insights(patient("omeprazole"), ["clopidogrel"])
    assert topics(results) == {"interaction:clopidogrel-omeprazole:clopidogrel+omeprazole"}
    assert results[0].severity is Severity.WARNING
    assert "pantoprazole" in results[0].detail


def test_clopidogrel_with_pantoprazole_raises_nothing():
    assert safety_insights(patient("pantoprazole"), ["clopidogrel"]) == []


def test_esomeprazole_order_for_a_patient_on_clopidogrel_is_caught_in_the_other_direction():
    assert "interaction:clopidogrel-omeprazole:clopidogrel+esomeprazole" in topics(
        safety_insights(patient("clopidogrel"), ["esomeprazole"])
    )


def test_simvastatin_with_clarithromycin_is_contraindicated():
    results = safety_insights(patient("simvastatin"), ["clarithromycin"])
    assert results[0].severity is Severity.CRITICAL
    assert results[0].title.startswith("Contraindicated interaction")


def test_ssri_with_tramadol_warns_of_serotonin_syndrome_and_seizures():
    results = safety_insights(patient("sertraline"), ["tramadol"])
    assert len(results) == 1
    assert "Serotonin syndrome" in results[0].detail and "seizure" in results[0].detail


def test_warfarin_with_nsaid_and_ssri():
    found = topics(safety_insights(patient("naproxen", "citalopram"), ["warfarin"]))
    assert found == {
        "interaction:warfarin-nsaid:naproxen+warfarin",
        "interaction:warfarin-ssri:citalopram+warfarin",
    }


def test_two_drugs_ordered_together_are_checked_against_each_other():
    assert "interaction:ssri-tramadol:fluoxetine+tramadol" in topics(
        safety_insights(patient(), ["fluoxetine", "tramadol"])
    )


def test_stopped_medications_do_not_interact():
    assert safety_insights(patient(ended=("amiodarone",)), ["warfarin"]) == []


def test_duplicate_therapy_within_a_class():
    results = safety_insights(patient("sertraline"), ["citalopram"])
    dup = [r for r in results if isinstance(r, Insight) and r.topic and r.topic.startswith("duplicate:")]
    assert [d.topic for d in dup] == ["duplicate:ssri:citalopram+sertraline"]
    assert dup[0].kind is InsightKind.INTERACTION


def test_basal_and_bolus_insulin_is_not_duplicate_therapy():
    assert safety_insights(patient("insulin_glargine"), ["insulin_lispro"]) == []


def test_results_are_sorted_most_severe_first():
    results = safety_insights(patient("simvastatin", "omeprazole"), ["clarithromycin", "clopidogrel"])
    severities = [r.severity for r in results if isinstance(r, Insight)]
    assert severities[0] is Severity.CRITICAL
    assert severities == sorted(severities, key=[Severity.CRITICAL, Severity.WARNING, Severity.INFO].index)


def test_unknown_drug_key_is_a_clear_input_error():
    with pytest.raises(UnknownDrugError, match="not-a-drug"):
        safety_insights(patient(), ["not-a-drug"])


def test_every_rule_row_has_a_citation_and_known_drugs():
    from carepilot.knowledge.concepts import concept_map

    cmap = concept_map()
    classes = {c.drug_class for c in cmap.concepts.values() if c.drug_class}
    tables = safety_tables()
    sides = [s for r in tables.interactions for s in (*r.a, *r.b)]
    sides += [s for r in tables.allergy_rules for s in (*r.allergy, *r.drug)]
    sides += [s for r in tables.renal_rules for s in r.drug]
    for side in sides:
        assert side.removeprefix("class:") in (classes if side.startswith("class:") else cmap.concepts), side
    for row in (*tables.interactions, *tables.allergy_rules, *tables.renal_rules):
        assert row.citation.strip(), row.id
