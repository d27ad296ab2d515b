"""Pharmacogenomic Insights: CPIC guidance for the drugs being ordered, for one patient.

``pgx_insights(profile, drug_concepts)`` is what the order hooks call: for each ordered drug with CPIC
guidance it reads the patient's lab-reported genotypes (or phenotypes) from the profile, translates them,
applies the rule table, and returns one Insight (kind ``pgx``) per applicable recommendation. A drug with
guidance but no usable gene result gives no Insight; ``evaluate`` returns the ``Declined`` record that says
why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from carepilot.config import repo_root
from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Severity,
    Source,
)
from carepilot.domain.profile import PatientProfile
from carepilot.knowledge.concepts import RXNORM, concept_map
from carepilot.knowledge.pgx.guidance import Recommendation, RuleTable, normalise_drug, recommend, rule_table
from carepilot.knowledge.pgx.phenotype import GenePhenotype, PhenotypeTable, translate
from carepilot.knowledge.pgx.record import reported_results

ENGINE = "pgx"

CLASSIFICATION_WORDS = {
    "Strong": "CPIC rates this recommendation Strong: the evidence is high quality and the benefit of "
    "acting clearly outweighs the harm.",
    "Moderate": "CPIC rates this recommendation Moderate: there is a close or uncertain balance of benefit "
    "and harm, but most clinicians would act on it.",
    "Optional": "CPIC rates this recommendation Optional: the evidence is weak or divided, so acting on it "
    "is a matter of clinical judgement.",
}
_SEVERITY = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
_CONTRIBUTION = {"info": 0.0, "warning": -0.5, "critical": -1.0}


@dataclass(frozen=True)
class PgxEvaluation:
    insights: tuple[Insight, ...]
    declined: tuple[Declined, ...]


def default_tables() -> dict[str, PhenotypeTable]:
    """Phenotype tables from the default shared data folder (entrypoints pass tables built from Settings)."""
    from carepilot.knowledge.pgx.catalog import cached_catalog

    folder = repo_root().parent / "shared" / "data"
    return cached_catalog(Path(folder)).tables


def gene_results(
    profile: PatientProfile, tables: dict[str, PhenotypeTable], table: RuleTable | None = None
) -> dict[str, GenePhenotype]:
    """Each gene's phenotype from the lab results on the profile (a diplotype wins over a bare phenotype)."""
    rules = table or rule_table()
    all_tables = {**rules.activity_tables, **tables}
    out: dict[str, GenePhenotype] = {}
    for gene, item in reported_results(profile).items():
        if item.kind == "diplotype":
            result = translate(all_tables.get(gene), gene, item.value, source="record")
            out[gene] = GenePhenotype(
                result.gene,
                result.diplotype,
                result.phenotype,
                result.activity_score,
                result.functions,
                result.lookup_diplotype,
                f"record:{item.resource_id}",
                result.note,
            )
        else:
            out[gene] = GenePhenotype(gene, "not reported", item.value, source=f"record:{item.resource_id}")
    return out


def evaluate(
    profile: PatientProfile,
    drug_concepts: list[str],
    tables: dict[str, PhenotypeTable] | None = None,
    table: RuleTable | None = None,
    include_info: bool = False,
) -> PgxEvaluation:
    """Insights for the ordered drugs, and a Declined record for each drug whose guidance cannot apply."""
    rules = table or rule_table()
    results = gene_results(profile, default_tables() if tables is None else tables, rules)
    insights: list[Insight] = []
    declined: list[Declined] = []
    for concept in drug_concepts:
        drug = normalise_drug(concept)
        if drug not in rules.drugs:
            continue
        recommendations, undetermined = recommend(drug, results, rules)
        if undetermined is not None:
            declined.append(Declined(profile.patient_id, ENGINE, f"{drug}: {undetermined.reason}"))
        for rec in recommendations:
            if rec.rule.actionable or include_info:
                insights.append(recommendation_insight(rec, profile.patient_id, profile.as_of))
    return PgxEvaluation(tuple(insights), tuple(declined))


def pgx_insights(
    profile: PatientProfile,
    drug_concepts: list[str],
    tables: dict[str, PhenotypeTable] | None = None,
    table: RuleTable | None = None,
    include_info: bool = False,
) -> list[Insight]:
    """PGx Insights for the drugs being ordered (actionable ones unless ``include_info``)."""
    return list(evaluate(profile, drug_concepts, tables, table, include_info).insights)


