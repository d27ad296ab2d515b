"""Monitoring inputs read from the store and the model registry, and the monitor run for one model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from carepilot.errors import NotFoundError
from carepilot.learning.monitoring import MonitoringReport, load_thresholds, monitor
from carepilot.learning.outcomes import OutcomeRepository
from carepilot.models.registry import ModelRegistry
from carepilot.store import tables as t
from carepilot.store.db import Database

REFERENCE_FILE = "reference.json"


def demographics(db: Database) -> pd.DataFrame:
    """Sex, race, ethnicity and birth date of every patient (for the HTI-1 fairness groups)."""
    p = t.patients
    with db.read() as conn:
        rows = conn.execute(select(p.c.patient_id, p.c.sex, p.c.race, p.c.ethnicity, p.c.birth_date)).all()
    return pd.DataFrame(
        [dict(r._mapping) for r in rows], columns=["patient_id", "sex", "race", "ethnicity", "birth_date"]
    )


def feedback_rows(db: Database, source_id: str | None = None) -> pd.DataFrame:
    """Feedback joined to its Insight's kind (optionally only the cards of one model or rule)."""
    f, i = t.feedback, t.insights
    stmt = select(
        f.c.outcome,
        f.c.override_code,
        f.c.override_display,
        f.c.source_id,
        f.c.source_version,
        f.c.outcome_timestamp,
        i.c.kind,
    ).select_from(f.outerjoin(i, f.c.insight_id == i.c.id))
    if source_id is not None:
        stmt = stmt.where(f.c.source_id == source_id)
    with db.read() as conn:
        rows = conn.execute(stmt).all()
    columns = [
        "outcome",
        "override_code",
        "override_display",
        "source_id",
        "source_version",
        "outcome_timestamp",
        "kind",
    ]
    return pd.DataFrame([dict(r._mapping) for r in rows], columns=columns)


def reference_path(registry: ModelRegistry, name: str, version: str) -> Path:
    """Where a version's reference profile (training-time feature and score bins) is kept."""
    return registry.root / name / version / REFERENCE_FILE


def write_reference(registry: ModelRegistry, name: str, version: str, profile: dict[str, Any]) -> Path:
    """Store a version's reference profile beside its artefact."""
    path = reference_path(registry, name, version)
    path.write_text(json.dumps(profile), encoding="utf-8")
    return path


def read_reference(registry: ModelRegistry, name: str, version: str) -> dict[str, Any] | None:
    path = reference_path(registry, name, version)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def validated_metrics(registry: ModelRegistry, name: str, version: str) -> dict[str, float]:
    """The AUROC and Brier a version was validated with (its card, else its registry metadata)."""
    out: dict[str, float] = {}
    card = registry.card_path(name, version)
    if card.is_file():
        try:
            metrics = json.loads(card.read_text(encoding="utf-8")).get("metrics", {})
        except (OSError, json.JSONDecodeError):
            metrics = {}
        out.update({k: float(metrics[k]) for k in ("auroc", "brier") if isinstance(metrics.get(k), int | float)})
    meta = registry.record(name, version).metadata
    for key in ("auroc", "brier"):
        value = meta.get("validation", {}).get(key) if isinstance(meta.get("validation"), dict) else None
        if key not in out and isinstance(value, int | float):
            out[key] = float(value)
    if "auroc" not in out and isinstance(meta.get("cv_auroc"), int | float):
        out["auroc"] = float(meta["cv_auroc"])
    return out


def monitor_model(
    db: Database,
    registry: ModelRegistry,
    name: str,
    *,
    window_days: int = 30,
    resolve: bool = True,
    thresholds_file: Path | None = None,
    n_resamples: int = 200,
) -> MonitoringReport:
    """Resolve due outcomes, then monitor the serving version of ``name`` on its logged predictions."""
    outcomes = OutcomeRepository(db)
    if resolve:
        outcomes.resolve()
    try:
        version: str | None = registry.record(name).version
    except NotFoundError:
        version = None
    preds = outcomes.predictions(name)
    if version is not None and not preds.empty:
        preds = preds[preds["model_version"] == version]
    reference = read_reference(registry, name, version) if version else None
    validated = validated_metrics(registry, name, version) if version else {}
    return monitor(
        name,
        preds,
        demographics(db),
        reference,
        validated,
        feedback_rows(db, source_id=name),
        load_thresholds(thresholds_file),
        serving_version=version,
        window_days=window_days,
        n_resamples=n_resamples,
    )
