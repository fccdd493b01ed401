"""`dongflow demo`: a realistic portfolio for newcomers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import click

from commands.common import (
    App,
    _date,
    app_options,
    pass_app,
)
from commands.programme import _demo_programme
from engine.errors import InvalidInput

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------------------------------------
# Demo


@click.command()
@click.option("--as-of", "as_of", metavar="DATE", default="2016-05-20", show_default=True,
              help="The day the demo portfolio shows (histories stop there).")
@app_options
@pass_app
def demo(app: App, as_of: str) -> None:
    """Fill the database with the 2015 cohort (completed) and the 2016 cohort (under way)."""
    from render.progress import progress

    day = _date(as_of, "--as-of")
    assert day is not None
    with progress(4, "building the demo", min_total=0) as bar:  # on a terminal: four steps, ~5 s
        said, day = _build_demo(app, day, bar)
    click.echo(said)  # after the bar's line is finished
    _demo_next_steps(app, day)


def _build_demo(app: App, day: dt.date, bar: Any) -> tuple[str, dt.date]:
    """Build and store the demo; what to tell the user, and the day its data stands on."""
    from importlib.resources import files

    from programme import demo as demo_data
    from programme import demo_data as demo_programme
    from storage.schema import upgrade

    upgrade(app.db)
    dongs = demo_data.read_dongs(files("programme").joinpath("data/seoul-dongs-2016.csv").read_bytes())
    items = demo_data.build(app.catalog, dongs, as_of=day, tz=app.tz)
    items, meetings = demo_programme.annotate(app.catalog, items, app.tz)
    bar.advance()
    keys = [p.key for p, _ in items]
    taken = app.store.existing_keys(keys)
    if taken:
        if len(taken) == len(keys):
            from storage.demo_mark import demo_as_of

            return (f"{app.db.describe()} already holds the demo ({len(keys)} projects); nothing to do.",
                    demo_as_of(app.db) or day)
        raise InvalidInput(
            f"{len(taken)} of the demo's projects already exist in {app.db.describe()} "
            "(e.g. " + sorted(taken)[0] + "); use an empty database with --db",
            field="demo",
        )
    bar.advance()
    app.service.add_with_history(items)
    bar.advance()
    _demo_programme(app, items, meetings, day)
    from storage.demo_mark import mark_demo

    with app.db.write() as conn:
        mark_demo(conn, day, app.now())
    bar.advance()
    by_year: dict[int, int] = {}
    for p, _ in items:
        by_year[p.year] = by_year.get(p.year, 0) + 1
    summary = ", ".join(f"{year}: {n}" for year, n in sorted(by_year.items()))
    return f"{app.db.describe()}: added {len(items)} demo projects ({summary}) as of {day}", day


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # not strftime's %B, which follows the locale


def _demo_next_steps(app: App, day: dt.date) -> None:
    click.echo(
        f"The demo's data stands on {day.day} {_MONTHS[day.month - 1]} {day.year} ({day}): its histories stop "
        f"there. Give --as-of {day} to "
        "status, overdue, report and alerts run, or every project looks years late as of today."
    )
    click.echo("Try:")
    click.echo(f"  dongflow status --gu 성동구 --year 2016 --as-of {day}")
    click.echo(f"  dongflow status --year 2016 --state tender --as-of {day}")
    click.echo(f"  dongflow overdue --as-of {day}")
    click.echo("  dongflow history 2015-성동구-마장동")
    click.echo(f"  dongflow report --as-of {day}            (programme report; --format html -o report.html)")
    click.echo(f"  dongflow alerts run --as-of {day}        "
               "(the scheduler does not run on the demo: it checks as of today)")
