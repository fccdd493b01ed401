"""The incremental nightly check: one mark per checked project and the basis the marks were made on.

Revision ID: 0014_check_marks
Revises: 0013_web_sessions
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_check_marks"
down_revision = "0013_web_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A derived record (storage/check_marks.py): empty after the upgrade, so the first alert run after
    # it checks every project, as before, and writes the marks.
    op.create_table(
        "check_marks",
        sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("recheck_on", sa.Date, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
    )
    op.create_table(
        "check_basis",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("basis", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("check_basis")
    op.drop_table("check_marks")
