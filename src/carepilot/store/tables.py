"""SQLAlchemy Core tables of the unified record.

Raw resources are kept, versioned, in ``resource_history`` (nothing received is lost); ``resources`` holds the
current version of each; the normalised tables (``patients``, ``observations`` ...) are derived from the current
version and rebuilt whenever it changes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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

# --- engagement nudges (migration 0007) ---------------------------------------------------------------------

nudge_settings = Table(
    "nudge_settings",
    metadata,
    Column("patient_id", String(ID), primary_key=True),
    Column("enabled", Integer, nullable=False),
    Column("max_per_week", Integer, nullable=False),
    Column("quiet_start", Integer, nullable=False),
    Column("quiet_end", Integer, nullable=False),
    Column("reason", String(400)),
    Column("updated_by", String(200)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

nudge_messages = Table(
    "nudge_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(ID), nullable=False, index=True),
    Column("arm", String(64), nullable=False),
    Column("message_type", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("timing", String(16), nullable=False),
    Column("context", Text, nullable=False),
    Column("policy_id", String(100), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(400)),
    Column("scheduled_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

nudge_responses = Table(
    "nudge_responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("patient_id", String(ID), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("responded_at", DateTime(timezone=True), nullable=False),
)
# -- monitoring: wearable / CGM readings stored compactly (one row per sample, no FHIR resource) ----------------

readings = Table(
    "readings",
    metadata,
    # The primary key is the de-duplication key: one value per patient, type and instant (the first one wins).
    Column("patient_id", String(ID), primary_key=True),
    Column("type", String(16), primary_key=True),
    Column("time", BigInteger, primary_key=True),  # UTC epoch milliseconds
    Column("value", Float, nullable=False),  # in the type's canonical unit
    Column("unit", String(16), nullable=False),
    Column("device", String(100)),
)

monitoring_alerts = Table(
    "monitoring_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(ID), nullable=False),
    Column("episode_id", String(36), nullable=False),
    Column("escalates", String(36)),
    Column("rule", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("triggered_at", DateTime(timezone=True), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | acknowledged
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitoring_alerts_patient_status", "patient_id", "status"),
)
# -- dashboard sessions: server-side, keyed by a hash of the cookie's random id -----------------------------------

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("principal", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False, index=True),
)
# -- learning loop: served predictions, resolved outcomes, model governance events ---------------------------------

predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(ID), nullable=False, index=True),
    Column("encounter_id", String(ID)),
    Column("index_time", DateTime(timezone=True), nullable=False, index=True),
    Column("model_name", String(64), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("score", Float, nullable=False),
    Column("insight_id", String(36), index=True),
    Column("features", Text),
    Column("served_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model_name", "model_version", "patient_id", "index_time", name="uq_prediction_index"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("prediction_id", Integer, index=True),
    Column("insight_id", String(36), index=True),
    Column("patient_id", String(ID), nullable=False, index=True),
    Column("model_name", String(200)),
    Column("model_version", String(64)),
    Column("index_time", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("label", Integer),
    Column("value", Float),
    Column("detail", Text),
    Column("resolved_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "subject", name="uq_outcome_subject"),
)

model_events = Table(
    "model_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("entity", String(200), nullable=False),
    Column("model_name", String(64), index=True),
    Column("model_version", String(32)),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text),
    Column("flagged", Integer, nullable=False, default=0),
)

# -- audit trail: append-only, hash-chained (security/audit.py says how); audit_head is the chain's one-row head -----

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("recorded_at", String(32), nullable=False),  # ISO 8601 UTC text: hashed exactly as stored
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("entity", String(400), nullable=False),
    Column("patient_id", String(ID), index=True),
    Column("reason", Text),
    Column("outcome", String(16), nullable=False),
    Column("flagged", Boolean, nullable=False, default=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
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
