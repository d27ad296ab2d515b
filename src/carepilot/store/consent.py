"""The consent directory of the store: patients' opt-outs read from the FHIR Consent resources it holds.

Per-patient answers are cached for ``ttl_s`` seconds, so an opt-out ingested while the service runs takes effect
within that time; population-wide answers (``opted_out``, for training, scoring and export) are read afresh.
"""

from __future__ import annotations

import threading
import time

import orjson
from sqlalchemy import select

from carepilot.domain.consent import ConsentScope, consent_choices
from carepilot.store import tables as t
from carepilot.store.db import Database

CACHE_LIMIT = 100_000


class SqlConsentDirectory:
    """``allows`` / ``opted_out`` answered from the current Consent resources in the store."""

    def __init__(self, db: Database, ttl_s: float = 2.0) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, frozenset[ConsentScope]]] = {}
        self._lock = threading.Lock()

    def _denied(self, patient_id: str) -> frozenset[ConsentScope]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(patient_id)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.resources.c.content).where(
                    t.resources.c.resource_type == "Consent", t.resources.c.patient_id == patient_id
                )
            )
            choices = consent_choices(orjson.loads(row.content) for row in rows)
        denied = frozenset(scope for scope, ids in choices.items() if patient_id in ids)
        with self._lock:
            if len(self._cache) > CACHE_LIMIT:
                self._cache.clear()
            self._cache[patient_id] = (now, denied)
        return denied

    def allows(self, patient_id: str, scope: ConsentScope) -> bool:
        """True unless the patient opted out of ``scope``."""
        return scope not in self._denied(patient_id)

    def opted_out(self, scope: ConsentScope) -> frozenset[str]:
        """The patients who opted out of ``scope`` (reads every Consent in the store)."""
        with self.db.read() as conn:
            rows = conn.execute(select(t.resources.c.content).where(t.resources.c.resource_type == "Consent"))
            return consent_choices(orjson.loads(row.content) for row in rows).get(scope, frozenset())
