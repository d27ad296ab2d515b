"""Ranked treatment options for a decision, from its registered effect model, with unsafe options removed."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from carepilot.domain.insight import Declined, Insight, Severity, Source
from carepilot.domain.profile import PatientProfile
from carepilot.errors import NotFoundError
from carepilot.features.decisions import covariates_at, current_option, eligible
from carepilot.insights.service import InsightContext
from carepilot.knowledge.safety import safety_insights
from carepilot.learning.effects_training import model_name
from carepilot.models.effects.decision import DecisionSpec, load_decision
from carepilot.models.effects.insights import ContraindicationCheck, rank_options
from carepilot.models.registry import ModelRegistry


class TreatmentOptionsProvider:
    """Options of one decision ranked by this patient's expected outcome, with intervals."""

    def __init__(self, registry: ModelRegistry, decision: str = "diabetes-addon") -> None:
        self.registry = registry
        self.spec: DecisionSpec = load_decision(decision)
        self.name = f"treatment_options:{decision}"

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        if context.ordered_concepts or not eligible(profile, self.spec):
            return []
        name = model_name(self.spec)
        try:
            record = self.registry.record(name)
        except NotFoundError:
            return [Declined(profile.patient_id, self.name, f"no effect model for {self.spec.name} is registered")]
        engine = self.registry.load(name, record.version)
        medians = record.metadata.get("medians", {})
        row = covariates_at(profile, self.spec, profile.as_of)
        x = pd.DataFrame([{k: (v if v == v else medians.get(k, 0.0)) for k, v in row.items()}])
        source = Source(id=name, version=record.version, kind="model", data_window=record.metadata.get("window"))
        ranking = rank_options(
            profile.patient_id,
            profile.as_of,
            x[list(self.spec.covariates)],
            engine,
            self.spec,
            source,
            contraindications=[self._unsafe(profile)],
            current_option=current_option(profile, self.spec),
        )
        if ranking.declined is not None:
            return [ranking.declined]
        return [*ranking.insights, *ranking.removed]

    def _unsafe(self, profile: PatientProfile) -> ContraindicationCheck:
        """An option is removed when ordering its first drug raises a critical safety finding."""

        def check(option: str) -> list[str]:
            drugs = [c.split(".", 1)[-1] for c in self.spec.option(option).concepts[:1]]
            found = safety_insights(profile, drugs) if drugs else []
            return [i.title for i in found if isinstance(i, Insight) and i.severity is Severity.CRITICAL]

        return check
