"""SQLAlchemy Core tables of the unified record.

Raw resources are kept, versioned, in ``resource_history`` (nothing received is lost); ``resources`` holds the
current version of each; the normalised tables (``patients``, ``observations`` ...) are derived from the current
version and rebuilt whenever it changes.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 64  # FHIR ids are at most 64 characters

resource_history = Table(
    "resource_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", String(128), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("last_updated", String(40)),
    Column("content_hash", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("file", Text),
    Column("position", String(32)),
    UniqueConstraint("resource_type", "resource_id", "version", name="uq_history_version"),
)

resources = Table(
    "resources",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("resource_id", String(ID), primary_key=True),
    Column("patient_id", String(ID), index=True),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("last_updated", String(40)),
    Column("source", String(128), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("content", Text, nullable=False),
)

patients = Table(
    "patients",
    metadata,
    Column("patient_id", String(ID), primary_key=True),
    Column("family", String(200)),
    Column("given", String(200)),
    Column("birth_date", Date),
    Column("sex", String(16)),
    Column("deceased", DateTime(timezone=True)),
    Column("race", String(64)),
    Column("ethnicity", String(64)),
    Column("language", String(32)),
    Column("site", String(200)),
    Column("source", String(128)),
    Column("identifiers", Text),
)

observations = Table(
    "observations",
    metadata,
    Column("row_id", String(ID + 40), primary_key=True),
    Column("resource_id", String(ID), nullable=False, index=True),
    Column("patient_id", String(ID), index=True),
    Column("concept", String(64), index=True),
    Column("system", String(200)),
    Column("code", String(64)),
    Column("display", String(400)),
    Column("category", String(64)),
    Column("status", String(32)),
    Column("effective", DateTime(timezone=True)),
    Column("value", Float),
    Column("unit", String(64)),
    Column("original_value", Float),
    Column("original_unit", String(64)),
    Column("text_value", String(400)),
    Column("unit_issue", String(200)),
)

conditions = Table(
    "conditions",
    metadata,
    Column("resource_id", String(ID), primary_key=True),
    Column("patient_id", String(ID), index=True),
    Column("concept", String(64), index=True),
    Column("system", String(200)),
    Column("code", String(64)),
    Column("display", String(400)),
    Column("clinical_status", String(32)),
    Column("onset", DateTime(timezone=True)),
    Column("abatement", DateTime(timezone=True)),
    Column("recorded", DateTime(timezone=True)),
)

medications = Table(
    "medications",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("resource_id", String(ID), primary_key=True),
    Column("patient_id", String(ID), index=True),
    Column("concept", String(64), index=True),
    Column("system", String(200)),
    Column("code", String(64)),
    Column("display", String(400)),
    Column("status", String(32)),
    Column("authored", DateTime(timezone=True)),
    Column("ended", DateTime(timezone=True)),
    Column("dosage", String(400)),
    Column("days_supply", Float),
)

allergies = Table(
    "allergies",
    metadata,
    Column("resource_id", String(ID), primary_key=True),
    Column("patient_id", String(ID), index=True),
    Column("concept", String(64)),
    Column("system", String(200)),
    Column("code", String(64)),
    Column("display", String(400)),
    Column("clinical_status", String(32)),
    Column("criticality", String(32)),
    Column("recorded", DateTime(timezone=True)),
)

encounters = Table(
    "encounters",
    metadata,
    Column("resource_id", String(ID), primary_key=True),
    Column("patient_id", String(ID), index=True),
    Column("encounter_class", String(32)),
    Column("type", String(400)),
    Column("status", String(32)),
    Column("start", DateTime(timezone=True)),
    Column("end", DateTime(timezone=True)),
    Column("discharge_disposition", String(64)),
    Column("reason", String(400)),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36)),
    Column("source", String(128), nullable=False),
    Column("file", Text),
    Column("position", String(32)),
    Column("resource_type", String(64)),
    Column("resource_id", String(ID)),
    Column("reason_code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("content", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Index("ix_quarantine_status", "status"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("source", String(128), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("summary", Text),
)

# Normalised tables and the resource types that feed them (for rebuilds and deletes).
NORMALISED_BY_TYPE: dict[str, Table] = {
    "Patient": patients,
    "Observation": observations,
    "Condition": conditions,
    "MedicationRequest": medications,
    "MedicationStatement": medications,
    "MedicationDispense": medications,
    "AllergyIntolerance": allergies,
    "Encounter": encounters,
}

# -- delivery: Insights shown, clinician feedback, seen CDS client token ids, FHIR write-back --------------------

insights = Table(
    "insights",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(ID), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("source_version", String(64), nullable=False),
    Column("hook_instance", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(100), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("card", String(100), nullable=False),
    Column("insight_id", String(36), index=True),
    Column("patient_id", String(ID), index=True),
    Column("outcome", String(16), nullable=False),
    Column("override_code", String(100)),
    Column("override_system", String(400)),
    Column("override_display", String(400)),
    Column("user_comment", Text),
    Column("accepted_suggestions", Text),
    Column("user_id", String(200)),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source_id", String(200)),
    Column("source_version", String(64)),
)

cds_jti = Table(
    "cds_jti",
    metadata,
    Column("iss", String(400), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

writeback = Table(
    "writeback",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("resource_id", String(ID), primary_key=True),
    Column("patient_id", String(ID), index=True),
    Column("insight_id", String(36)),
    Column("hook_instance", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("content", Text, nullable=False),
)

# -- population scale: identity links across sources, the review queue, batch risk scores -----------------------

person_links = Table(
    "person_links",
    metadata,
    Column("patient_id", String(ID), primary_key=True),
    Column("golden_id", String(36), nullable=False, index=True),
    Column("source", String(128)),
    Column("match_probability", Float),
    Column("status", String(16), nullable=False),  # auto | reviewed
    Column("run_id", String(36), nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
)

link_review = Table(
    "link_review",
    metadata,
    Column("pair", String(2 * ID + 1), primary_key=True),  # "A:B" with A < B
    Column("left_id", String(ID), nullable=False),
    Column("right_id", String(ID), nullable=False),
    Column("left_source", String(128)),
    Column("right_source", String(128)),
    Column("match_weight", Float),
    Column("match_probability", Float),
    Column("status", String(16), nullable=False, index=True),  # open | accepted | rejected
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", String(200)),
)

risk_scores = Table(
    "risk_scores",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("patient_id", String(ID), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("model_version", String(32), nullable=False),
    Column("index_time", DateTime(timezone=True)),
    Column("probability", Float, nullable=False),
    Column("engine", String(16), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False, index=True),
)
