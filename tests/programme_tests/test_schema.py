"""Migration 0003 builds exactly the tables of storage/tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_migrations_equal_the_table_definitions(db) -> None:  # type: ignore[no-untyped-def]
    from storage.db import SCHEMA_REVISION
    from storage.schema import head_revision
    from storage.tables import metadata

    assert SCHEMA_REVISION == head_revision()
    assert db.current_revision() == SCHEMA_REVISION
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []


def test_downgrade_to_0002_and_back(db) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from storage.db import SCHEMA_REVISION
    from storage.schema import _config, upgrade

    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert db.current_revision() == "0002"
    assert upgrade(db, "0003") == ("0002", "0003")
    assert upgrade(db) == ("0003", SCHEMA_REVISION)
