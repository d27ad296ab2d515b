"""Assemble the immutable, point-in-time PatientProfile from the normalised tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from carepilot.domain.profile import (
    Allergy,
    Coding,
    Demographics,
    Encounter,
    Measurement,
    Medication,
    PatientProfile,
    Problem,
)
from carepilot.ingest.times import as_utc
from carepilot.store.links import LinkRepository, golden_record
from carepilot.store.repository import ProfileRows, RecordRepository


def _coding(row: dict[str, Any]) -> Coding:
    return Coding(system=row.get("system") or "", code=row.get("code") or "", display=row.get("display"))


def load_profile(repo: RecordRepository, patient_id: str, as_of: datetime | None = None) -> PatientProfile:
    """The patient's profile as known at ``as_of`` (default: now); nothing dated later is included.

    Raises:
        NotFoundError: no patient with that id.
    """
    return profile_from_rows(repo.profile_rows(patient_id), patient_id, as_of)


def person_record(
    repo: RecordRepository, links: LinkRepository, patient_id: str, as_of: datetime | None = None
) -> dict[str, Any] | None:
    """The golden record of the person ``patient_id`` belongs to, with provenance; None when it is not linked."""
    rows = links.person_of(patient_id)
    if not rows:
        return None
    profiles = [(r["source"], load_profile(repo, r["patient_id"], as_of)) for r in rows]
    return golden_record(rows, profiles)


def profile_from_rows(rows: ProfileRows, patient_id: str, as_of: datetime | None = None) -> PatientProfile:
    """Pure: the profile as known at ``as_of`` from normalised rows (stored, or built from FHIR in memory)."""
    as_of = as_utc(as_of) or datetime.now(UTC)
    p = rows.patient
    name = " ".join(x for x in (p.get("given"), p.get("family")) if x) or None
    deceased = as_utc(p.get("deceased"))
    demographics = Demographics(
        patient_id=patient_id,
        birth_date=p.get("birth_date"),
        sex=p.get("sex"),
        deceased=deceased,
        race=p.get("race"),
        ethnicity=p.get("ethnicity"),
        language=p.get("language"),
        site=p.get("site"),
        name=name,
    )
    measurements = tuple(
        Measurement(
            resource_id=r["row_id"],
            concept=r.get("concept"),
            code=_coding(r),
            effective=as_utc(r.get("effective")),
            value=r.get("value"),
            unit=r.get("unit"),
            original_value=r.get("original_value"),
            original_unit=r.get("original_unit"),
            text_value=r.get("text_value"),
            category=r.get("category"),
        )
        for r in rows.observations
        if r.get("status") not in ("entered-in-error", "cancelled")
    )
    problems = tuple(
        Problem(
            resource_id=r["resource_id"],
            concept=r.get("concept"),
            code=_coding(r),
            onset=as_utc(r.get("onset")),
            abatement=as_utc(r.get("abatement")),
            clinical_status=r.get("clinical_status"),
            recorded=as_utc(r.get("recorded")),
        )
        for r in rows.conditions
    )
    medications = tuple(
        Medication(
            resource_id=r["resource_id"],
            concept=r.get("concept"),
            code=_coding(r),
            status=r.get("status"),
            authored=as_utc(r.get("authored")),
            ended=as_utc(r.get("ended")),
            dosage=r.get("dosage"),
            resource_type=r.get("resource_type") or "MedicationRequest",
            days_supply=r.get("days_supply"),
        )
        for r in rows.medications
    )
    allergies = tuple(
        Allergy(
            resource_id=r["resource_id"],
            concept=r.get("concept"),
            code=_coding(r),
            recorded=as_utc(r.get("recorded")),
            criticality=r.get("criticality"),
            clinical_status=r.get("clinical_status"),
        )
        for r in rows.allergies
    )
    encounters = tuple(
        Encounter(
            resource_id=r["resource_id"],
            encounter_class=r.get("encounter_class"),
            type=r.get("type"),
            start=as_utc(r.get("start")),
            end=as_utc(r.get("end")),
            discharge_disposition=r.get("discharge_disposition"),
            reason=r.get("reason"),
        )
        for r in rows.encounters
    )
    everything = PatientProfile(
        demographics=demographics,
        as_of=as_of,
        problems=problems,
        medications=medications,
        allergies=allergies,
        measurements=measurements,
        encounters=encounters,
        sources=tuple(rows.sources),
        identifiers=tuple(
            (i.get("system") or "", i.get("value") or "") for i in orjson.loads(p.get("identifiers") or "[]")
        ),
    )
    # One definition of "known at a time" for every reader: the domain's truncation.
    return everything.truncated(as_of)
