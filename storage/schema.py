"""Creating and upgrading the schema with Alembic (imported only by `init` and `db` commands)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from sqlalchemy import Connection

from storage.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade_on(conn: Connection, revision: str) -> None:
    """Run the migrations up to ``revision`` on an open connection, inside its transaction (a
    restore creates the schema and loads the rows as one transaction)."""
    cfg = _config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def upgrade(db: Database, revision: str = "head", workflow_dirs: tuple[str, ...] | list[str] = ()) -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns (before, after). Safe to run any number of times.
    ``workflow_dirs``: folders of workflow files that 0009_workflows may store versions from."""
    db.prepare_file()
    before = db.current_revision()
    cfg = _config()
    with db.translate_errors(), db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["workflow_dirs"] = list(workflow_dirs)
        command.upgrade(cfg, revision)
    return before, db.current_revision() or ""
