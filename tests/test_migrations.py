"""The Alembic migrations build exactly the schema of storage.tables, on every backend, and the code
knows which revision it needs."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from cli import cli
from engine.errors import SchemaOutdated
from storage import schema
from storage.db import SCHEMA_REVISION, Database
from storage.tables import metadata
from support import assert_one_error


def differences(db: Database) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def test_head_is_the_revision_the_code_expects() -> None:
    assert schema.head_revision() == SCHEMA_REVISION
    heads = ScriptDirectory.from_config(schema._config()).get_heads()
    assert heads == [SCHEMA_REVISION]  # one line of history, no branches


def test_migrated_schema_matches_the_tables(database: Database) -> None:
    before, after = schema.upgrade(database)
    assert (before, after) == (None, SCHEMA_REVISION)
    assert differences(database) == []
    assert set(inspect(database.engine).get_table_names()) == {"alembic_version", *metadata.tables}


def test_downgrade_and_upgrade_again(database: Database) -> None:
    schema.upgrade(database)
    with database.translate_errors(), database.engine.begin() as conn:
        cfg = schema._config()
        cfg.attributes["connection"] = conn
        from alembic import command

        command.downgrade(cfg, "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    assert database.current_revision() is None
    schema.upgrade(database)
    assert database.current_revision() == SCHEMA_REVISION
    assert differences(database) == []


def test_a_database_without_schema(database: Database, runner, db_url) -> None:
    assert database.current_revision() is None
    with pytest.raises(SchemaOutdated) as info:
        database.require_schema()
    assert info.value.exit_code == 7
    assert_one_error(runner.invoke(cli, ["status", "--db", db_url]), 7, "run: dongflow init")
    current = runner.invoke(cli, ["db", "current", "--db", db_url])
    assert current.exit_code == 0 and "revision none (empty)" in current.stdout and "needs: dongflow db upgrade" in current.stdout
    upgraded = runner.invoke(cli, ["db", "upgrade", "--db", db_url])
    assert upgraded.exit_code == 0 and f"upgraded from empty to {SCHEMA_REVISION}" in upgraded.stdout
    again = runner.invoke(cli, ["db", "upgrade", "--db", db_url])
    assert f"already at revision {SCHEMA_REVISION}" in again.stdout
    current = runner.invoke(cli, ["db", "current", "--db", db_url])
    assert "(up to date)" in current.stdout
