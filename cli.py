"""The ``dongflow`` command: parse, call the engine or storage, print. Nothing else lives here.

The commands themselves are in ``commands/`` (one module per area); this module builds the group,
and reports every error in one place (:meth:`DongflowGroup.invoke`): one line on stderr and the exit
code of the error class, never a traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click

from commands import accounts, backup, corrections, deadlines, demo, programme, projects, schema, web, workflows
from commands.common import LANGS, App, _dirs, _set
from engine.errors import DongflowError, InvalidInputs


def _error_line(exc: DongflowError) -> None:
    click.echo(f"Error: {exc.message}", err=True)
    if isinstance(exc, InvalidInputs) or hasattr(exc, "problems"):  # a file's bad rows, a bulk move's refusals
        for problem in exc.problems:
            click.echo(f"  {problem.message}", err=True)


class DongflowGroup(click.Group):
    """Reports every dongflow error as one line (plus one per bad row) and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            from engine.display import display_zone

            # Every message of the command shows times in the configured zone (--tz).
            with display_zone(ctx.ensure_object(App).tz):
                return super().invoke(ctx)
        except DongflowError as exc:
            _error_line(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing was half-written (each change is one transaction).", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            ctx.exit(0)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
            if os.environ.get("DONGFLOW_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]  # SQLAlchemy adds a "(Background ...)" line
            click.echo(
                f"Error: internal error ({type(exc).__name__}: {first}); "
                "please report it (set DONGFLOW_DEBUG=1 to see the traceback)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=DongflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", metavar="URL", envvar="DONGFLOW_DATABASE_URL", expose_value=False, callback=_set("db_url"),
              help="Database URL or SQLite file path. Default: ~/.local/share/dongflow/dongflow.db.")
@click.option("--workflows", "workflow_dirs", multiple=True, envvar="DONGFLOW_WORKFLOWS",
              type=click.Path(file_okay=False), expose_value=False, callback=_set("workflow_dirs", _dirs),
              help="A folder of your own workflow files (repeatable; the env var takes a path list).")
@click.option("--lang", type=click.Choice(LANGS), envvar="DONGFLOW_LANG", expose_value=False,
              callback=_set("lang"), help="Language of labels and headers: ko (default) or en.")
@click.option("--tz", metavar="ZONE", envvar="DONGFLOW_TIMEZONE", expose_value=False, callback=_set("tz_name"),
              help="Time zone for dates you type and dates shown. Default: Asia/Seoul.")
@click.version_option(package_name="dongflow", message="%(prog)s %(version)s")
def cli() -> None:
    """dongflow: track public building renovations from site survey to completion.

    Coordinators advance each project through its workflow; every change is recorded. Start with
    `dongflow demo` and `dongflow status`, or `dongflow init` for an empty database.
    """


cli.add_command(schema.init)
cli.add_command(schema.db)
cli.add_command(workflows.workflow)
cli.add_command(projects.project)
cli.add_command(projects.fact)
cli.add_command(projects.advance)
cli.add_command(projects.status)
cli.add_command(projects.history)
cli.add_command(corrections.undo)
projects.project.add_command(corrections.project_edit)
projects.project.add_command(corrections.project_retire)
cli.add_command(deadlines.overdue)
cli.add_command(deadlines.alerts)
cli.add_command(deadlines.scheduler)
cli.add_command(backup.dump_cmd)
cli.add_command(backup.restore_cmd)
cli.add_command(demo.demo)
cli.add_command(programme.budget)
cli.add_command(programme.participation)
cli.add_command(programme.people)
cli.add_command(programme.plan)
cli.add_command(programme.report)
cli.add_command(web.serve)
cli.add_command(accounts.user)
cli.add_command(accounts.token)


def main() -> None:
    app = App()
    try:
        cli(prog_name="dongflow", obj=app)
    finally:
        # The command is over. Close the database connections now (SQLite then checkpoints its
        # WAL and removes the -wal/-shm files, as it did when the interpreter collected them).
        if "db" in app.__dict__:
            app.db.dispose()
        # Only the interpreter's shutdown is left: its garbage collections would traverse every
        # object SQLAlchemy, SQLModel and pydantic made at import (~90 ms of CPU, measured: a fifth
        # of `dongflow status KEY`). Freezing takes them out of the collector's sight; atexit
        # handlers, flushing and closing files still happen.
        import gc

        gc.freeze()


if __name__ == "__main__":
    main()
