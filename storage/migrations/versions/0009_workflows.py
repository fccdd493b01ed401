"""Workflow versions in the database: the validated source text of each published version.

An existing database gets, in the same upgrade, every (workflow, version) its projects use, loaded
from the shipped workflows (and the ``--workflows`` folders the upgrading command was given). A
version found nowhere is left out, not a crash: ``dongflow db upgrade`` then names it and says how to
publish it (storage/workflow_store.missing_versions).

Revision ID: 0009_workflows
Revises: 0007_accounts
Create Date: 2026-11-26
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import context, op

from storage.types import UTCDateTime

revision = "0009_workflows"
down_revision = "0007_accounts"
branch_labels = None
depends_on = None

PUBLISHED_BY = "dongflow db upgrade (0009_workflows)"


def upgrade() -> None:
    table = op.create_table(
        "workflow_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_workflow_version"),
    )
    _store_used_versions(table)


def _store_used_versions(table: sa.Table) -> None:
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR

    conn = op.get_bind()
    projects = sa.table("projects", sa.column("workflow_id", sa.String), sa.column("workflow_version", sa.Integer))
    used = sorted(tuple(r) for r in conn.execute(sa.select(projects.c.workflow_id, projects.c.workflow_version)
                                                  .distinct()))
    if not used:
        return
    dirs = context.config.attributes.get("workflow_dirs") or ()
    catalog = Catalog.from_dirs([SHIPPED_DIR, *dirs])
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for ref in used:
        source = catalog.source(ref)
        if source is not None:
            rows.append({"workflow_id": source.workflow_id, "version": source.version, "source": source.text,
                         "content_hash": source.content_hash, "published_at": now, "published_by": PUBLISHED_BY})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("workflow_versions")
