"""Logging of served risk predictions: a provider wrapper that records every risk Insight it passes on.

``PredictionLoggingProvider(ReadmissionRiskProvider(...), OutcomeRepository(db))`` behaves exactly like the provider
it wraps and, for each readmission risk Insight, logs the patient, the index time (the last inpatient discharge the
score was computed at), the model name and version, the score, the Insight id and the feature vector (for drift).
A logging failure never blocks the clinician's card: it is counted and logged by type only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from carepilot.domain.insight import Declined, Insight, InsightKind
from carepilot.domain.profile import PatientProfile
from carepilot.errors import CarePilotError
from carepilot.features.readmission import features_at, is_inpatient
from carepilot.insights.service import InsightContext, InsightProvider
from carepilot.learning.outcomes import OutcomeRepository, Prediction

log = logging.getLogger(__name__)


def discharge_prediction(profile: PatientProfile, insight: Insight) -> Prediction | None:
    """The prediction record of a risk Insight: indexed at the patient's last inpatient discharge, when there is one."""
    if insight.kind != InsightKind.RISK or insight.value is None:
        return None
    inpatient = [e for e in profile.encounters if is_inpatient(e) and e.start is not None]
    last = max(inpatient, key=lambda e: e.start) if inpatient else None  # type: ignore[arg-type,return-value]
    index = last.end if last is not None and last.end is not None else profile.as_of
    encounter = last.resource_id if last is not None and last.end is not None else None
    features = features_at(profile, index, last.start if last else None, last.discharge_disposition if last else None)
    return Prediction(
        patient_id=profile.patient_id,
        index_time=index,
        model_name=insight.source.id,
        model_version=insight.source.version,
        score=float(insight.value),
        insight_id=insight.id,
        encounter_id=encounter,
        features=features,
    )


class PredictionLoggingProvider:
    """Wraps a risk provider; logs each risk Insight it returns as a served prediction."""

    def __init__(self, inner: InsightProvider, outcomes: OutcomeRepository) -> None:
        self.inner = inner
        self.outcomes = outcomes
        self.name = getattr(inner, "name", "risk")
        self.failures = 0

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        found = self.inner.insights(profile, context)
        records = [
            p for p in (discharge_prediction(profile, i) for i in found if isinstance(i, Insight)) if p is not None
        ]
        if records:
            try:
                self.outcomes.log_predictions(records)
            except (CarePilotError, SQLAlchemyError) as exc:
                self.failures += 1
                log.warning("prediction log failed: %s (%d so far)", type(exc).__name__, self.failures)
        return found
