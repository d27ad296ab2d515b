"""Consent in serving: no decision support for a patient who opted out of it (FHIR Consent, DECISION_SUPPORT).

``ServingConsent`` reads one patient's Consent resources from the store when asked (so an opt-out ingested while the
service runs takes effect within ``ttl_s``), and ``consented`` wraps every insight engine so it declines for an
opted-out patient: no Insight, hence no CDS card and nothing on the dashboard but the notice that decision support is
off at the patient's request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import orjson
from sqlalchemy import select

from carepilot.domain.consent import ConsentScope, consent_choices
from carepilot.domain.insight import Declined, Insight
from carepilot.domain.profile import PatientProfile
from carepilot.insights.service import InsightContext, InsightProvider
from carepilot.store import tables as t
from carepilot.store.db import Database

OPTED_OUT = "the patient opted out of AI decision support"


class ServingConsent:
    """Per-patient consent look-ups against the store, cached for ``ttl_s`` seconds."""

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
            if len(self._cache) > 100_000:
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


class ConsentedProvider:
    """An insight engine that declines for patients who opted out of decision support."""

    def __init__(self, inner: InsightProvider, consent: ServingConsent) -> None:
        self.inner = inner
        self.consent = consent
        self.name = inner.name

    def insights(self, profile: PatientProfile, context: InsightContext) -> Sequence[Insight | Declined]:
        """The inner engine's answer, or one Declined when the patient opted out."""
        if not self.consent.allows(profile.patient_id, ConsentScope.DECISION_SUPPORT):
            return [Declined(patient_id=profile.patient_id, engine=self.name, reason=OPTED_OUT)]
        return self.inner.insights(profile, context)


def consented(providers: Sequence[InsightProvider], consent: ServingConsent) -> list[InsightProvider]:
    """Every provider wrapped so it honours the DECISION_SUPPORT opt-out."""
    return [ConsentedProvider(p, consent) for p in providers]
