"""The ``dongflow`` command: parse, call the engine or storage, print. Nothing else lives here.

Heavy modules (SQLAlchemy/SQLModel, transitions, APScheduler) are imported inside the commands that
need them, so ``dongflow --help`` and database-free commands start fast. All errors are reported in
one place (:meth:`DongflowGroup.invoke`): one line on stderr and the exit code of the error class.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.errors import DongflowError, InvalidInput, InvalidInputs

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from engine.catalog import Catalog
    from engine.definition import Workflow
    from engine.project import Event, Project
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

DEFAULT_TZ = "Asia/Seoul"
LANGS = ("ko", "en")


# ------------------------------------------------------------------------------------------------
# The application object: configuration read once at the edge, services built on first use.


class App:
    def __init__(self) -> None:
        self.db_url: str | None = None
        self.workflow_dirs: list[str] = []
        self.lang: str = "ko"
        self.tz_name: str = DEFAULT_TZ

    @cached_property
    def tz(self) -> ZoneInfo:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(self.tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {self.tz_name!r}", field="DONGFLOW_TIMEZONE") from None

    @cached_property
    def db(self) -> Database:
        from storage.db import Database, default_url

        return Database(self.db_url or default_url())

    @cached_property
    def catalog(self) -> Catalog:
        from engine.catalog import Catalog
        from storage.workflow_cache import CachedLoader
        from workflows import SHIPPED_DIR

        return Catalog.from_dirs([SHIPPED_DIR, *self.workflow_dirs], CachedLoader())

    @cached_property
    def store(self) -> SqlProjectStore:
        from storage.repository import SqlProjectStore

        self.db.require_schema()
        return SqlProjectStore(self.db)

    @cached_property
    def service(self) -> Service:
        from engine.service import Service

        return Service(self.store, self.catalog)

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
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value == ():
            return
        app = ctx.ensure_object(App)
        setattr(app, attr, transform(value))

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


def _error_line(exc: DongflowError) -> None:
    click.echo(f"Error: {exc.message}", err=True)
    if isinstance(exc, InvalidInputs):
        for problem in exc.problems:
            click.echo(f"  {problem.message}", err=True)


class DongflowGroup(click.Group):
    """Reports every dongflow error as one line (plus one per bad row) and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
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
            click.echo(
                f"Error: internal error ({type(exc).__name__}: {exc}); "
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


# ------------------------------------------------------------------------------------------------
# Schema


@cli.command()
@app_options
@pass_app
def init(app: App) -> None:
    """Create the database schema, or upgrade it to this version. Safe to run again."""
    from storage.schema import upgrade

    before, after = upgrade(app.db)
    if before == after:
        click.echo(f"{app.db.describe()}: schema already at revision {after}; nothing to do")
    elif before is None:
        click.echo(f"{app.db.describe()}: created the dongflow schema (revision {after})")
    else:
        click.echo(f"{app.db.describe()}: upgraded the schema from revision {before} to {after}")


@cli.group()
def db() -> None:
    """Database schema: show or upgrade its revision."""


@db.command("upgrade")
@app_options
@pass_app
def db_upgrade(app: App) -> None:
    """Upgrade the schema to the revision this dongflow needs (keeps all data)."""
    from storage.schema import upgrade

    before, after = upgrade(app.db)
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


# ------------------------------------------------------------------------------------------------
# Workflows


@cli.group()
def workflow() -> None:
    """Workflow definitions: list, show, validate, draw."""


@workflow.command("list")
@app_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def workflow_list(app: App, as_json: bool) -> None:
    """List the workflows available (shipped and your own)."""
    from render.table import table

    rows = [
        {
            "id": wf.id,
            "version": wf.version,
            "versions": app.catalog.versions(wf.id),
            "title": wf.title.get(app.lang),
            "states": len(wf.states),
            "transitions": len(wf.transitions),
            "milestones": len(wf.milestones),
            "source": wf.source,
        }
        for wf in app.catalog.latest_all()
    ]
    if as_json:
        _json(rows)
        return
    headers = [_h(app, "ID", "id"), _h(app, "버전", "version"), _h(app, "이름", "title"),
               _h(app, "단계", "states"), _h(app, "전이", "transitions"), _h(app, "마일스톤", "milestones"),
               _h(app, "파일", "file")]
    click.echo(table(headers, [[r["id"], r["version"], r["title"], r["states"], r["transitions"],
                                r["milestones"], r["source"]] for r in rows]))


@workflow.command("show")
@click.argument("workflow_id")
@click.option("--version", "version", type=int, help="A specific version (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (states, transitions with guards, milestones).")
@app_options
@pass_app
def workflow_show(app: App, workflow_id: str, version: int | None, as_json: bool) -> None:
    """Show a workflow: states, transitions and guards, milestones."""
    wf = app.catalog.get(workflow_id, version)
    if as_json:
        _json(wf.as_dict())
        return
    from render.table import table

    lang = app.lang
    click.echo(f"{wf.title.get(lang)} ({wf.ref})  [{wf.source}]")
    if wf.description:
        click.echo(wf.description)
    click.echo(f"{_h(app, '준공 목표', 'target')}: {wf.target.state} {_h(app, '매년', 'on')} "
               f"{wf.target.due[0]:02d}-{wf.target.due[1]:02d}")
    click.echo()
    click.echo(table(
        ["id", _h(app, "이름", "label"), _h(app, "시작", "initial"), _h(app, "종료", "final"),
         _h(app, "예상 일수", "expected days")],
        [[s.id, s.label.get(lang), "*" if s.initial else "", "*" if s.final else "",
          s.expected_days if s.expected_days is not None else ""] for s in wf.states],
    ))
    click.echo()
    click.echo(table(
        [_h(app, "트리거", "trigger"), _h(app, "출발", "from"), _h(app, "도착", "to"),
         _h(app, "조건", "guards"), _h(app, "이름", "label")],
        [[t.trigger, ", ".join(t.sources), t.dest, "; ".join(g.describe() for g in t.guards)
          + (" (note required)" if t.note_required else ""), t.label.get(lang)] for t in wf.transitions],
    ))
    if wf.milestones:
        click.echo()
        click.echo(table(
            ["id", _h(app, "도달 단계", "state"), _h(app, "기한", "due"), _h(app, "이름", "label"),
             _h(app, "근거", "basis")],
            [[m.id, m.state, m.due.text(), m.label.get(lang), m.basis] for m in wf.milestones],
        ))


@workflow.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@app_options
@pass_app
def workflow_validate(app: App, files: Sequence[str]) -> None:
    """Check workflow files; print every problem with its file and line."""
    from engine.errors import WorkflowDefinitionErrors
    from engine.loader import load_file

    problems: list[InvalidInput] = []
    for file in files:
        try:
            wf = load_file(file)
        except WorkflowDefinitionErrors as exc:
            problems.extend(exc.problems)
        except InvalidInput as exc:
            problems.append(exc)
        else:
            click.echo(f"ok: {file} ({wf.ref}, {len(wf.states)} states, {len(wf.transitions)} transitions)")
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidInputs(f"{len(problems)} problems in workflow files", problems)


@workflow.command("graph")
@click.argument("workflow_id", required=False)
@click.option("--project", "project_key", metavar="KEY", help="Draw this project's workflow, marking its state.")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@app_options
@pass_app
def workflow_graph(app: App, workflow_id: str | None, project_key: str | None, fmt: str) -> None:
    """Print a diagram (Mermaid or Graphviz DOT) of a workflow."""
    from engine.diagram import render

    current = None
    if project_key is not None:
        project = app.store.get(project_key)
        wf = app.catalog.get(project.workflow_id, project.workflow_version)
        if workflow_id is not None and workflow_id != wf.id:
            raise InvalidInput(f"project {project.key} runs on {wf.id}, not {workflow_id}", field="--project")
        current = project.state
    elif workflow_id is None:
        raise click.UsageError("name a workflow ID or give --project KEY")
    else:
        wf = app.catalog.get(workflow_id)
    click.echo(render(wf, fmt, current, app.lang))


# ------------------------------------------------------------------------------------------------
# Projects


@cli.group()
def project() -> None:
    """Add projects, one at a time or from a CSV file."""


@project.command("add")
@click.argument("key")
@click.option("--gu", required=True, help="District (구), e.g. 성동구.")
@click.option("--dong", required=True, help="Dong (동), e.g. 마장동.")
@click.option("--year", required=True, help="Cohort year, e.g. 2016.")
@click.option("--workflow", "workflow_id", help="Workflow id (default: space-improvement).")
@click.option("--target", help="Completion target date YYYY-MM-DD (default: from the workflow, e.g. 1 July).")
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who is adding it (default: DONGFLOW_ACTOR or your login).")
@click.option("--at", "at", metavar="DATETIME",
              help="When it started, if earlier than now: YYYY-MM-DD[THH:MM] (local time unless an offset is given).")
@app_options
@pass_app
def project_add(app: App, key: str, gu: str, dong: str, year: str, workflow_id: str | None,
                target: str | None, actor: str | None, at: str | None) -> None:
    """Add one project; it starts in its workflow's initial state."""
    from engine.service import ProjectSpec
    from engine.values import parse_datetime

    p = app.service.add_project(
        ProjectSpec(key=key, gu=gu, dong=dong, year=year, workflow=workflow_id, target=target),
        actor=actor or _actor_default() or "unknown",
        now=app.now(),
        at=parse_datetime(at, app.tz, "--at") if at else None,
    )
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    click.echo(f"added {p.key}: {wf.state_label(p.state, app.lang)} ({p.state}), {wf.ref}, target {p.target}")


@project.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who is importing (default: DONGFLOW_ACTOR or your login).")
@app_options
@pass_app
def project_import(app: App, file: str, actor: str | None) -> None:
    """Import projects from CSV (key,gu,dong,year[,workflow,target]); all rows or none.

    UTF-8, UTF-8 with BOM and CP949 (Excel) files are accepted; headers may be Korean (키,구,동,연도).
    """
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="importing", file=sys.stderr)
            bar.__enter__()
        bar.update(done)

    try:
        with open(file, "rb") as stream:
            count = app.service.import_csv(
                stream, file, actor=actor or _actor_default() or "unknown", now=app.now(), progress=progress
            )
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=file) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(f"imported {count} project{'s' if count != 1 else ''} from {file}")


