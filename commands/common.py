"""What every command shares: the application object (configuration read once, at the edge),
the options that may follow any command name, and small helpers for output.

Heavy modules (SQLAlchemy/SQLModel, transitions, APScheduler, plotly) are imported inside the code
that needs them, so ``dongflow --help`` and database-free commands start fast.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from engine.errors import InvalidInput

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from engine.access import ScopedService
    from engine.catalog import Catalog
    from storage.db import Database
    from storage.repository import SqlProjectStore

DEFAULT_TZ = "Asia/Seoul"
PROGRESS_MIN_ROWS = 1000
"""Imports of at least this many rows show a progress bar (on stderr)."""
LANGS = ("ko", "en")


# ------------------------------------------------------------------------------------------------
# The application object: configuration read once at the edge, services built on first use.


class App:
    def __init__(self) -> None:
        self.db_url: str | None = None
        self.workflow_dirs: list[str] = []
        self.lang: str = "ko"
        self.tz_name: str = DEFAULT_TZ
        self.given_as: dict[str, str] = {}
        """Where each setting came from, as the user typed it (``--tz`` or ``DONGFLOW_TIMEZONE``)."""

    @cached_property
    def tz(self) -> ZoneInfo:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(self.tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            given_as = self.given_as.get("tz_name", "DONGFLOW_TIMEZONE")
            raise InvalidInput(f"unknown time zone {self.tz_name!r}", field=given_as) from None

    @cached_property
    def db(self) -> Database:
        from storage.db import Database, default_url

        return Database(self.db_url or default_url(), named_as=self.given_as.get("db_url", "--db"))

    @cached_property
    def catalog(self) -> Catalog:
        """The shipped workflows and --workflows folders merged with the versions stored in the
        database (storage/workflow_store.py): reads never need a local folder."""
        from storage.sqlite_path import absent_sqlite_file

        if absent_sqlite_file(self.db_url):  # no database yet: the files, without importing the ORM
            from engine.catalog import Catalog
            from storage.workflow_cache import CachedLoader
            from workflows import SHIPPED_DIR

            return Catalog.from_dirs([SHIPPED_DIR, *self.workflow_dirs], CachedLoader())
        from storage.workflow_store import load_catalog

        return load_catalog(self.db, self.workflow_dirs)

    @cached_property
    def store(self) -> SqlProjectStore:
        from storage.repository import SqlProjectStore

        self.db.require_schema()
        return SqlProjectStore(self.db)

    @cached_property
    def service(self) -> ScopedService:
        """The use cases as the operator calls them: the person at the server's terminal (who holds the
        database's credentials) has every right and names themselves with --actor."""
        from engine.access import Principal, ScopedService
        from engine.service import Service
        from programme.places import identity_rules

        return ScopedService(Service(self.store, self.catalog, identity_rules()), Principal.operator())

    @cached_property
    def accounts(self) -> Any:
        from engine.accounts import AccountService
        from programme.places import seoul_districts
        from storage.accounts import SqlAccountStore

        self.db.require_schema()
        return AccountService(SqlAccountStore(self.db), districts=seoul_districts())

    def now(self) -> dt.datetime:
        """The one place the CLI reads the clock; everything below receives the time."""
        return dt.datetime.now(dt.timezone.utc)

    def today(self) -> dt.date:
        return self.now().astimezone(self.tz).date()

    def local(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return ""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def iso(self, moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(self.tz).isoformat()


pass_app = click.make_pass_decorator(App, ensure=True)


def _set(attr: str, transform: Callable[[Any], Any] = lambda v: v) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value == ():
            return
        app = ctx.ensure_object(App)
        setattr(app, attr, transform(value))
        source = ctx.get_parameter_source(param.name) if param.name is not None else None
        from_env = source == click.core.ParameterSource.ENVIRONMENT
        envvar = param.envvar if isinstance(param.envvar, str) else None
        app.given_as[attr] = envvar if from_env and envvar else max(param.opts, key=len)

    return callback


def _dirs(value: Any) -> list[str]:
    out: list[str] = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        out.extend(p for p in str(item).split(os.pathsep) if p)
    return out


def app_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--db, --workflows and --lang on every command, so they can follow the command name too."""
    func = click.option(
        "--lang",
        type=click.Choice(LANGS),
        expose_value=False,
        callback=_set("lang"),
        help="Language of labels and headers (default ko, or DONGFLOW_LANG).",
    )(func)
    func = click.option(
        "--workflows",
        "workflow_dirs",
        multiple=True,
        type=click.Path(file_okay=False),
        expose_value=False,
        callback=_set("workflow_dirs", _dirs),
        help="A folder of your own workflow files, added to the shipped ones (or DONGFLOW_WORKFLOWS).",
    )(func)
    func = click.option(
        "--db",
        metavar="URL",
        expose_value=False,
        callback=_set("db_url"),
        help="Database URL or SQLite file path (or DONGFLOW_DATABASE_URL).",
    )(func)
    return func


def _json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _actor_default() -> str | None:
    actor = os.environ.get("DONGFLOW_ACTOR")
    if actor:
        return actor
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return None


def _date(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    from engine.values import parse_date

    return parse_date(value, field)


def _h(app: App, ko: str, en: str) -> str:
    return en if app.lang == "en" else ko


class WholeNumber(click.ParamType):
    """A whole-number option or argument (``--limit``, ``--to``, an alert ID ...). click's ``int`` reads
    '３' and '٣' as 3; this reads the digits 0-9 only (:func:`engine.values.whole_number`), and a value
    it refuses, or one outside ``minimum``-``maximum``, is invalid input: one line naming the option
    and the value, exit 3, like every value dongflow checks itself."""

    name = "integer"

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from engine.values import whole_number

        if param is None:
            field = "value"
        elif isinstance(param, click.Option):
            field = max(param.opts, key=len)
        else:
            field = param.human_readable_name
        return whole_number(value, field, minimum=self.minimum, maximum=self.maximum)


def year_filter(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A ``--year`` filter (a text option: click's ``int`` would read '２０１６') checked like every year
    dongflow reads (digits 0-9, exit 3 outside 2000-2100), before it reaches SQL (a huge number
    overflowed the driver: an internal error, or a database error)."""
    from engine.values import parse_year

    return None if value is None else parse_year(value, "--year")


def _as_of(app: App, value: str | None) -> dt.date:
    day = _date(value, "--as-of")
    return day if day is not None else app.today()


def _deadline_book(app: App, conn: Any, cutoff: dt.datetime | None = None) -> Any:
    """The deadline rules; for a past as-of date (``cutoff``) the forecast counts only the
    completions recorded by then."""
    from engine.monitor import DeadlineBook
    from storage.holiday_cache import CachedHolidays
    from storage.tracking import TrackingReader

    if cutoff is not None:
        from storage.asof import completed_since

        if completed_since(conn, cutoff, {(wf.id, wf.target.state) for wf in app.catalog.all()}):
            return DeadlineBook(app.catalog, app.tz, TrackingReader(conn, before=cutoff), CachedHolidays())
    from storage.durations_cache import CachedDurations

    return DeadlineBook(app.catalog, app.tz, TrackingReader(conn), CachedHolidays(), CachedDurations(conn, app.db.url))


def _cutoff(app: App, day: dt.date) -> dt.datetime | None:
    """Where the record is rebuilt up to for an as-of ``day`` (None: today or later, as it stands)."""
    from engine.asof import cutoff_for

    return cutoff_for(day, app.today(), app.tz)


def _level_label(app: App, level: str) -> str:
    from engine.alerting import LEVEL_LABELS

    labels = {**LEVEL_LABELS, "pending": ("예정", "pending"), "met": ("충족", "met"),
              "met_late": ("지연 충족", "met late"), "closed": ("종료", "closed")}
    ko, en = labels.get(level, (level, level))
    return en if app.lang == "en" else ko


# ------------------------------------------------------------------------------------------------
# Filter values (the listing contract): a value that names no state, district or level is an error
# listing the valid ones; Korean (and English) labels name them too.


def _state_filter(app: App, value: str | None, workflow_id: str | None = None) -> str | None:
    """The state id ``value`` names (an id or a label) among the workflows' states."""
    from render.filters import state_filter

    return state_filter(app.catalog, value, workflow_id)


def _workflow_filter(app: App, value: str | None) -> str | None:
    from render.filters import workflow_filter

    return workflow_filter(app.catalog, value)


def seoul_districts() -> list[str]:
    """Seoul's 25 자치구, from the shipped list of dongs."""
    from render.filters import seoul_districts as districts

    return districts()


def _gu_filter(app: App, value: str | None) -> str | None:
    """The district ``value`` names: a Seoul 자치구 or one the database holds (``성동`` names 성동구)."""
    from render.filters import gu_filter, stored_districts

    def stored() -> list[str]:
        app.db.require_schema()
        with app.db.read() as conn:
            return stored_districts(conn)

    return gu_filter(value, stored)


LEVEL_CHOICES = ("due_soon", "overdue", "escalated", "at_risk", "late_start", "cutoff_risk")


def _level_filter(values: Any) -> list[str]:
    from engine.alerting import LEVEL_LABELS
    from render.output import choose

    choices = {lv: list(LEVEL_LABELS.get(lv, ())) for lv in LEVEL_CHOICES}
    out: list[str] = []
    for value in values:
        for part in str(value).split(","):
            if part.strip():
                out.append(choose(part, choices, "level", "--level"))
    return out


def _project_fields_by_key(app: App, keys: Any) -> dict[str, dict[str, Any]]:
    """The listing contract's project fields (render.output.project_fields) of these projects, by key."""
    from sqlalchemy import select

    from render.output import project_fields
    from storage.repository import P
    wanted = sorted(set(k for k in keys if k is not None))
    out: dict[str, dict[str, Any]] = {}
    cols = (P.c.key, P.c.gu, P.c.dong, P.c.year, P.c.workflow_id, P.c.state, P.c.entered_at)
    with app.db.read() as conn:
        for start in range(0, len(wanted), 900):
            for r in conn.execute(select(*cols).where(P.c.key.in_(wanted[start : start + 900]))):
                out[r.key] = project_fields(r, app.tz)
    return out
