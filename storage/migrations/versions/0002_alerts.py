"""Alerts: one per (project, milestone, level), their deliveries (outbox), job leases; an index for
observed durations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Recently completed projects of a workflow, newest first (observed durations for forecasts).
    op.create_index(
        "ix_projects_workflow_state_entered", "projects", ["workflow_id", "state", "entered_at"]
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("milestone", sa.String(100), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("project_id", "milestone", "level", name="uq_alerts_project_milestone_level"),
    )
    op.create_index("ix_alerts_created_at", "alerts", ["created_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("alert_id", "channel", "recipient", name="uq_deliveries_alert_channel_recipient"),
    )
    op.create_index("ix_deliveries_status_next", "alert_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("last_success_as_of", sa.Date, nullable=True),
        sa.Column("last_success_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_index("ix_projects_workflow_state_entered", table_name="projects")
    op.drop_table("jobs")
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
