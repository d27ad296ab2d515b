"""The engines registered with the InsightService, each wrapped as an InsightProvider.

Order hooks (``order-select``, ``order-sign``) carry the drugs being ordered in ``InsightContext.ordered_concepts``;
``patient-view`` and the dashboard carry none, and the providers then look at the patient's active medications.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from carepilot.config import Settings
from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import PatientProfile
from carepilot.errors import CarePilotError
from carepilot.insights.adherence import AdherenceProvider
from carepilot.insights.care_gaps import CareGapProvider
from carepilot.insights.deterioration import DeteriorationRiskProvider, StoredReadings
from carepilot.insights.effects import TreatmentOptionsProvider
from carepilot.insights.mental_health import MentalHealthProvider
from carepilot.insights.monitoring import MonitoringAlertProvider
from carepilot.insights.progression import ProgressionRiskProvider
from carepilot.insights.risk import ReadmissionRiskProvider
from carepilot.insights.service import InsightContext, InsightProvider
from carepilot.knowledge.oncology import CivicKnowledgeBase, load_civic, oncology_insights
from carepilot.knowledge.pgx.catalog import cached_catalog
from carepilot.knowledge.pgx.insights import evaluate
from carepilot.knowledge.safety import safety_insights
from carepilot.knowledge.warfarin import warfarin_dose_insight
from carepilot.learning.outcomes import OutcomeRepository
from carepilot.learning.serving import PredictionLoggingProvider
from carepilot.models.registry import ModelRegistry
from carepilot.store.db import Database
from carepilot.store.readings import ReadingRepository

log = logging.getLogger(__name__)

RECENT_START = timedelta(days=30)


def _active_concepts(profile: PatientProfile) -> list[str]:
    return sorted({m.concept for m in profile.active_medications() if m.concept})


class PharmacogenomicsProvider:
    """CPIC guidance for the drugs being ordered, or for the active medications."""

    name = "pharmacogenomics"

    def __init__(self, reference_data: Path) -> None:
        self.reference_data = reference_data

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        drugs = list(context.ordered_concepts) or _active_concepts(profile)
        if not drugs:
            return []
        try:
            catalog = cached_catalog(self.reference_data)
        except (CarePilotError, OSError) as exc:
            log.warning("pharmacogenomic tables unavailable: %s", type(exc).__name__)
            return [Declined(profile.patient_id, self.name, "CPIC phenotype tables are not available")]
        result = evaluate(profile, drugs, tables=catalog.tables, table=catalog.rules)
        return [*result.insights, *result.declined]


class DrugSafetyProvider:
    """Interactions, allergy classes, renal dosing and duplicate therapy for the drugs being ordered."""

    name = "drug_safety"

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        if not context.ordered_concepts:
            return []
        return safety_insights(profile, list(context.ordered_concepts))


class WarfarinDosingProvider:
    """A starting-dose Insight when warfarin is ordered or was started in the last 30 days."""

    name = "warfarin_dosing"

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        ordered = "warfarin" in context.ordered_concepts
        recent = any(
            m.concept == "warfarin" and m.authored is not None and profile.as_of - m.authored <= RECENT_START
            for m in profile.active_medications()
        )
        if not (ordered or recent):
            return []
        return [warfarin_dose_insight(profile)]


@lru_cache(maxsize=2)
def _civic(folder: Path) -> CivicKnowledgeBase | None:
    if not folder.exists():
        return None
    return load_civic(folder)


class OncologyProvider:
    """Therapy matches for the tumour variants of a patient with a supported cancer diagnosis."""

    name = "precision_oncology"

    def __init__(self, reference_data: Path) -> None:
        self.civic_folder = reference_data / "civic_2018"

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        if context.ordered_concepts:
            return []
        if not any(m.concept == "tumor_variant" or m.concept == "msi" for m in profile.measurements):
            return []
        return oncology_insights(profile, civic=_civic(self.civic_folder))


def knowledge_providers(reference_data: Path) -> list[InsightProvider]:
    """The rule-based engines (no trained model needed)."""
    return [
        PharmacogenomicsProvider(reference_data),
        DrugSafetyProvider(),
        WarfarinDosingProvider(),
        OncologyProvider(reference_data),
    ]


def default_providers(settings: Settings) -> list[InsightProvider]:
    """Every engine the service runs: trained models from the registry, then the rule-based engines."""
    registry = ModelRegistry(settings.models_dir)
    opened: list[Database] = []

    def database() -> Database:
        if not opened:
            opened.append(Database(settings.resolved_database_url))
        return opened[0]

    return [
        PredictionLoggingProvider(ReadmissionRiskProvider(registry), OutcomeRepository(database())),
        DeteriorationRiskProvider(registry, StoredReadings(lambda: ReadingRepository(database()))),
        ProgressionRiskProvider(registry),
        TreatmentOptionsProvider(registry, "diabetes-addon"),
        CareGapProvider(),
        AdherenceProvider(),
        MentalHealthProvider(registry, settings.reference_data),
        MonitoringAlertProvider.from_settings(settings),
        *knowledge_providers(settings.reference_data),
    ]
