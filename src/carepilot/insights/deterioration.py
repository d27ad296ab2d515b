"""Risk Insights from the registered 7-day deterioration model, for patients whose device readings are available.

Readings come from a ``ReadingsSource``: ``StoredReadings`` reads the store's compact readings table (filled by
``POST /streams/{patient_id}`` and ``carepilot monitor replay --store``); ``ParquetReadings`` reads a readings table
(patient_id, type, time, value) such as a synthetic population's ``streams/readings.parquet``.
A patient with no readings gets no deterioration Insight (the model is for remotely monitored patients).
The Insight itself follows the readmission rules (``models/risk_insight.py``): declined out of distribution,
"uncertain" when the interval is wide, SHAP factors in clinical words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import PatientProfile
from carepilot.features.deterioration import FEATURE_LABELS, FEATURES, daily_summaries, features_at
from carepilot.insights.service import InsightContext
from carepilot.models.explain import FeatureInfo
from carepilot.models.registry import ModelRegistry, ServingModel
from carepilot.models.risk_insight import RiskModelInfo, risk_insight
from carepilot.store.readings import ReadingRepository

log = logging.getLogger(__name__)
MODEL_NAME = "deterioration"

RANGES: dict[str, tuple[float | None, float | None]] = {
    "news2": (None, 4.0),
    "latest_egfr": (60.0, None),
    "latest_creatinine": (None, 1.3),
    "latest_potassium": (3.5, 5.0),
    "latest_hemoglobin": (12.0, None),
    "latest_bnp": (None, 100.0),
    "latest_hba1c": (None, 6.4),
    "rhr_delta": (None, 5.0),
    "rhr_z": (None, 2.0),
    "steps_ratio": (0.7, None),
    "weight_gain_3d": (None, 2.0),
    "spo2_delta": (-2.0, None),
    "glucose_mean": (70.0, 180.0),
    "glucose_cv": (None, 0.36),
    "prior_emergency_365d": (None, 0.0),
    "prior_inpatient_365d": (None, 0.0),
}


def deterioration_catalog() -> dict[str, FeatureInfo]:
    """How each deterioration feature reads in clinical words."""
    out: dict[str, FeatureInfo] = {}
    for name, (label, unit) in FEATURE_LABELS.items():
        low, high = RANGES.get(name, (None, None))
        decimals = 2 if name in ("steps_ratio", "glucose_cv", "rhr_z") else (0 if name.startswith("prior_") else 1)
        values = {"1.0": "present", "0.0": "absent"} if name.startswith("has_") else {}
        if name == "male":
            values = {"1.0": "yes", "0.0": "no"}
        out[name] = FeatureInfo(label=label, unit=unit, low=low, high=high, decimals=decimals, values=values)
    return out


class ReadingsSource(Protocol):
    """Device readings of one patient (columns patient_id, type, time, value; empty when none)."""

    def readings(self, patient_id: str) -> pd.DataFrame: ...


class ParquetReadings:
    """Readings from a parquet table, read once on first use; a missing file means no readings for anyone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._table: pd.DataFrame | None = None

    def readings(self, patient_id: str) -> pd.DataFrame:
        if self._table is None:
            if not self.path.is_file():
                self._table = pd.DataFrame(columns=["patient_id", "type", "time", "value"])
            else:
                self._table = pd.read_parquet(self.path, columns=["patient_id", "type", "time", "value"])
        return self._table[self._table["patient_id"] == patient_id]


class StoredReadings:
    """Readings from the store's ``readings`` table (what ``POST /streams`` and ``monitor replay --store`` wrote)."""

    def __init__(self, repository: Callable[[], ReadingRepository]) -> None:
        self._repository = repository

    def readings(self, patient_id: str) -> pd.DataFrame:
        rows = self._repository().since(patient_id, 0)
        frame = pd.DataFrame(rows, columns=["type", "time", "value", "unit"])
        frame.insert(0, "patient_id", patient_id)
        frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
        return frame[["patient_id", "type", "time", "value"]]


class DeteriorationRiskProvider:
    """Probability of an emergency visit or admission within 7 days, for a patient with device readings."""

    name = "deterioration_risk"

    def __init__(
        self,
        registry: ModelRegistry,
        source: ReadingsSource,
        card_url: str | None = "/dashboard/models/deterioration",
    ) -> None:
        self.registry = registry
        self.source = source
        self.card_url = card_url
        self._serving = ServingModel(registry, MODEL_NAME)

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        readings = self.source.readings(profile.patient_id)
        if readings.empty:
            return []
        loaded = self._serving.current()
        if loaded is None:
            return [Declined(profile.patient_id, self.name, "no deterioration model is registered yet")]
        version, model, metadata = loaded
        readings = readings[pd.to_datetime(readings["time"], utc=True) < pd.Timestamp(profile.as_of)]
        days = daily_summaries(readings)
        if days.empty:
            return []
        # The model's index is a midnight: score at the start of the day after the last complete day of readings.
        last_day = pd.Timestamp(days["day"].max()) + pd.Timedelta(days=1)
        index = min(last_day.to_pydatetime(), profile.as_of).astimezone(UTC)
        index = datetime(index.year, index.month, index.day, tzinfo=UTC)
        row = pd.DataFrame([features_at(profile, days, index)], columns=list(FEATURES))
        info = RiskModelInfo(
            model_id=MODEL_NAME,
            version=version,
            outcome="7-day deterioration (emergency visit or admission)",
            training_window=metadata.get("training_window"),
            card_url=self.card_url,
        )
        return [
            risk_insight(
                model,
                row,
                patient_id=profile.patient_id,
                as_of=index,
                info=info,
                catalog=deterioration_catalog(),
                high_risk=0.1,
            )
        ]
