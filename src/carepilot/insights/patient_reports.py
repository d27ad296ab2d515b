"""Patient-reported symptoms, side effects and PHQ-9 answers as FHIR Observations, written through the ingest path.

Every report is validated like any other incoming resource (``ingest.pipeline.prepare``: R4 validation, reference
checks, normalisation) and stored by the same ``Ingestor`` under the source ``patient-portal``; a report that fails
validation is refused with the reason and nothing is stored. A PHQ-9 answered in full also writes the total
(LOINC 44261-6) and item 9 (44260-8), so the measurement-based care engine and the item-9 alert see it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from carepilot.domain.phq import QuestionnaireError, score_phq9
from carepilot.errors import InputError, NotFoundError
from carepilot.ingest.pipeline import Ingestor, IngestSummary, Rejected, prepare
from carepilot.ingest.readers import Entry
from carepilot.knowledge.concepts import LOINC, SNOMED, concept_map
from carepilot.store.repository import RecordRepository

SOURCE = "patient-portal"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MAX_TEXT = 1000


class ReportError(InputError):
    """A patient report is empty, too long, or fails validation."""


@dataclass(frozen=True)
class PatientReport:
    """What the form carries: free text about a symptom or side effect, a 0-10 severity, a PHQ-9 (optional)."""

    kind: str  # symptom | side_effect
    text: str
    severity: int | None = None
    medication: str | None = None
    phq9: Sequence[int] | None = None


def _base(patient_id: str, now: str, code: dict[str, Any], category: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": str(uuid.uuid4()),
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
        "performer": [{"reference": f"Patient/{patient_id}"}],
        "effectiveDateTime": now,
        "issued": now,
    }


def report_observations(patient_id: str, report: PatientReport, at: datetime | None = None) -> list[dict[str, Any]]:
    """The FHIR Observations for one report (raises ReportError on bad input)."""
    now = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = (report.text or "").strip()
    out: list[dict[str, Any]] = []
    if report.kind not in ("symptom", "side_effect"):
        raise ReportError(f"report kind must be symptom or side_effect, got {report.kind!r}")
    if len(text) > MAX_TEXT:
        raise ReportError(f"the description is {len(text)} characters; at most {MAX_TEXT}")
    if report.severity is not None and not 0 <= report.severity <= 10:
        raise ReportError(f"severity must be 0-10, got {report.severity}")
    if text:
        if report.kind == "symptom":
            code = {"coding": [{"system": LOINC, "code": "75325-1", "display": "Symptom"}], "text": "Symptom"}
        else:
            code = {
                "coding": [{"system": SNOMED, "code": "62014003", "display": "Adverse reaction to drug"}],
                "text": "Side effect",
            }
        obs = _base(patient_id, now, code, "survey")
        obs["valueString"] = text
        components = []
        if report.severity is not None:
            components.append({"code": {"text": "Severity (0-10), patient-reported"}, "valueInteger": report.severity})
        if report.medication:
            components.append({"code": {"text": "Suspected medicine"}, "valueString": report.medication[:200]})
        if components:
            obs["component"] = components
        out.append(obs)
    if report.phq9 is not None:
        try:
            total = score_phq9(list(report.phq9))
        except QuestionnaireError as exc:
            raise ReportError(str(exc)) from exc
        cmap = concept_map()
        for key, value in (("phq9", total), ("phq9_item9", int(report.phq9[8]))):
            concept = cmap.get(key)
            system, code_value = concept.primary_code
            obs = _base(
                patient_id,
                now,
                {"coding": [{"system": system, "code": code_value, "display": concept.display}]},
                "survey",
            )
            obs["valueQuantity"] = {
                "value": value,
                "unit": "{score}",
                "system": "http://unitsofmeasure.org",
                "code": "{score}",
            }
            out.append(obs)
    if not out:
        raise ReportError("the report is empty: describe a symptom or side effect, or answer the questionnaire")
    return out


def write_report(repo: RecordRepository, patient_id: str, report: PatientReport) -> list[str]:
    """Validate and store a report's Observations through the ingest path; returns their ids."""
    if repo.get_resource("Patient", patient_id) is None:
        raise NotFoundError(f"Patient/{patient_id} is not known")
    resources = report_observations(patient_id, report)
    cmap = concept_map()
    items = [prepare(Entry(file=SOURCE, position=str(i), resource=r), cmap) for i, r in enumerate(resources)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    if rejected:
        raise ReportError(f"the report could not be accepted: {rejected[0].problem.message}")
    summary = IngestSummary(source=SOURCE)
    Ingestor(repo, SOURCE, cmap=cmap).ingest_items(items, summary)
    return [r["id"] for r in resources]
