"""Warfarin dose Insights from a PatientProfile (synthetic patients only)."""

from __future__ import annotations

from datetime import date, datetime

from carepilot.domain.insight import Declined, Insight, InsightKind, Interval, Severity
from carepilot.domain.profile import Coding, Demographics, Measurement, Medication, PatientProfile
from carepilot.knowledge.warfarin import (
    Algorithm,
    Race,
    WarfarinCovariates,
    iwpc_dose,
    warfarin_dose_insight,
    warfarin_start_insights,
)

AS_OF = datetime(2026, 1, 15, 9, 0)


def _obs(concept: str, value: float | None = None, text: str | None = None, unit: str | None = None) -> Measurement:
    return Measurement(
        f"obs-{concept}-{text or value}",
        concept,
        Coding("urn:test", concept),
        datetime(2025, 12, 1),
        value,
        unit,
        text_value=text,
    )


def _med(concept: str) -> Medication:
    return Medication(f"med-{concept}", concept, Coding("urn:test", concept), "active", datetime(2025, 6, 1))


def patient(*, genotypes=("CYP2C9 *1/*3", "VKORC1 -1639G>A A/G"), meds=(), height=True, weight=True):
    measurements = [_obs("pgx_genotype", text=g) for g in genotypes]
    if height:
        measurements.append(_obs("body_height", 170.0, unit="cm"))
    if weight:
        measurements.append(_obs("body_weight", 80.0, unit="kg"))
    return PatientProfile(
        demographics=Demographics("synthetic-1", date(1961, 3, 1), "male", race="White"),
        as_of=AS_OF,
        medications=tuple(_med(m) for m in meds),
        measurements=tuple(measurements),
    )


def test_amiodarone_patient_starting_warfarin_gets_the_interaction_and_a_reduced_dose():
    without = warfarin_dose_insight(patient())
    results = warfarin_start_insights(patient(meds=("amiodarone",)))
    dose = results[0]
    assert isinstance(dose, Insight) and isinstance(without, Insight)
    assert dose.kind is InsightKind.DOSE
    assert dose.value is not None and without.value is not None
    assert dose.value < without.value
    expected = iwpc_dose(
        WarfarinCovariates(6, 170.0, 80.0, Race.WHITE, cyp2c9="*1/*3", vkorc1="A/G", amiodarone=True),
        Algorithm.PHARMACOGENETIC,
    )
    assert dose.value == round(expected.weekly_dose_mg, 1)
    assert dose.severity is Severity.WARNING
    assert any(f.label == "amiodarone" and f.contribution < 0 for f in dose.explanation)
    interactions = [r for r in results[1:] if isinstance(r, Insight) and r.kind is InsightKind.INTERACTION]
    assert [i.topic for i in interactions] == ["interaction:warfarin-amiodarone:amiodarone+warfarin"]
    assert "one-third to one-half" in interactions[0].detail
    assert interactions[0].evidence[0].citation


def test_without_genotype_the_clinical_algorithm_is_used_and_said():
    insight = warfarin_dose_insight(patient(genotypes=()))
    assert isinstance(insight, Insight)
    assert insight.source.id.endswith("clinical")
    assert "clinical" in insight.detail and "No CYP2C9 or VKORC1 genotype" in insight.detail


def test_vkorc1_is_imputed_from_a_linked_snp_and_the_note_says_so():
    insight = warfarin_dose_insight(patient(genotypes=("CYP2C9 *1/*1", "VKORC1 rs9934438 T/T")))
    assert isinstance(insight, Insight)
    assert "imputed from rs9934438" in insight.detail
    assert any(f.label == "VKORC1 -1639 A/A" for f in insight.explanation)


def test_missing_weight_is_declined_with_the_reason():
    result = warfarin_dose_insight(patient(weight=False))
    assert isinstance(result, Declined)
    assert "body weight" in result.reason


def test_cyp2c9_allele_outside_iwpc_is_declined():
    result = warfarin_dose_insight(patient(genotypes=("CYP2C9 *1/*8",)))
    assert isinstance(result, Declined)
    assert "*1/*8" in result.reason


def test_unreadable_genotype_text_is_declined_not_raised():
    result = warfarin_dose_insight(patient(genotypes=("CYP2C9 pending",)))
    assert isinstance(result, Declined)
    assert "CYP2C9" in result.reason


class FixedModel:
    model_id = "test-model"
    version = "0"

    def predict_with_interval(self, covariates):
        return 20.0, Interval(15.0, 27.0, level=0.8)


def test_a_learned_model_supplies_value_and_interval():
    insight = warfarin_dose_insight(patient(), model=FixedModel())
    assert isinstance(insight, Insight)
    assert insight.value == 20.0
    assert insight.interval == Interval(15.0, 27.0, level=0.8)
    assert insight.source.kind == "model"
    assert "IWPC pharmacogenetic equation gives" in insight.detail
