"""Programme data: project and programme-wide budgets, participation, people, the programme plan.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _who() -> list[sa.Column]:
    return [
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "project_budgets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("allocated", sa.BigInteger, nullable=False),
        sa.Column("executed", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        *_who(),
        sa.UniqueConstraint("project_id", "year", name="uq_project_budgets_project_year"),
    )
    op.create_index("ix_project_budgets_year", "project_budgets", ["year"])
    op.create_table(
        "programme_budgets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item", sa.String(100), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("allocated", sa.BigInteger, nullable=False),
        sa.Column("executed", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        *_who(),
        sa.UniqueConstraint("item", "year", name="uq_programme_budgets_item_year"),
    )
    op.create_table(
        "participation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("times", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        *_who(),
    )
    op.create_index("ix_participation_project", "participation", ["project_id"])
    op.create_index("ix_participation_kind_held_on", "participation", ["kind", "held_on"])
    op.create_table(
        "project_people",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(50), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        *_who(),
        sa.UniqueConstraint("project_id", "role", "name", name="uq_project_people_project_role_name"),
    )
    op.create_table(
        "plan_quarters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("quarter", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("completions", sa.Integer, nullable=False),
        *_who(),
    )
    op.create_table(
        "plan_years",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("budget", sa.BigInteger, nullable=False),
        *_who(),
    )


def downgrade() -> None:
    op.drop_table("plan_years")
    op.drop_table("plan_quarters")
    op.drop_table("project_people")
    op.drop_index("ix_participation_kind_held_on", table_name="participation")
    op.drop_index("ix_participation_project", table_name="participation")
    op.drop_table("participation")
    op.drop_table("programme_budgets")
    op.drop_index("ix_project_budgets_year", table_name="project_budgets")
    op.drop_table("project_budgets")
