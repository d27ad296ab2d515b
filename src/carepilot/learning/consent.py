"""Which patients' records may be used to train a model: everyone except those who opted out of training."""

from __future__ import annotations

from collections.abc import Iterable

from carepilot.domain.consent import ConsentDirectory, ConsentScope


def training_patients(patient_ids: Iterable[str], consent: ConsentDirectory | None) -> list[str]:
    """``patient_ids`` without the patients who opted out of ``ConsentScope.TRAINING`` (order kept)."""
    ids = list(patient_ids)
    if consent is None:
        return ids
    out = consent.opted_out(ConsentScope.TRAINING)
    return [pid for pid in ids if pid not in out]
