"""engagement nudges: per-patient settings, messages planned or sent, responses

Revision ID: 0007
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nudge_settings",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Integer(), nullable=False),
        sa.Column("max_per_week", sa.Integer(), nullable=False),
        sa.Column("quiet_start", sa.Integer(), nullable=False),
        sa.Column("quiet_end", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_nudge_settings")),
    )
    op.create_table(
        "nudge_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("timing", sa.String(length=16), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("policy_id", sa.String(length=100), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudge_messages")),
    )
    with op.batch_alter_table("nudge_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nudge_messages_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_nudge_messages_scheduled_at"), ["scheduled_at"], unique=False)
    op.create_table(
        "nudge_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudge_responses")),
    )
    with op.batch_alter_table("nudge_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nudge_responses_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_nudge_responses_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    op.drop_table("nudge_responses")
    op.drop_table("nudge_messages")
    op.drop_table("nudge_settings")
