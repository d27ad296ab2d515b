"""PatientProfile: the typed, immutable, point-in-time view of one patient that every engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True)
class Demographics:
    patient_id: str
    birth_date: date | None
    sex: str | None  # administrative gender: male | female | other | unknown
    deceased: datetime | None = None
    race: str | None = None
    ethnicity: str | None = None
    language: str | None = None
    site: str | None = None
    name: str | None = None

    def age_at(self, when: datetime | date) -> float | None:
        if self.birth_date is None:
            return None
        day = when.date() if isinstance(when, datetime) else when
        return (day - self.birth_date).days / 365.25


@dataclass(frozen=True)
class Measurement:
    """A lab, vital or other observation in canonical units, with what was received kept beside it."""

    resource_id: str
    concept: str | None  # canonical concept key (e.g. "hba1c"), None when the code is not mapped
    code: Coding
    effective: datetime | None
    value: float | None
    unit: str | None
    original_value: float | None = None
    original_unit: str | None = None
    text_value: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class Problem:
    resource_id: str
    concept: str | None
    code: Coding
    onset: datetime | None
    abatement: datetime | None
    clinical_status: str | None
    recorded: datetime | None = None

    def active_at(self, when: datetime) -> bool:
        if self.onset is not None and self.onset > when:
            return False
        if self.abatement is not None and self.abatement <= when:
            return False
        return self.clinical_status in (None, "active", "recurrence", "relapse")


@dataclass(frozen=True)
class Medication:
    resource_id: str
    concept: str | None
    code: Coding
    status: str | None
    authored: datetime | None
    ended: datetime | None = None
    dosage: str | None = None
    resource_type: str = "MedicationRequest"

    def active_at(self, when: datetime) -> bool:
        if self.authored is not None and self.authored > when:
            return False
        if self.ended is not None and self.ended <= when:
            return False
        return self.status in (None, "active", "on-hold", "completed" if self.ended is None else "")


@dataclass(frozen=True)
class Allergy:
    resource_id: str
    concept: str | None
    code: Coding
    recorded: datetime | None
    criticality: str | None = None
    clinical_status: str | None = None


@dataclass(frozen=True)
class Encounter:
    resource_id: str
    encounter_class: str | None  # AMB | EMER | IMP | ...
    type: str | None
    start: datetime | None
    end: datetime | None
    discharge_disposition: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class TimelineEvent:
    when: datetime
    kind: str  # encounter | condition | medication | lab | vital | allergy
    label: str
    resource_id: str


@dataclass(frozen=True)
class PatientProfile:
    """Everything known about one patient as of ``as_of``; nothing recorded later is present."""

    demographics: Demographics
    as_of: datetime
    problems: tuple[Problem, ...] = ()
    medications: tuple[Medication, ...] = ()
    allergies: tuple[Allergy, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    encounters: tuple[Encounter, ...] = ()
    sources: tuple[str, ...] = field(default=())

    @property
    def patient_id(self) -> str:
        return self.demographics.patient_id

    @property
    def age(self) -> float | None:
        return self.demographics.age_at(self.as_of)

    def active_problems(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.active_at(self.as_of))

    def active_medications(self) -> tuple[Medication, ...]:
        return tuple(m for m in self.medications if m.active_at(self.as_of))

    def has_condition(self, concept: str) -> bool:
        return any(p.concept == concept for p in self.active_problems())

    def latest(self, concept: str) -> Measurement | None:
        """Most recent measurement of a concept with a value, or None."""
        best: Measurement | None = None
        for m in self.measurements:
            if m.concept != concept or m.effective is None:
                continue
            if best is None or (best.effective is not None and m.effective > best.effective):
                best = m
        return best

    def series(self, concept: str) -> tuple[Measurement, ...]:
        """All measurements of a concept, oldest first."""
        rows = [m for m in self.measurements if m.concept == concept and m.effective is not None]
        return tuple(sorted(rows, key=lambda m: m.effective))  # type: ignore[arg-type,return-value]

    def timeline(self) -> tuple[TimelineEvent, ...]:
        events: list[TimelineEvent] = []
        for e in self.encounters:
            if e.start:
                events.append(TimelineEvent(e.start, "encounter", e.type or e.encounter_class or "encounter", e.resource_id))
        for p in self.problems:
            if p.onset:
                events.append(TimelineEvent(p.onset, "condition", p.code.display or p.code.code, p.resource_id))
        for m in self.medications:
            if m.authored:
                events.append(TimelineEvent(m.authored, "medication", m.code.display or m.code.code, m.resource_id))
        for a in self.allergies:
            if a.recorded:
                events.append(TimelineEvent(a.recorded, "allergy", a.code.display or a.code.code, a.resource_id))
        return tuple(sorted(events, key=lambda ev: ev.when))