def recommendation_insight(rec: Recommendation, patient_id: str, as_of: datetime) -> Insight:
    """One Insight for one applicable CPIC recommendation."""
    rule = rec.rule
    drug = rule.drug.replace("_", " ")
    genes_text = ", ".join(_result_text(r) for r in rec.results)
    first_sentence = rule.recommendation.split(". ")[0].rstrip(".")
    title = _clip(f"{drug.capitalize()}: {genes_text}. {first_sentence}.")
    alternatives = [a for a in rule.alternatives if normalise_drug(a) != rule.drug]
    detail_lines = [
        f"**Genotype:** {'; '.join(_result_detail(r) for r in rec.results)}",
        f"**What it means:** {rule.implication}",
        f"**CPIC recommendation ({rule.classification}):** {rule.recommendation}",
    ]
    if alternatives:
        detail_lines.append(
            f"**Proposed alternative{'s' if len(alternatives) > 1 else ''}:** {', '.join(alternatives)} "
            "(draft orders; the prescriber decides)."
        )
    detail_lines.append(f"**Guideline:** {rule.guideline.title}. {rule.guideline.citation}. {rule.guideline.url}")
    notes = [r.note for r in rec.results if r.note]
    if notes:
        detail_lines.append("**Notes:** " + "; ".join(notes))
    activity = [r.activity_score for r in rec.results if r.activity_score is not None]
    reason = f"{genes_text}: {first_sentence}"
    return Insight(
        patient_id=patient_id,
        as_of=as_of,
        kind=InsightKind.PGX,
        title=title,
        detail="\n\n".join(detail_lines),
        confidence=Confidence(
            level=f"CPIC {rule.classification}",
            statement=CLASSIFICATION_WORDS.get(rule.classification, f"CPIC classification {rule.classification}."),
        ),
        source=Source(id=f"{rec.table_id}:{rule.id}", version=rec.table_version, kind="rule", url=rule.guideline.url),
        explanation=tuple(
            Factor(
                label=f"{r.gene} {r.diplotype}",
                contribution=_CONTRIBUTION.get(rule.severity, 0.0),
                phrase=_result_detail(r),
            )
            for r in rec.results
        ),
        evidence=(
            Evidence(
                label=rule.guideline.title,
                citation=f"{rule.guideline.citation}; {rule.citation}",
                url=rule.guideline.url,
                level=f"CPIC level {rule.guideline.cpic_level}; recommendation {rule.classification}",
            ),
        ),
        value=activity[0] if len(activity) == 1 else None,
        unit="activity score" if len(activity) == 1 else None,
        severity=_SEVERITY.get(rule.severity, Severity.INFO),
        actions=tuple(medication_request_draft(a, patient_id, reason) for a in alternatives),
        topic=f"pgx:{rule.drug}:{'+'.join(sorted(rule.genes))}",
    )


def medication_request_draft(drug: str, patient_id: str, reason: str) -> dict[str, Any]:
    """A FHIR R4 MedicationRequest (status draft, intent proposal) for an alternative drug."""
    concept = concept_map().concepts.get(normalise_drug(drug))
    medication: dict[str, Any] = {"text": drug}
    if concept is not None:
        rx = [code for system, code in concept.codes if system == RXNORM]
        if rx:
            medication["coding"] = [{"system": RXNORM, "code": rx[0], "display": concept.display}]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": medication,
        "reasonCode": [{"text": _clip(reason, 250)}],
        "note": [{"text": "Proposed from CPIC pharmacogenomic guidance; dose per label and indication."}],
    }


def _result_text(result: GenePhenotype) -> str:
    if result.diplotype == "not reported" or len(result.diplotype) > 24:
        return f"{result.gene} {result.phenotype}"
    return f"{result.gene} {result.phenotype} ({result.diplotype})"


def _result_detail(result: GenePhenotype) -> str:
    score = f", activity score {result.activity_score:g}" if result.activity_score is not None else ""
    where = " (lab report)" if result.source.startswith("record") else ""
    return f"{result.gene} {result.diplotype} -> {result.phenotype}{score}{where}"


def _clip(text: str, limit: int = 139) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
