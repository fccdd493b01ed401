"""`dump` and `restore`: the whole database as one JSON file, and back."""

from __future__ import annotations

from pathlib import Path
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
# Backup and moving between databases


@click.command("dump")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@app_options
@pass_app
def dump_cmd(app: App, file: str, force: bool) -> None:
    """Write the whole database (projects, events, facts, alerts, ...) to one JSON file."""
    from storage.dump import dump

    counts = dump(app.db, Path(file), app.now(), force=force)
    summary = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    click.echo(f"wrote {file} from {app.db.describe()}: {summary or 'empty database'}")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@app_options
@pass_app
def restore_cmd(app: App, file: str) -> None:
    """Load a dump into an empty database (SQLite or PostgreSQL), all or nothing."""
    from storage.dump import restore

    counts = restore(app.db, Path(file))
    summary = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    click.echo(f"restored {file} into {app.db.describe()}: {summary or 'nothing (empty dump)'}")
