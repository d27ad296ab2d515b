"""The Insight contract (DESIGN.md section 4): every patient-specific output, whatever engine made it.

An engine that cannot answer safely returns ``Declined`` (with the reason) instead of an Insight.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

INSIGHT_NAMESPACE = uuid.UUID("6f1c2a4e-3b0d-4c39-9d7e-0c1f5e2b8a11")


class InsightKind(StrEnum):
    RISK = "risk"
    TREATMENT_OPTION = "treatment_option"
    DOSE = "dose"
    PGX = "pgx"
    ONCOLOGY = "oncology"
    INTERACTION = "interaction"
    MONITORING_ALERT = "monitoring_alert"
    CARE_GAP = "care_gap"
    ADHERENCE = "adherence"
    MODEL_ALERT = "model_alert"


class Severity(StrEnum):
    """Maps onto the CDS Hooks card indicator."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float = 0.95

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"interval low {self.low} is above high {self.high}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"interval level {self.level} must be between 0 and 1")

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class Confidence:
    """How sure we are, as a number where one exists and always in words."""

    level: str  # "high" | "moderate" | "low" | evidence level such as "CPIC A"
    statement: str
    value: float | None = None


@dataclass(frozen=True)
class Factor:
    """One driver of this output for this patient: signed, sized, in clinical words."""

    label: str
    contribution: float
    phrase: str


@dataclass(frozen=True)
class Evidence:
    label: str
    citation: str
    url: str | None = None
    level: str | None = None


@dataclass(frozen=True)
class Source:
    """Model or rule id and version; the data window it was trained or curated on."""

    id: str
    version: str
    kind: str  # "model" | "rule" | "score"
    data_window: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Insight:
    patient_id: str
    as_of: datetime
    kind: InsightKind
    title: str
    detail: str
    confidence: Confidence
    source: Source
    explanation: tuple[Factor, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    value: float | None = None
    unit: str | None = None
    interval: Interval | None = None
    severity: Severity = Severity.INFO
    actions: tuple[dict[str, Any], ...] = ()
    topic: str | None = None
    id: str = field(default="")

    def __post_init__(self) -> None:
        if len(self.title) >= 140:
            raise ValueError(f"Insight title must be under 140 characters, got {len(self.title)}")
        if not self.id:
            key = f"{self.patient_id}|{self.kind}|{self.topic or self.title}|{self.source.id}|{self.as_of.isoformat()}"
            object.__setattr__(self, "id", str(uuid.uuid5(INSIGHT_NAMESPACE, key)))


@dataclass(frozen=True)
class Declined:
    """An engine's recorded refusal to answer for a patient, with the reason."""

    patient_id: str
    engine: str
    reason: str
