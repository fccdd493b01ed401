"""Creating and upgrading the database schema: `init`, `db current`, `db upgrade`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from commands.common import (
    App,
    app_options,
    pass_app,
)

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------------------------------------
# Schema


@click.command()
@app_options
@pass_app
def init(app: App) -> None:
    """Create the database schema, or upgrade it to this version. Safe to run again."""
    from storage.schema import upgrade

    before, after = upgrade(app.db, workflow_dirs=app.workflow_dirs)
    _warn_unstored(app)
    if before == after:
        click.echo(f"{app.db.describe()}: schema already at revision {after}; nothing to do")
    elif before is None:
        click.echo(f"{app.db.describe()}: created the dongflow schema (revision {after})")
    else:
        click.echo(f"{app.db.describe()}: upgraded the schema from revision {before} to {after}")


def _warn_unstored(app: App) -> None:
    """Name (on stderr) the workflow versions projects use that the database does not hold: neither
    the shipped workflows nor the folders given had them when the upgrade stored the others."""
    from storage.workflow_store import missing_versions

    with app.db.read() as conn:
        missing = missing_versions(conn)
    for workflow_id, version, count in missing:
        click.echo(f"Warning: {count} project{'s' if count != 1 else ''} use workflow {workflow_id} version {version}, "
                   "which is not stored in the database and not among the shipped workflows; publish its file "
                   "(dongflow workflow publish FILE) or upgrade again with --workflows FOLDER", err=True)


@click.group()
def db() -> None:
    """Database schema: show or upgrade its revision."""


@db.command("upgrade")
@app_options
@pass_app
def db_upgrade(app: App) -> None:
    """Upgrade the schema to the revision this dongflow needs (keeps all data)."""
    from storage.schema import upgrade

    before, after = upgrade(app.db, workflow_dirs=app.workflow_dirs)
    _warn_unstored(app)
    if before == after:
        click.echo(f"{app.db.describe()}: already at revision {after}")
    else:
        click.echo(f"{app.db.describe()}: upgraded from {before or 'empty'} to {after}")


@db.command("current")
@app_options
@pass_app
def db_current(app: App) -> None:
    """Show the schema revision of the database and the one this dongflow needs."""
    from storage.db import SCHEMA_REVISION

    current = app.db.current_revision()
    state = "up to date" if current == SCHEMA_REVISION else "needs: dongflow db upgrade"
    click.echo(f"{app.db.describe()}: revision {current or 'none (empty)'}; this dongflow needs {SCHEMA_REVISION} ({state})")