# ------------------------------------------------------------------------------------------------
# Facts and transitions


@cli.group()
def fact() -> None:
    """Facts recorded on a project (counts and values that guards read)."""


@fact.command("set")
@click.argument("key")
@click.argument("name")
@click.argument("value")
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who records it (default: DONGFLOW_ACTOR or your login).")
@click.option("--note", help="Why, or where the value comes from.")
@click.option("--at", "at", metavar="DATETIME", help="When it became true, if earlier than now.")
@app_options
@pass_app
def fact_set(app: App, key: str, name: str, value: str, actor: str | None, note: str | None, at: str | None) -> None:
    """Record a fact on a project, e.g. `dongflow fact set KEY resident_meetings 3`."""
    from engine.values import parse_datetime

    p, parsed = app.service.set_fact(
        key, name, value, actor=actor or _actor_default() or "unknown", now=app.now(), note=note,
        at=parse_datetime(at, app.tz, "--at") if at else None,
    )
    click.echo(f"{p.key}: {name} = {json.dumps(parsed, ensure_ascii=False)}")


@cli.command()
@click.argument("key")
@click.argument("trigger")
@click.option("--actor", envvar="DONGFLOW_ACTOR", required=True, help="Who makes the change (or DONGFLOW_ACTOR).")
@click.option("--note", help="Why (required by some transitions, e.g. hold and cancel).")
@click.option("--at", "at", metavar="DATETIME",
              help="When it happened, if earlier than now: YYYY-MM-DD[THH:MM] (local time unless an offset is given).")
