"""Batch scoring of a whole population: feature views, every registered risk model, Insights; local or Spark.

The unit of work is a partition of patients, each carried as ``patient_id`` plus the JSON array of its FHIR
resources. The partition functions below (pandas in, pandas out) are the only place the work is done: the
local engine calls them on consecutive chunks in this process, the Spark engine ships them to executors with
``mapInPandas``. Same code on the same rows, so the engines give identical views and scores; Spark only
distributes the partitions.

Per patient: the ViewDefinitions in ``features/views/`` give the tabular views; the PatientProfile is built from
the resources exactly as a CDS prefetch is (``ingest.normalise`` rows -> ``profile_from_rows``); the risk
features are ``features.readmission.features_at`` at the last inpatient discharge (or ``as_of`` for patients
never admitted), as the readmission Insight provider does; every registered risk model scores the partition in
one vectorised call; Insights come from the InsightService with the default providers (or only the risk
Insights, for speed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from carepilot.config import Settings
from carepilot.domain.consent import ConsentDirectory, ConsentScope
from carepilot.domain.insight import Insight
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError
from carepilot.features.catalog import readmission_catalog
from carepilot.features.readmission import FEATURES, features_at, is_inpatient
from carepilot.features.viewdefinition import CompiledView, parse_view, resource_rows
from carepilot.features.views import view_definition
from carepilot.ingest.normalise import normalised_rows
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk_insight import RiskModelInfo, risk_insights
from carepilot.store.feedback import insight_payload
from carepilot.store.profiles import profile_from_rows
from carepilot.store.repository import ProfileRows
from carepilot.store.tables import NORMALISED_BY_TYPE

log = logging.getLogger(__name__)

FEATURE_VIEWS = ("patient_demographics", "observations", "conditions", "medication_requests")
INSIGHT_MODES = ("all", "risk", "none")
SCORE_COLUMNS = ("patient_id", "model", "model_version", "index_time", "probability", "out_of_distribution")
INSIGHT_COLUMNS = ("id", "patient_id", "kind", "severity", "title", "source_id", "source_version", "payload")
OUTCOMES = {"readmission": "30-day readmission"}


@dataclass(frozen=True)
class RiskModel:
    """One registered risk model version, loaded (checksum verified) and ready to ship to workers."""

    name: str
    version: str
    estimator: Any
    features: tuple[str, ...]
    training_window: str | None = None


@dataclass(frozen=True)
class ScoringJob:
    """Everything a partition needs: the scoring time, the models, which Insights, which views. Picklable."""

    as_of: datetime
    models: tuple[RiskModel, ...]
    insights: str = "all"
    views: tuple[str, ...] = FEATURE_VIEWS
    settings: Settings | None = None  # for the default Insight providers (mode "all")
    compiled: dict[str, CompiledView] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.insights not in INSIGHT_MODES:
            raise InputError(f"insights must be one of {', '.join(INSIGHT_MODES)}, not {self.insights!r}")
        if self.insights == "all" and self.settings is None:
            raise InputError("insights 'all' needs the settings that locate the reference data and models")
        for name in self.views:
            self.compiled.setdefault(name, parse_view(view_definition(name)))


def registered_risk_models(registry: ModelRegistry) -> tuple[RiskModel, ...]:
    """The latest version of every registered model whose features this scorer computes (the risk models)."""
    out = []
    for name in sorted({r.name for r in registry.records()}):
        record = registry.record(name)
        features = record.metadata.get("features")
        if not isinstance(features, list) or not features or not set(features) <= set(FEATURES):
            continue  # effect models and others take other inputs
        out.append(
            RiskModel(
                name=name,
                version=record.version,
                estimator=registry.load(name, record.version),
                features=tuple(features),
                training_window=record.metadata.get("training_window"),
            )
        )
    return tuple(out)


# -- per patient ------------------------------------------------------------------------------------------------


def resources_of(cell: Any) -> list[dict[str, Any]]:
    """The resource list of one population row (JSON text or bytes)."""
    data = orjson.loads(cell)
    if not isinstance(data, list):
        raise InputError("a population row's resources must be a JSON array")
    return data


def profile_of(patient_id: str, resources: Iterable[dict[str, Any]], as_of: datetime) -> PatientProfile | None:
    """The patient's profile from its resources (None without a usable Patient resource)."""
    tables: dict[str, list[dict[str, Any]]] = {
        name: [] for name in ("patients", "observations", "conditions", "medications", "allergies", "encounters")
    }
    for resource in resources:
        table = NORMALISED_BY_TYPE.get(resource.get("resourceType", ""))
        if table is None:
            continue
        try:
            tables[table.name].extend(normalised_rows(resource))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # the store quarantined it on ingest; a stored resource that fails here is skipped alike
    patient = next((row for row in tables["patients"] if row["patient_id"] == patient_id), None)
    if patient is None:
        return None
    rows = ProfileRows(
        patient=patient,
        observations=tables["observations"],
        conditions=tables["conditions"],
        medications=tables["medications"],
        allergies=tables["allergies"],
        encounters=tables["encounters"],
        sources=["store"],
    )
    return profile_from_rows(rows, patient_id, as_of)


