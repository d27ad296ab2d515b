"""The consent directory of the store: patients' opt-outs read from the FHIR Consent resources it holds."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from carepilot.domain.consent import ConsentScope, consent_choices
from carepilot.store import tables as t
from carepilot.store.db import Database


class SqlConsentDirectory:
    """Answers ``allows`` / ``opted_out`` from the current Consent resources; ``refresh`` re-reads them."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._out: dict[ConsentScope, frozenset[str]] | None = None

    def refresh(self) -> None:
        """Re-read the Consent resources (after an ingest)."""
        with self._db.read() as conn:
            rows = conn.execute(select(t.resources.c.content).where(t.resources.c.resource_type == "Consent"))
            self._out = consent_choices(orjson.loads(row.content) for row in rows)

    def opted_out(self, scope: ConsentScope) -> frozenset[str]:
        """The patients who opted out of ``scope``."""
        if self._out is None:
            self.refresh()
        assert self._out is not None
        return self._out.get(scope, frozenset())

    def allows(self, patient_id: str, scope: ConsentScope) -> bool:
        """True unless the patient opted out of ``scope``."""
        return patient_id not in self.opted_out(scope)
