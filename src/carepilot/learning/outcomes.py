"""Served predictions and their outcomes: log each risk prediction, resolve outcomes as data arrive, join them.

Two outcomes resolve here:

* ``readmission_30d`` for a prediction indexed at an inpatient discharge: was there another inpatient admission
  starting in ``(discharge, discharge + 30 days]``?
* ``hba1c_change`` for an accepted ``treatment_option`` Insight: the first HbA1c measured 90 to 270 days after the
  acceptance minus the last HbA1c at or before it (negative: it fell under the chosen therapy).

No leakage: an outcome resolves only once its whole window has closed *in the data*, i.e. the latest clinical time
recorded anywhere in the store (encounter starts and ends, observation times) lies at or beyond the window's end. A
readmission already seen on day 10 does not resolve the outcome early: resolving positives before negatives would
bias every performance figure computed on recent windows towards the events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from carepilot.errors import InputError
from carepilot.features.readmission import INPATIENT_CLASSES, READMISSION_WINDOW
from carepilot.store import tables as t
from carepilot.store.db import Database

READMISSION = "readmission_30d"
HBA1C = "hba1c_change"
HBA1C_WINDOW = (timedelta(days=90), timedelta(days=270))


@dataclass(frozen=True)
class Prediction:
    """One served risk prediction: whose, indexed when, by which model version, with what score."""

    patient_id: str
    index_time: datetime
    model_name: str
    model_version: str
    score: float
    insight_id: str | None = None
    encounter_id: str | None = None
    features: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0 or math.isnan(self.score):
            raise InputError(f"prediction score must be a probability in [0, 1], got {self.score}")
        if self.index_time.tzinfo is None:
            raise InputError("prediction index_time must carry a timezone")


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns; every stored time is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _clean_features(features: dict[str, float] | None) -> str | None:
    if features is None:
        return None
    return orjson.dumps(
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in features.items()}
    ).decode()


class OutcomeRepository:
    """Reads and writes the ``predictions`` and ``outcomes`` tables; resolves outcomes from the record tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert_ignore(self, table: Any) -> Any:
        dialect_insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
        return dialect_insert(table).on_conflict_do_nothing()

    # -- predictions ------------------------------------------------------------------------------------------
    def log_predictions(self, predictions: Sequence[Prediction], served_at: datetime | None = None) -> int:
        """Store served predictions; the first one served per (model version, patient, index time) is kept."""
        if not predictions:
            return 0
        now = served_at or datetime.now(UTC)
        rows = [
            {
                "patient_id": p.patient_id,
                "encounter_id": p.encounter_id,
                "index_time": p.index_time,
                "model_name": p.model_name,
                "model_version": p.model_version,
                "score": float(p.score),
                "insight_id": p.insight_id,
                "features": _clean_features(p.features),
                "served_at": now,
            }
            for p in predictions
        ]
        with self.db.write() as conn:
            done = conn.execute(self._insert_ignore(t.predictions), rows)
            return int(done.rowcount or 0)

    def predictions(self, model_name: str | None = None) -> pd.DataFrame:
        """Every logged prediction joined to its resolved outcome (label NaN while unresolved)."""
        p, o = t.predictions, t.outcomes
        stmt = select(
            p,
            o.c.label,
            o.c.window_end,
            o.c.resolved_at,
        ).select_from(p.outerjoin(o, and_(o.c.prediction_id == p.c.id, o.c.kind == READMISSION)))
        if model_name is not None:
            stmt = stmt.where(p.c.model_name == model_name)
        with self.db.read() as conn:
            frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(stmt.order_by(p.c.index_time))])
        if frame.empty:
            return frame
        for column in ("index_time", "served_at", "window_end", "resolved_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def outcomes(self, kind: str | None = None) -> pd.DataFrame:
        """Resolved outcomes (optionally of one kind)."""
        stmt = select(t.outcomes).order_by(t.outcomes.c.index_time)
        if kind is not None:
            stmt = stmt.where(t.outcomes.c.kind == kind)
        with self.db.read() as conn:
            return pd.DataFrame([dict(r._mapping) for r in conn.execute(stmt)])

    # -- resolution -------------------------------------------------------------------------------------------
    def data_end(self) -> datetime | None:
        """The latest clinical time recorded in the store: outcomes whose window ends after it are unknown."""
        e, ob = t.encounters, t.observations
        with self.db.read() as conn:
            candidates = [
                conn.execute(select(func.max(e.c.start))).scalar_one_or_none(),
                conn.execute(select(func.max(e.c.end))).scalar_one_or_none(),
                conn.execute(select(func.max(ob.c.effective))).scalar_one_or_none(),
            ]
        found = [_utc(c) for c in candidates if c is not None]
        return max(found) if found else None  # type: ignore[type-var]

    def resolve(self, now: datetime | None = None, as_of: datetime | None = None) -> dict[str, int]:
        """Resolve every outcome whose window has closed in the data; returns counts per outcome kind.

        ``as_of`` replays the store as it stood at an earlier time (a simulated deployment): windows must then have
        closed by ``as_of`` as well as by the store's data end.
        """
        end = self.data_end()
        if end is None:
            return {READMISSION: 0, HBA1C: 0}
        if as_of is not None:
            end = min(end, as_of)
        return {
            READMISSION: self._resolve_readmissions(end, now or datetime.now(UTC)),
            HBA1C: self._resolve_hba1c(end, now or datetime.now(UTC)),
        }

    def _resolve_readmissions(self, data_end: datetime, now: datetime) -> int:
        p, o, e = t.predictions, t.outcomes, t.encounters
        with self.db.read() as conn:
            pending = conn.execute(
                select(
                    p.c.id,
                    p.c.patient_id,
                    p.c.encounter_id,
                    p.c.index_time,
                    p.c.model_name,
                    p.c.model_version,
                    p.c.insight_id,
                )
                .select_from(p.outerjoin(o, and_(o.c.prediction_id == p.c.id, o.c.kind == READMISSION)))
                .where(o.c.id.is_(None), p.c.encounter_id.is_not(None))
            ).all()
            due = [r for r in pending if _utc(r.index_time) + READMISSION_WINDOW <= data_end]  # type: ignore[operator]
            patients = sorted({r.patient_id for r in due})
            admissions: dict[str, list[tuple[str, datetime]]] = {}
            for start in range(0, len(patients), 500):
                chunk = patients[start : start + 500]
                for row in conn.execute(
                    select(e.c.patient_id, e.c.resource_id, e.c.start).where(
                        e.c.patient_id.in_(chunk),
                        e.c.encounter_class.in_(sorted(INPATIENT_CLASSES)),
                        e.c.start.is_not(None),
                    )
                ):
                    admissions.setdefault(row.patient_id, []).append((row.resource_id, _utc(row.start)))  # type: ignore[arg-type]
        rows = []
        for r in due:
            index = _utc(r.index_time)
            assert index is not None  # the column is NOT NULL
            window_end = index + READMISSION_WINDOW
            hit = [
                rid
                for rid, start in admissions.get(r.patient_id, [])
                if rid != r.encounter_id and index < start <= window_end
            ]
            rows.append(
                {
                    "kind": READMISSION,
                    "subject": f"prediction:{r.id}",
                    "prediction_id": r.id,
                    "insight_id": r.insight_id,
                    "patient_id": r.patient_id,
                    "model_name": r.model_name,
                    "model_version": r.model_version,
                    "index_time": index,
                    "window_end": window_end,
                    "label": int(bool(hit)),
                    "value": None,
                    "detail": orjson.dumps({"readmission_encounter": hit[0] if hit else None}).decode(),
                    "resolved_at": now,
                }
            )
        return self._store(rows)

    def _resolve_hba1c(self, data_end: datetime, now: datetime) -> int:
        f, i, o, ob = t.feedback, t.insights, t.outcomes, t.observations
        with self.db.read() as conn:
            accepted = conn.execute(
                select(
                    f.c.insight_id, f.c.patient_id, f.c.outcome_timestamp, i.c.source_id, i.c.source_version, i.c.title
                )
                .select_from(f.join(i, f.c.insight_id == i.c.id))
                .where(f.c.outcome == "accepted", i.c.kind == "treatment_option")
            ).all()
            done = set(conn.execute(select(o.c.subject).where(o.c.kind == HBA1C)).scalars())
            rows = []
            for a in accepted:
                subject = f"insight:{a.insight_id}"
                at = _utc(a.outcome_timestamp)
                if subject in done or at is None or at + HBA1C_WINDOW[1] > data_end:
                    continue
                done.add(subject)  # an Insight accepted twice resolves once, from its first acceptance
                labs = [
                    (_utc(r.effective), r.value)
                    for r in conn.execute(
                        select(ob.c.effective, ob.c.value).where(
                            ob.c.patient_id == a.patient_id,
                            ob.c.concept == "hba1c",
                            ob.c.value.is_not(None),
                            ob.c.effective.is_not(None),
                        )
                    )
                ]
                before = [(when, v) for when, v in labs if when <= at]  # type: ignore[operator]
                after = sorted((when, v) for when, v in labs if at + HBA1C_WINDOW[0] <= when <= at + HBA1C_WINDOW[1])  # type: ignore[operator]
                baseline = max(before)[1] if before else None
                follow_up = after[0][1] if after else None
                change = follow_up - baseline if baseline is not None and follow_up is not None else None
                rows.append(
                    {
                        "kind": HBA1C,
                        "subject": subject,
                        "prediction_id": None,
                        "insight_id": a.insight_id,
                        "patient_id": a.patient_id,
                        "model_name": a.source_id,
                        "model_version": a.source_version,
                        "index_time": at,
                        "window_end": at + HBA1C_WINDOW[1],
                        "label": None if change is None else int(change < 0),
                        "value": change,
                        "detail": orjson.dumps(
                            {"therapy": a.title, "baseline": baseline, "follow_up": follow_up}
                        ).decode(),
                        "resolved_at": now,
                    }
                )
        return self._store(rows)

    def _store(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        with self.db.write() as conn:
            done = conn.execute(self._insert_ignore(t.outcomes), rows)
            return int(done.rowcount or 0)
