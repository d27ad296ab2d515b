"""Risk Insights from the registered readmission model (verified by checksum before it is loaded)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import PatientProfile
from carepilot.features.catalog import readmission_catalog
from carepilot.features.readmission import FEATURES, features_at, is_inpatient
from carepilot.insights.service import InsightContext
from carepilot.models.registry import ModelRegistry, ServingModel
from carepilot.models.risk_insight import RiskModelInfo, risk_insight

log = logging.getLogger(__name__)
MODEL_NAME = "readmission"


class ReadmissionRiskProvider:
    """30-day readmission risk at discharge (or now, for a patient in or recently out of hospital)."""

    name = "readmission_risk"

    def __init__(self, registry: ModelRegistry, card_url: str | None = "/dashboard/models/readmission") -> None:
        self.registry = registry
        self.card_url = card_url
        self._serving = ServingModel(registry, MODEL_NAME)

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        loaded = self._serving.current()
        if loaded is None:
            return [Declined(profile.patient_id, self.name, "no readmission model is registered yet")]
        version, model, metadata = loaded
        inpatient = [e for e in profile.encounters if is_inpatient(e) and e.start is not None]
        if not inpatient and context.hook != "encounter-discharge":
            return []
        last = max(inpatient, key=lambda e: e.start) if inpatient else None  # type: ignore[arg-type,return-value]
        index = last.end if last is not None and last.end is not None else profile.as_of
        admitted = last.start if last is not None else None
        disposition = last.discharge_disposition if last is not None else None
        row = pd.DataFrame([features_at(profile, index, admitted, disposition)], columns=list(FEATURES))
        info = RiskModelInfo(
            model_id=MODEL_NAME,
            version=version,
            outcome="30-day readmission",
            training_window=metadata.get("training_window"),
            card_url=self.card_url,
        )
        return [
            risk_insight(
                model, row, patient_id=profile.patient_id, as_of=profile.as_of, info=info, catalog=readmission_catalog()
            )
        ]