def risk_features(profile: PatientProfile) -> tuple[datetime, dict[str, float]]:
    """Index time and readmission features: at the last inpatient discharge, or at ``as_of`` if never admitted."""
    inpatient = [e for e in profile.encounters if is_inpatient(e) and e.start is not None]
    last = max(inpatient, key=lambda e: e.start) if inpatient else None  # type: ignore[arg-type,return-value]
    index = last.end if last is not None and last.end is not None else profile.as_of
    admitted = last.start if last is not None else None
    disposition = last.discharge_disposition if last is not None else None
    return index, features_at(profile, index, admitted, disposition)


# -- partitions (pandas in, pandas out; the same functions run locally and in Spark) ------------------------------


def feature_partition(population: pd.DataFrame, job: ScoringJob) -> pd.DataFrame:
    """Risk feature rows (``patient_id``, ``index_time``, FEATURES) of a partition of the population."""
    rows = []
    for pid, cell in zip(population["patient_id"], population["resources"], strict=True):
        profile = profile_of(str(pid), resources_of(cell), job.as_of)
        if profile is None:
            log.warning("batch scoring: patient %s has no usable Patient resource; skipped", pid)
            continue
        index, features = risk_features(profile)
        rows.append({"patient_id": str(pid), "index_time": index.isoformat(), **features})
    return pd.DataFrame(rows, columns=["patient_id", "index_time", *FEATURES]).astype({f: "float64" for f in FEATURES})


def score_partition(features: pd.DataFrame, job: ScoringJob) -> pd.DataFrame:
    """Every risk model's probability for every row, in one vectorised call per model."""
    frames = []
    for model in job.models:
        if features.empty:
            continue
        X = features[list(model.features)]
        probability = model.estimator.predict_proba(X)[:, 1]
        flagged = [o.flagged for o in model.estimator.out_of_distribution(X)]
        frames.append(
            pd.DataFrame(
                {
                    "patient_id": features["patient_id"].to_numpy(),
                    "model": model.name,
                    "model_version": model.version,
                    "index_time": features["index_time"].to_numpy(),
                    "probability": probability.astype("float64"),
                    "out_of_distribution": np.asarray(flagged, dtype=bool),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=_SCORE_DTYPES[c]) for c in SCORE_COLUMNS})
    return pd.concat(frames, ignore_index=True)


_SCORE_DTYPES = {
    "patient_id": "object",
    "model": "object",
    "model_version": "object",
    "index_time": "object",
    "probability": "float64",
    "out_of_distribution": "bool",
}


def _insight_row(item: Insight) -> dict[str, Any]:
    return {
        "id": item.id,
        "patient_id": item.patient_id,
        "kind": str(item.kind),
        "severity": str(item.severity),
        "title": item.title,
        "source_id": item.source.id,
        "source_version": item.source.version,
        "payload": insight_payload(item),
    }