@app_options
@pass_app
def advance(app: App, key: str, trigger: str, actor: str, note: str | None, at: str | None) -> None:
    """Move a project to its next stage by firing TRIGGER (see `dongflow status KEY`)."""
    from engine.values import parse_datetime

    when = parse_datetime(at, app.tz, "--at") if at else None
    p, event = app.service.advance(key, trigger, actor=actor, now=app.now(), at=when, note=note)
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    click.echo(
        f"{p.key}: {wf.state_label(event.from_state or '', app.lang)} -> {wf.state_label(p.state, app.lang)} "
        f"({event.trigger}, {app.local(event.at)}, by {event.actor})"
    )


# ------------------------------------------------------------------------------------------------
# Queries


def _project_json(app: App, p: Project, wf: Workflow | None) -> dict[str, Any]:
    return {
        "key": p.key,
        "gu": p.gu,
        "dong": p.dong,
        "year": p.year,
        "workflow": p.workflow_id,
        "workflow_version": p.workflow_version,
        "state": p.state,
        "state_label": wf.state_label(p.state, app.lang) if wf else p.state,
        "entered_at": app.iso(p.entered_at),
        "target": p.target.isoformat(),
        "previous_state": p.previous_state,
        "facts": dict(p.facts),
        "version": p.version,
    }


