"""insights, feedback, seen CDS token ids and FHIR write-back

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insights",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("source_version", sa.String(length=64), nullable=False),
        sa.Column("hook_instance", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights")),
    )
    with op.batch_alter_table("insights", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insights_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insights_created_at"), ["created_at"], unique=False)

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("card", sa.String(length=100), nullable=False),
        sa.Column("insight_id", sa.String(length=36), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("override_code", sa.String(length=100), nullable=True),
        sa.Column("override_system", sa.String(length=400), nullable=True),
        sa.Column("override_display", sa.String(length=400), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("accepted_suggestions", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=True),
        sa.Column("source_version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_insight_id"), ["insight_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "cds_jti",
        sa.Column("iss", sa.String(length=400), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name=op.f("pk_cds_jti")),
    )
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_jti_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "writeback",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("insight_id", sa.String(length=36), nullable=True),
        sa.Column("hook_instance", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "resource_id", name=op.f("pk_writeback")),
    )
    with op.batch_alter_table("writeback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_writeback_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_table("writeback")
    op.drop_table("cds_jti")
    op.drop_table("feedback")
    op.drop_table("insights")
