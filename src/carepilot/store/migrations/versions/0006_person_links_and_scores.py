"""person links across sources, the link review queue, batch risk scores

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_links",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("golden_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("match_probability", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_person_links")),
    )
    with op.batch_alter_table("person_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_links_golden_id"), ["golden_id"], unique=False)

    op.create_table(
        "link_review",
        sa.Column("pair", sa.String(length=129), nullable=False),
        sa.Column("left_id", sa.String(length=64), nullable=False),
        sa.Column("right_id", sa.String(length=64), nullable=False),
        sa.Column("left_source", sa.String(length=128), nullable=True),
        sa.Column("right_source", sa.String(length=128), nullable=True),
        sa.Column("match_weight", sa.Float(), nullable=True),
        sa.Column("match_probability", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("pair", name=op.f("pk_link_review")),
    )
    with op.batch_alter_table("link_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_review_status"), ["status"], unique=False)

    op.create_table(
        "risk_scores",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("index_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "patient_id", "model", name=op.f("pk_risk_scores")),
    )
    with op.batch_alter_table("risk_scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_scores_scored_at"), ["scored_at"], unique=False)


def downgrade() -> None:
    op.drop_table("risk_scores")
    op.drop_table("link_review")
    op.drop_table("person_links")
