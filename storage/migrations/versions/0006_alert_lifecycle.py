"""Alert lifecycle and fencing: alert states (acknowledged, snoozed, resolved ...), their timeline,
reminders and escalation; delivery kinds and message keys (receiver-side dedupe); the lease epoch;
destinations known so far (a destination added later gets a digest of what is open).

Revision ID: 0006_alert_lifecycle
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0006_alert_lifecycle"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("state", sa.String(20), nullable=False, server_default="open"))
        batch.add_column(sa.Column("state_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("snoozed_until", sa.Date, nullable=True))
        batch.add_column(sa.Column("open_since", sa.Date, nullable=True))
        batch.add_column(sa.Column("last_notified_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("reminders", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("escalated_on", sa.Date, nullable=True))
        batch.create_index("ix_alerts_state", ["state"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("as_of", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id"])
    op.create_table(
        "alert_destinations",
        sa.Column("channel", sa.String(100), primary_key=True),
        sa.Column("recipient", sa.String(300), primary_key=True),
        sa.Column("added_at", UTCDateTime, nullable=False),
    )
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="alert"))
        batch.add_column(sa.Column("round", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("message_key", sa.String(100), nullable=True))
        batch.add_column(sa.Column("claimed_epoch", sa.Integer, nullable=True))
        batch.add_column(sa.Column("claimed_at", UTCDateTime, nullable=True))
        batch.drop_constraint("uq_deliveries_alert_channel_recipient", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_alert_channel_recipient_kind", ["alert_id", "channel", "recipient", "kind", "round"]
        )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_epoch", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_taken_at", UTCDateTime, nullable=True))
    # Every destination alerts already went to is known: only one added after this gets a digest.
    op.execute(
        "INSERT INTO alert_destinations (channel, recipient, added_at) "
        "SELECT d.channel, d.recipient, MIN(a.created_at) FROM alert_deliveries d "
        "JOIN alerts a ON a.id = d.alert_id GROUP BY d.channel, d.recipient"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_taken_at")
        batch.drop_column("lease_epoch")
    op.execute("DELETE FROM alert_deliveries WHERE kind <> 'alert'")
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_constraint("uq_deliveries_alert_channel_recipient_kind", type_="unique")
        batch.create_unique_constraint("uq_deliveries_alert_channel_recipient", ["alert_id", "channel", "recipient"])
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_epoch")
        batch.drop_column("message_key")
        batch.drop_column("round")
        batch.drop_column("kind")
    op.drop_table("alert_destinations")
    op.drop_index("ix_alert_events_alert", table_name="alert_events")
    op.drop_table("alert_events")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_state")
        batch.drop_column("escalated_on")
        batch.drop_column("reminders")
        batch.drop_column("last_notified_on")
        batch.drop_column("open_since")
        batch.drop_column("snoozed_until")
        batch.drop_column("state_at")
        batch.drop_column("state")
