"""Web sessions (found by the SHA-256 of the browser's session id) and failed sign-in attempts.

Revision ID: 0013_web_sessions
Revises: 0012_planning
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0013_web_sessions"
down_revision = "0012_planning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("address", sa.String(100), nullable=True),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_name"])
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])
    op.create_table(
        "signin_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_signin_attempts_account", "signin_attempts", ["account", "at"])
    op.create_index("ix_signin_attempts_address", "signin_attempts", ["address", "at"])


def downgrade() -> None:
    op.drop_index("ix_signin_attempts_address", table_name="signin_attempts")
    op.drop_index("ix_signin_attempts_account", table_name="signin_attempts")
    op.drop_table("signin_attempts")
    op.drop_index("ix_web_sessions_expires", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
