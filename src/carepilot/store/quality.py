"""SQL behind the data-quality report: counts per check, grouped by resource type and source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from carepilot.domain.plausibility import PLAUSIBLE_RANGES
from carepilot.store import tables as t
from carepilot.store.db import Database

ONE_DAY = timedelta(days=1)  # results are often filed the day after a death

CODED_TABLES = {
    "Observation": t.observations,
    "Condition": t.conditions,
    "MedicationRequest": t.medications,
    "AllergyIntolerance": t.allergies,
}


def quality_counts(db: Database, now: datetime | None = None) -> dict[str, Any]:
    """Raw counts for every check of the data-quality report."""
    now = now or datetime.now(UTC)
    out: dict[str, Any] = {}
    r, q, p, o = t.resources, t.quarantine, t.patients, t.observations
    with db.read() as conn:
        out["resources"] = [
            dict(row._mapping)
            for row in conn.execute(
                select(r.c.resource_type, r.c.source, func.count().label("n")).group_by(r.c.resource_type, r.c.source)
            )
        ]
        out["quarantine"] = [
            dict(row._mapping)
            for row in conn.execute(
                select(q.c.resource_type, q.c.source, q.c.reason_code, func.count().label("n"))
                .where(q.c.status == "open")
                .group_by(q.c.resource_type, q.c.source, q.c.reason_code)
            )
        ]
        unknown = []
        for rtype, table in CODED_TABLES.items():
            src = select(r.c.resource_id, r.c.source).where(r.c.resource_type == rtype).subquery()
            rows = conn.execute(
                select(
                    src.c.source,
                    func.count().label("n"),
                    func.sum(case((table.c.concept.is_(None), 1), else_=0)).label("unmapped"),
                )
                .select_from(table.join(src, src.c.resource_id == table.c.resource_id))
                .group_by(src.c.source)
            )
            unknown += [{"resource_type": rtype, **dict(row._mapping)} for row in rows]
        out["unmapped_codes"] = unknown
        out["unconvertible_units"] = [
            dict(row._mapping)
            for row in conn.execute(
                select(o.c.concept, o.c.original_unit, func.count().label("n"))
                .where(o.c.unit_issue.is_not(None))
                .group_by(o.c.concept, o.c.original_unit)
            )
        ]
        out["orphans"] = int(
            conn.execute(
                select(func.count())
                .select_from(r.outerjoin(p, p.c.patient_id == r.c.patient_id))
                .where(r.c.patient_id.is_not(None), p.c.patient_id.is_(None))
            ).scalar_one()
        )
        patients = int(conn.execute(select(func.count()).select_from(p)).scalar_one())
        out["patients"] = patients
        out["completeness"] = _completeness(conn, patients)
        implausible = or_(
            *[
                and_(o.c.concept == key, or_(o.c.value < lo, o.c.value > hi))
                for key, (lo, hi) in PLAUSIBLE_RANGES.items()
            ]
        )
        out["implausible_values"] = [
            dict(row._mapping)
            for row in conn.execute(
                select(o.c.concept, func.count().label("n"))
                .where(o.c.value.is_not(None), implausible)
                .group_by(o.c.concept)
            )
        ]
        out["future_dates"] = int(
            conn.execute(select(func.count()).select_from(o).where(o.c.effective > now)).scalar_one()
        ) + int(
            conn.execute(select(func.count()).select_from(t.encounters).where(t.encounters.c.start > now)).scalar_one()
        )
        before_birth = select(func.count()).select_from(o.join(p, p.c.patient_id == o.c.patient_id))
        out["before_birth"] = int(
            conn.execute(before_birth.where(func.date(o.c.effective) < p.c.birth_date)).scalar_one()
        )
        after_death = 0
        for patient_id, deceased in conn.execute(select(p.c.patient_id, p.c.deceased).where(p.c.deceased.is_not(None))):
            after_death += int(
                conn.execute(
                    select(func.count()).where(o.c.patient_id == patient_id, o.c.effective > deceased + ONE_DAY)
                ).scalar_one()
            )
        out["after_death"] = after_death
        dup = (
            select(o.c.patient_id, o.c.concept, o.c.effective, o.c.value, func.count().label("n"))
            .where(o.c.concept.is_not(None), o.c.value.is_not(None))
            .group_by(o.c.patient_id, o.c.concept, o.c.effective, o.c.value)
            .having(func.count() > 1)
            .subquery()
        )
        out["duplicate_measurements"] = int(conn.execute(select(func.coalesce(func.sum(dup.c.n - 1), 0))).scalar_one())
        dup_p = (
            select(p.c.family, p.c.given, p.c.birth_date, func.count().label("n"))
            .where(p.c.family.is_not(None), p.c.birth_date.is_not(None))
            .group_by(p.c.family, p.c.given, p.c.birth_date)
            .having(func.count() > 1)
            .subquery()
        )
        out["possible_duplicate_patients"] = int(
            conn.execute(select(func.coalesce(func.sum(dup_p.c.n), 0))).scalar_one()
        )
    return out


COMPLETENESS_ELEMENTS: dict[str, tuple[str, Any]] = {
    "birth_date": ("patients", t.patients.c.birth_date),
    "sex": ("patients", t.patients.c.sex),
    "race": ("patients", t.patients.c.race),
}

KEY_MEASUREMENTS = ("systolic_bp", "body_weight", "bmi", "heart_rate", "hba1c", "creatinine", "egfr", "ldl")


def _completeness(conn: Any, patients: int) -> dict[str, float]:
    p, o = t.patients, t.observations
    result: dict[str, float] = {}
    if patients == 0:
        return result
    for name, (_, column) in COMPLETENESS_ELEMENTS.items():
        n = conn.execute(select(func.count()).select_from(p).where(column.is_not(None))).scalar_one()
        result[name] = round(n / patients, 4)
    for concept in KEY_MEASUREMENTS:
        n = conn.execute(
            select(func.count(func.distinct(o.c.patient_id))).where(o.c.concept == concept, o.c.value.is_not(None))
        ).scalar_one()
        result[concept] = round(n / patients, 4)
    for label, table in (
        ("encounter", t.encounters),
        ("condition", t.conditions),
        ("medication", t.medications),
        ("allergy_recorded", t.allergies),
    ):
        n = conn.execute(select(func.count(func.distinct(table.c.patient_id)))).scalar_one()
        result[label] = round(n / patients, 4)
    return result
