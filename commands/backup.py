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
    from contextlib import ExitStack

    from render.output import format_for_suffix
    from render.progress import progress
    from storage.dump import dump

    format_for_suffix(file, {".json": "json"}, field="FILE", alternative=None)  # a dump is JSON: dump.xlsx is refused
    with ExitStack() as stack:
        bar = None

        def tick(n: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(progress(total, "dumping rows"))
            bar.advance(n)

        counts = dump(app.db, Path(file), app.now(), force=force, progress=tick)
    summary = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    click.echo(f"wrote {file} from {app.db.describe()}: {summary or 'empty database'}")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@app_options
@pass_app
def restore_cmd(app: App, file: str) -> None:
    """Load a dump into an empty database (SQLite or PostgreSQL), all or nothing."""
    from render.progress import progress
    from storage.dump import read_header, restore

    counts_in_file = read_header(Path(file)).get("counts") or {}
    total = sum(n for n in counts_in_file.values() if isinstance(n, int))
    with progress(total, "restoring rows") as bar:
        counts = restore(app.db, Path(file), progress=bar.advance)
    summary = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    click.echo(f"restored {file} into {app.db.describe()}: {summary or 'nothing (empty dump)'}")
