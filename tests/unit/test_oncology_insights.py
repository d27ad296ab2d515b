"""Oncology Insights from a PatientProfile (synthetic patients only)."""

from __future__ import annotations

from datetime import date, datetime

from carepilot.domain.insight import Declined, Insight, InsightKind, Severity
from carepilot.domain.profile import Coding, Demographics, Measurement, PatientProfile, Problem
from carepilot.knowledge.oncology import civic_from_rows, oncology_insights

AS_OF = datetime(2026, 1, 15)


def patient(variants: tuple[str, ...], tumors: tuple[str, ...] = ("nsclc",), msi: str | None = None):
    measurements = [
        Measurement(
            f"v{i}",
            "tumor_variant",
            Coding("urn:test", "tv"),
            datetime(2025, 11, 1),
            None,
            None,
            text_value=t,
        )
        for i, t in enumerate(variants)
    ]
    if msi is not None:
        measurements.append(
            Measurement("msi", "msi", Coding("urn:test", "msi"), datetime(2025, 11, 1), None, None, text_value=msi)
        )
    problems = tuple(Problem(f"c-{t}", t, Coding("urn:test", t), datetime(2025, 10, 1), None, "active") for t in tumors)
    return PatientProfile(
        Demographics("synthetic-o", date(1958, 1, 1), "female"),
        AS_OF,
        problems=problems,
        measurements=tuple(measurements),
    )


def insights(results) -> list[Insight]:
    return [r for r in results if isinstance(r, Insight)]


def test_egfr_l858r_nsclc_gets_osimertinib_with_guideline_evidence():
    [insight] = insights(oncology_insights(patient(("EGFR L858R",))))
    assert insight.kind is InsightKind.ONCOLOGY
    assert "osimertinib" in insight.title
    assert insight.confidence.level == "high"
    assert any("FLAURA" in e.citation for e in insight.evidence)
    assert insight.explanation[0].label == "EGFR L858R"


def test_ras_mutant_colorectal_cancer_warns_against_anti_egfr():
    [insight] = insights(oncology_insights(patient(("KRAS G12D",), tumors=("colorectal_cancer",))))
    assert insight.severity is Severity.WARNING
    assert "resistance" in insight.title and "cetuximab" in insight.title


def test_msi_high_from_the_msi_observation():
    [insight] = insights(oncology_insights(patient((), tumors=("colorectal_cancer",), msi="MSI-H")))
    assert "pembrolizumab" in insight.title


def test_biomarker_from_another_tumour_type_is_labelled_off_label():
    [insight] = insights(oncology_insights(patient(("BRAF V600E",), tumors=("breast_cancer",))))
    assert "other tumour types" in insight.title
    assert insight.confidence.level == "low"


def test_civic_only_evidence_is_reported_with_its_level():
    kb = civic_from_rows(
        [
            {
                "evidence_id": "9",
                "gene": "EGFR",
                "variant": "T790M",
                "disease": "Lung Adenocarcinoma",
                "drugs": "Osimertinib",
                "evidence_type": "Predictive",
                "evidence_direction": "Supports",
                "evidence_level": "A",
                "clinical_significance": "Sensitivity",
                "evidence_status": "accepted",
                "pubmed_id": "1",
                "citation": "Synthetic 2020",
                "evidence_civic_url": "",
                "rating": "4",
                "variant_origin": "Somatic Mutation",
            }
        ],
        version="synthetic",
    )
    [insight] = insights(oncology_insights(patient(("EGFR T790M",)), civic=kb))
    assert "CIViC level A sensitivity to Osimertinib" in insight.title
    assert insight.evidence[0].level == "CIViC A"


def test_no_supported_tumour_diagnosis_is_declined():
    [result] = oncology_insights(patient(("EGFR L858R",), tumors=()))
    assert isinstance(result, Declined)
    assert "no active diagnosis" in result.reason


def test_unreadable_variant_text_is_declined_and_others_still_answered():
    results = oncology_insights(patient(("EGFR", "ALK fusion")))
    assert any(isinstance(r, Declined) and "'EGFR'" in r.reason for r in results)
    assert ["alectinib" in i.title for i in insights(results)] == [True]


def test_unknown_biomarker_without_evidence_is_declined():
    [result] = oncology_insights(patient(("ZZZ9 A1B",)))
    assert isinstance(result, Declined)
