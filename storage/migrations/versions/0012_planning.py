"""Planning: blackout windows (per project, district or programme) and baselines (planned date per milestone).

Revision ID: 0012_planning
Revises: 0007_accounts
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0012_planning"
down_revision = "0010_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blackouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_blackouts_scope_target", "blackouts", ["scope", "target"])
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("milestone", sa.String(100), nullable=False),
        sa.Column("planned", sa.Date, nullable=False),
        sa.Column("taken_on", sa.Date, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("project_id", "milestone", name="uq_baselines_project_milestone"),
    )


def downgrade() -> None:
    op.drop_table("baselines")
    op.drop_index("ix_blackouts_scope_target", table_name="blackouts")
    op.drop_table("blackouts")