@cli.command()
@click.argument("key", required=False)
@click.option("--gu", help="Only this district (구).")
@click.option("--year", type=int, help="Only this cohort year.")
@click.option("--state", help="Only projects in this state (state id, e.g. construction).")
@click.option("--workflow", "workflow_id", help="Only projects on this workflow.")
@click.option("--as-of", "as_of", metavar="DATE", help="Deadline levels as of this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@app_options
@pass_app
def status(app: App, key: str | None, gu: str | None, year: int | None, state: str | None,
           workflow_id: str | None, as_of: str | None, as_json: bool) -> None:
    """Where projects stand, with the next milestone and its level: one project (KEY) or a list."""
    from engine.deadlines import as_dict as assessment_dict
    from engine.ports import ProjectQuery

    day = _as_of(app, as_of)
    projects = app.service.status(ProjectQuery(key=key, gu=gu, year=year, state=state, workflow_id=workflow_id))
    workflows = {(p.workflow_id, p.workflow_version): app.catalog.get(p.workflow_id, p.workflow_version)
                 for p in projects}
    with app.db.read() as conn:
        book = _deadline_book(app, conn)
        assessed = book.assess(projects, day)
    if as_json:
        out = []
        for p, a in assessed:
            item = _project_json(app, p, workflows[(p.workflow_id, p.workflow_version)])
            item.update(assessment_dict(a, p.target))
            item["state"] = p.state
            item["as_of"] = day.isoformat()
            out.append(item)
        _json(out)
        return
    if key is not None:
        p, a = assessed[0]
        _print_project(app, p, workflows[(p.workflow_id, p.workflow_version)], a, book, day)
        return
    if not projects:
        click.echo(_h(app, "조건에 맞는 사업이 없습니다.", "No projects match."))
        return
    from render.table import table

    headers = [_h(app, "키", "key"), _h(app, "구", "gu"), _h(app, "동", "dong"), _h(app, "연도", "year"),
               _h(app, "단계", "state"), _h(app, "진입", "since"), _h(app, "다음 마일스톤", "next milestone"),
               _h(app, "기한", "due"), _h(app, "수준", "level")]
    rows = []
    for p, a in assessed:
        wf = workflows[(p.workflow_id, p.workflow_version)]
        nxt = a.next
        rows.append([p.key, p.gu, p.dong, p.year, wf.state_label(p.state, app.lang), app.local(p.entered_at)[:10],
                     nxt.milestone.label.get(app.lang) if nxt else "", nxt.due.isoformat() if nxt else "",
                     _level_label(app, a.level)])
    click.echo(table(headers, rows))
    click.echo(f"{len(projects)} {_h(app, '건', 'projects')} ({_h(app, '기준일', 'as of')} {day})")


def _print_project(app: App, p: Project, wf: Workflow, a: Any, book: Any, day: dt.date) -> None:
    lang = app.lang
    lines = [
        (_h(app, "키", "key"), p.key),
        (_h(app, "구/동", "gu/dong"), f"{p.gu} {p.dong}"),
        (_h(app, "연도", "year"), str(p.year)),
        (_h(app, "워크플로", "workflow"), f"{wf.title.get(lang)} ({wf.ref})"),
        (_h(app, "단계", "state"), f"{wf.state_label(p.state, lang)} ({p.state}) "
                                    f"{_h(app, '진입', 'since')} {app.local(p.entered_at)}"),
        (_h(app, "준공 목표", "target"), p.target.isoformat()),
    ]
    if p.facts:
        facts = ", ".join(f"{wf.facts[n].label.get(lang) if n in wf.facts else n} ({n}) = {v}"
                          for n, v in p.facts.items())
        lines.append((_h(app, "사실", "facts"), facts))
    unmet = wf.unmet_guards(p.state, p.facts)
    allowed = []
    for trigger in wf.allowed_triggers(p.state):
        blocked = unmet.get(trigger) or []
        allowed.append(trigger + (f" (needs {', '.join(blocked)})" if blocked else ""))
    lines.append((_h(app, "가능한 트리거", "triggers"), ", ".join(dict.fromkeys(allowed)) or "-"))
    lines.append((_h(app, "수준", "level"), f"{_level_label(app, a.level)} ({_h(app, '기준일', 'as of')} {day})"))
    if a.risk is not None:
        risk = (f"{_h(app, '가장 빠른 준공', 'earliest completion')} {a.risk.earliest} "
                f"({_h(app, '여유', 'slack')} {a.risk.slack_days}{_h(app, '일', ' days')}; {a.risk.basis})")
        lines.append((_h(app, "준공 전망", "forecast"), risk))
    from render.table import pad, table, width

    size = max(width(label) for label, _ in lines)
    for label, value in lines:
        click.echo(f"{pad(label, size)}  {value}")
    if a.milestones:
        click.echo()
        rows = []
        for m in a.milestones:
            days = ""
            if m.level in ("met_late", "overdue", "escalated"):
                days = f"+{m.days}"
            elif m.level in ("pending", "due_soon"):
                days = f"-{m.days}"
            rows.append([m.milestone.label.get(app.lang), wf.state_label(m.milestone.state, app.lang), m.due.isoformat(),
                         m.reached_on.isoformat() if m.reached_on else "", _level_label(app, m.level), days])
        click.echo(table([_h(app, "마일스톤", "milestone"), _h(app, "도달 단계", "state"), _h(app, "기한", "due"),
                          _h(app, "도달일", "reached"), _h(app, "수준", "level"), _h(app, "일수", "days")], rows,
                         align="<<<<<>"))


@cli.command()
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of events.")
@app_options
@pass_app
def history(app: App, key: str, as_json: bool) -> None:
    """Every change to a project: who, when, from, to, why."""
    events = app.service.history(key)
    p = app.store.get(key)
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    if as_json:
        _json([_event_json(app, e) for e in events])
        return
    from render.table import table

    headers = ["#", _h(app, "일시", "when"), _h(app, "담당", "actor"), _h(app, "변경", "change"),
               _h(app, "내용", "what"), _h(app, "메모", "note")]
    rows = []
    for e in events:
        rows.append([e.seq, app.local(e.at), e.actor, e.trigger or e.kind, _describe_event(app, wf, e), e.note or ""])
    click.echo(table(headers, rows, align="><<<<<"))


def _describe_event(app: App, wf: Workflow, e: Event) -> str:
    if e.kind == "created":
        return f"-> {wf.state_label(e.to_state, app.lang)}"
    if e.kind == "fact":
        return f"{e.data.get('name')}: {e.data.get('old')} -> {e.data.get('new')}"
    text = f"{wf.state_label(e.from_state or '', app.lang)} -> {wf.state_label(e.to_state, app.lang)}"
    if e.data.get("facts"):
        text += " (" + ", ".join(f"{k}={v}" for k, v in e.data["facts"].items()) + ")"
    return text


def _event_json(app: App, e: Event) -> dict[str, Any]:
    return {
        "key": e.key,
        "seq": e.seq,
        "kind": e.kind,
        "trigger": e.trigger,
        "from": e.from_state,
        "to": e.to_state,
        "actor": e.actor,
        "at": app.iso(e.at),
        "recorded_at": app.iso(e.recorded_at),
        "note": e.note,
        "data": dict(e.data),
    }


# ------------------------------------------------------------------------------------------------
# Deadlines and alerts


LEVEL_CHOICES = ("due_soon", "overdue", "escalated", "at_risk")


def _as_of(app: App, value: str | None) -> dt.date:
    day = _date(value, "--as-of")
    return day if day is not None else app.today()


def _deadline_book(app: App, conn: Any) -> Any:
    from engine.monitor import DeadlineBook
    from storage.durations_cache import CachedDurations
    from storage.holiday_cache import CachedHolidays
    from storage.tracking import TrackingReader

    return DeadlineBook(app.catalog, app.tz, TrackingReader(conn), CachedHolidays(), CachedDurations(conn, app.db.url))


def _level_label(app: App, level: str) -> str:
    from engine.alerting import LEVEL_LABELS

    labels = {**LEVEL_LABELS, "pending": ("예정", "pending"), "met": ("충족", "met"),
              "met_late": ("지연 충족", "met late"), "closed": ("종료", "closed")}
    ko, en = labels.get(level, (level, level))
    return en if app.lang == "en" else ko


@cli.command()
@click.option("--as-of", "as_of", metavar="DATE", help="Check as of this day (default: today).")
@click.option("--gu", help="Only this district (구).")
@click.option("--year", type=int, help="Only this cohort year.")
@click.option("--level", "levels", multiple=True, type=click.Choice(LEVEL_CHOICES),
              help="Only these levels (repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@app_options
@pass_app
def overdue(app: App, as_of: str | None, gu: str | None, year: int | None, levels: Sequence[str], as_json: bool) -> None:
    """Milestones due soon, overdue or escalated, and projects at risk of missing their target."""
    from engine.deadlines import SEVERITY

    day = _as_of(app, as_of)
    app.db.require_schema()
    with app.db.read() as conn:
        book = _deadline_book(app, conn)
        from storage.tracking import tracked_rows

        rows = tracked_rows(conn, skip_states=book.skip_states(), closed_before=book.closed_before(day), gu=gu, year=year)
        _count, found = book.scan(rows, day)
    if levels:
        found = [(r, f) for r, f in found if f.level in levels]
    found.sort(key=lambda rf: (-SEVERITY[rf[1].level], -rf[1].days if rf[1].level != "due_soon" else rf[1].days, rf[0].key))
    items = []
    for r, f in found:
        late = f.level in ("overdue", "escalated", "at_risk")
        items.append({
            "key": r.key, "gu": r.gu, "dong": r.dong, "year": r.year, "workflow": r.workflow_id, "state": r.state,
            "milestone": f.milestone,
            "milestone_label": book.milestone_label(r.workflow_id, r.workflow_version, f.milestone, app.lang),
            "due": f.due.isoformat(), "level": f.level,
            "days_late": f.days if late else None, "slack_days": None if late else f.days,
            "reason": f.reason, "as_of": day.isoformat(),
        })
    if as_json:
        _json(items)
        return
    if not items:
        click.echo(_h(app, f"{day} 기준 지연·위험 사업이 없습니다.", f"Nothing late or at risk as of {day}."))
        return
    from render.table import table

    headers = [_h(app, "키", "key"), _h(app, "구", "gu"), _h(app, "동", "dong"), _h(app, "마일스톤", "milestone"),
               _h(app, "기한", "due"), _h(app, "지연일", "days late"), _h(app, "여유일", "slack"),
               _h(app, "수준", "level"), _h(app, "사유", "why")]
    rows_out = [[i["key"], i["gu"], i["dong"], i["milestone_label"], i["due"], i["days_late"] if i["days_late"] is not None else "",
                 i["slack_days"] if i["slack_days"] is not None else "", _level_label(app, i["level"]), i["reason"]]
                for i in items]
    click.echo(table(headers, rows_out, align="<<<<<>><<"))
    counts: dict[str, int] = {}
    for i in items:
        counts[i["level"]] = counts.get(i["level"], 0) + 1
    click.echo(f"{day}: " + ", ".join(f"{_level_label(app, lv)} {n}" for lv, n in counts.items()))


@cli.group()
def alerts() -> None:
    """Deadline alerts: run a check-and-send pass, list what was sent or failed."""


def _config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_path", metavar="FILE", envvar="DONGFLOW_CONFIG",
                        help="Alert configuration (TOML). Default: ~/.config/dongflow/config.toml if it exists, "
                             "else console + ~/.local/share/dongflow/alerts.jsonl.")(func)


def _runner(app: App, config_path: str | None, write: Callable[[str], None]) -> Any:
    from notify.config import load_config
    from notify.runner import AlertRunner

    config = load_config(config_path)
    app.db.require_schema()
    return AlertRunner(app.db, app.catalog, config, app.tz, app.now, write=write)


@alerts.command("run")
@click.option("--as-of", "as_of", metavar="DATE", help="Check as of this day (default: today).")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded and sent; change nothing.")
@_config_option
@app_options
@pass_app
def alerts_run(app: App, as_of: str | None, dry_run: bool, config_path: str | None) -> None:
    """One check-and-send pass, for cron or a systemd timer. Re-running it sends nothing twice."""
    from engine.errors import DeliveryFailed

    day = _as_of(app, as_of)
    runner = _runner(app, config_path, click.echo)
    report = runner.run(day, dry_run=dry_run)
    if dry_run:
        assert report.check is not None
        for r, f in report.check.new:
            click.echo(f"would alert: [{_level_label(app, f.level)}] {r.key} {f.milestone}: {f.reason}")
        click.echo(f"dry run: {report.scanned} projects checked, {report.found} findings, "
                   f"{report.new_alerts} new alerts, {report.deliveries_created} deliveries; nothing written")
        return
    click.echo(report.summary())
    if report.failed:
        raise DeliveryFailed(
            f"{report.failed} deliveries failed and will be retried ({'; '.join(report.errors)}); "
            "see dongflow alerts list --failed"
        )


@alerts.command("list")
@click.option("--pending", "status", flag_value="pending", help="Only deliveries not yet attempted.")
@click.option("--failed", "status", flag_value="failed", help="Only deliveries that failed (they are retried).")
@click.option("--sent", "status", flag_value="sent", help="Only delivered ones.")
@click.option("--limit", type=int, help="At most this many rows (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@app_options
@pass_app
def alerts_list(app: App, status: str | None, limit: int | None, as_json: bool) -> None:
    """Alerts and their deliveries per channel: sent, pending or failed (with the error)."""
    from storage.alerts import SqlAlertStore

    app.db.require_schema()
    rows = SqlAlertStore(app.db).listing(status, limit)
    if as_json:
        _json([{
            "alert_id": d.alert_id, "key": d.key, "gu": d.gu, "dong": d.dong, "milestone": d.milestone,
            "level": d.level, "due": d.due.isoformat(), "days": d.days, "reason": d.reason,
            "as_of": d.as_of.isoformat(), "created_at": app.iso(d.created_at), "channel": d.channel,
            "recipient": d.recipient, "status": d.status, "attempts": d.attempts, "last_error": d.last_error,
            "next_attempt_at": app.iso(d.next_attempt_at) if d.status != "sent" else None,
            "sent_at": app.iso(d.sent_at),
        } for d in rows])
        return
    if not rows:
        click.echo(_h(app, "해당하는 경보가 없습니다.", "No alerts."))
        return
    from render.table import table

    headers = ["#", _h(app, "키", "key"), _h(app, "마일스톤", "milestone"), _h(app, "수준", "level"),
               _h(app, "기한", "due"), _h(app, "채널", "channel"), _h(app, "받는 곳", "recipient"),
               _h(app, "상태", "status"), _h(app, "시도", "tries"), _h(app, "다음 시도/오류", "next try / error")]
    out = []
    for d in rows:
        extra = "" if d.status == "sent" else app.local(d.next_attempt_at)
        if d.last_error:
            extra = f"{extra} {d.last_error}".strip()
        out.append([d.alert_id, d.key, d.milestone, _level_label(app, d.level), d.due.isoformat(), d.channel,
                    d.recipient, d.status, d.attempts, extra])
    click.echo(table(headers, out, align=">" + "<" * 7 + "><"))


@cli.group()
def scheduler() -> None:
    """The nightly scheduler (APScheduler): runs the alert pass every day."""


@scheduler.command("start")
@click.option("--at", "at", metavar="HH:MM", help="Run time (overrides the config; default 02:00).")
@_config_option
@app_options
@pass_app
def scheduler_start(app: App, at: str | None, config_path: str | None) -> None:
    """Run in the foreground until SIGTERM: a check-and-send pass every night, catching up after downtime."""
    import dataclasses
    import logging
    import re
    from zoneinfo import ZoneInfo

    from notify.scheduler import serve
    from storage.alerts import SqlAlertStore

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("dongflow.alerts")
    runner = _runner(app, config_path, lambda line: log.info("console: %s", line))
    schedule = runner.config.schedule
    if at is not None:
        m = re.match(r"^(\d{1,2}):(\d{2})$", at)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise InvalidInput(f"{at!r} is not a time HH:MM", field="--at")
        schedule = dataclasses.replace(schedule, hour=int(m.group(1)), minute=int(m.group(2)))
    tz = ZoneInfo(schedule.timezone)
    store = SqlAlertStore(app.db)

    def job() -> None:
        day = app.now().astimezone(tz).date()
        try:
            report = runner.run(day)
        except DongflowError as exc:
            log.error("alert run for %s failed: %s", day, exc)
            return
        if report.failed:
            log.warning("%d deliveries failed; they will be retried: %s", report.failed, "; ".join(report.errors))

    def last_success() -> dt.datetime | None:
        row = store.job("alerts")
        return row["last_success_at"] if row else None

    log.info("database %s, alert configuration %s", app.db.describe(), runner.config.source)
    serve(schedule, job, last_success, app.now)


# ------------------------------------------------------------------------------------------------
# Backup and moving between databases


@cli.command("dump")
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


@cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@app_options
@pass_app
def restore_cmd(app: App, file: str) -> None:
    """Load a dump into an empty database (SQLite or PostgreSQL), all or nothing."""
    from storage.dump import restore

    counts = restore(app.db, Path(file))
    summary = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    click.echo(f"restored {file} into {app.db.describe()}: {summary or 'nothing (empty dump)'}")


# ------------------------------------------------------------------------------------------------
# Demo


@cli.command()
@click.option("--as-of", "as_of", metavar="DATE", default="2016-05-20", show_default=True,
              help="The day the demo portfolio shows (histories stop there).")
@app_options
@pass_app
def demo(app: App, as_of: str) -> None:
    """Fill the database with the 2015 cohort (completed) and the 2016 cohort (under way)."""
    from importlib.resources import files

    from engine import demo as demo_data
    from storage.schema import upgrade

    day = _date(as_of, "--as-of")
    assert day is not None
    upgrade(app.db)
    dongs = demo_data.read_dongs(files("engine").joinpath("data/seoul-dongs-2016.csv").read_bytes())
    items = demo_data.build(app.catalog, dongs, as_of=day, tz=app.tz)
    keys = [p.key for p, _ in items]
    taken = app.store.existing_keys(keys)
    if taken:
        if len(taken) == len(keys):
            click.echo(f"{app.db.describe()} already holds the demo ({len(keys)} projects); nothing to do.")
            _demo_next_steps(app, day)
            return
        raise InvalidInput(
            f"{len(taken)} of the demo's projects already exist in {app.db.describe()} "
            "(e.g. " + sorted(taken)[0] + "); use an empty database with --db",
            field="demo",
        )
    app.service.add_with_history(items)
    by_year: dict[int, int] = {}
    for p, _ in items:
        by_year[p.year] = by_year.get(p.year, 0) + 1
    summary = ", ".join(f"{year}: {n}" for year, n in sorted(by_year.items()))
    click.echo(f"{app.db.describe()}: added {len(items)} demo projects ({summary}) as of {day}")
    _demo_next_steps(app, day)


def _demo_next_steps(app: App, day: dt.date) -> None:
    click.echo("Try:")
    click.echo("  dongflow status --gu 성동구 --year 2016")
    click.echo("  dongflow status --year 2016 --state tender")
    click.echo("  dongflow history 2015-성동구-마장동")


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
