"""Corrections: a project retired as entered by mistake keeps its rows and gets ``retired_at``.

Revision ID: 0010_corrections
Revises: 0007_accounts
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0010_corrections"
down_revision = "0009_workflows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy: events, alerts and budgets reference projects by id).
    op.add_column("projects", sa.Column("retired_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("retired_at")