def risk_insight_partition(features: pd.DataFrame, job: ScoringJob) -> pd.DataFrame:
    """Risk Insights (value, interval, explanation) of every feature row, one per model, computed in batch.

    Patients the model declines (out of distribution) get no Insight here, as in the InsightService."""
    catalog = readmission_catalog()
    rows: list[dict[str, Any]] = []
    for model in job.models:
        info = RiskModelInfo(
            model_id=model.name,
            version=model.version,
            outcome=OUTCOMES.get(model.name, model.name.replace("_", " ")),
            training_window=model.training_window,
            card_url=f"/dashboard/models/{model.name}",
        )
        made = risk_insights(
            model.estimator,
            features[list(model.features)].reset_index(drop=True),
            [str(p) for p in features["patient_id"]],
            as_of=job.as_of,
            info=info,
            catalog=catalog,
        )
        rows.extend(_insight_row(i) for i in made if isinstance(i, Insight))
    return pd.DataFrame(rows, columns=list(INSIGHT_COLUMNS))


def insight_partition(population: pd.DataFrame, job: ScoringJob) -> pd.DataFrame:
    """Every Insight the default providers give for each patient of a partition (InsightService)."""
    from carepilot.insights.providers import default_providers  # heavy imports, only where Insights are asked for
    from carepilot.insights.service import InsightService

    assert job.settings is not None  # checked by ScoringJob
    service = InsightService(default_providers(job.settings))
    rows: list[dict[str, Any]] = []
    for pid, cell in zip(population["patient_id"], population["resources"], strict=True):
        profile = profile_of(str(pid), resources_of(cell), job.as_of)
        if profile is None:
            continue
        result = service.for_patient(profile)
        rows.extend(_insight_row(i) for i in result.insights)
    return pd.DataFrame(rows, columns=list(INSIGHT_COLUMNS))


def view_partition(population: pd.DataFrame, job: ScoringJob, name: str) -> pd.DataFrame:
    """The rows of one feature ViewDefinition over a partition's resources, typed by the view's columns."""
    view = job.compiled[name]
    rows: list[dict[str, Any]] = []
    for cell in population["resources"]:
        for resource in resources_of(cell):
            rows.extend(resource_rows(view, resource))
    return typed_view_frame(rows, view)


def view_dtype(fhir_type: str | None, collection: bool) -> str:
    """The pandas dtype of a view column: nullable boolean / integer, float, or text (lists as JSON text)."""
    if collection:
        return "object"
    if fhir_type == "boolean":
        return "boolean"
    if fhir_type in ("integer", "positiveInt", "unsignedInt", "integer64"):
        return "Int64"
    if fhir_type == "decimal":
        return "float64"
    return "object"


def typed_view_frame(rows: Sequence[dict[str, Any]], view: CompiledView) -> pd.DataFrame:
    """View rows as a DataFrame with one stable dtype per column (identical whatever engine made them)."""
    frame = pd.DataFrame(list(rows), columns=[c.name for c in view.columns])
    for column in view.columns:
        dtype = view_dtype(column.type, column.collection)
        if column.collection:
            frame[column.name] = [None if v is None else orjson.dumps(v).decode() for v in frame[column.name]]
        elif dtype == "object":
            frame[column.name] = [None if v is None else str(v) for v in frame[column.name]]
        else:
            frame[column.name] = frame[column.name].astype(dtype)
    return frame


# -- the whole run ----------------------------------------------------------------------------------------------


@dataclass
class ScoringOutput:
    """What a run produced: feature rows, scores, Insights and the view tables."""

    features: pd.DataFrame
    scores: pd.DataFrame
    insights: pd.DataFrame
    views: dict[str, pd.DataFrame]
    patients: int
    excluded_by_consent: int = 0
    engine: str = "local"
    seconds: dict[str, float] = field(default_factory=dict)


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Consecutive row slices of at most ``size`` rows."""
    for start in range(0, len(frame), max(1, size)):
        yield frame.iloc[start : start + size]


def consented(population: pd.DataFrame, consent: ConsentDirectory) -> tuple[pd.DataFrame, int]:
    """The patients who allow decision support, and how many were left out."""
    keep = [consent.allows(str(pid), ConsentScope.DECISION_SUPPORT) for pid in population["patient_id"]]
    kept = population[keep].reset_index(drop=True)
    return kept, len(population) - len(kept)
