"""Programme tracking: budgets, participation, people, the plan, and `report`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from commands.common import (
    App,
    WholeNumber,
    _actor_default,
    _date,
    _gu_filter,
    _h,
    _project_fields_by_key,
    app_options,
    pass_app,
    year_filter,
)
from engine.errors import InvalidInput
from render.output import Listing, format_for_suffix, listing_options, project_fields

if TYPE_CHECKING:
    pass


# ================================================================================================
# Programme tracking (issue 4): budgets, participation, people, the programme plan, and `report`.
# Everything below is one block; the commands call programme.records / programme.report and storage/.


def _programme(app: App) -> Any:
    """The programme use cases over this database (the schema is checked first)."""
    from programme.records import ProgrammeService
    from programme.repository import SqlProgrammeStore

    app.store  # noqa: B018 - checks the schema revision before anything is read or written
    return ProgrammeService(SqlProgrammeStore(app.db), app.catalog)


def _demo_programme(app: App, items: Any, meetings: Any, day: dt.date) -> None:
    """The demo's budgets, participation, people and plan (programme/demo_data.py), one transaction."""
    from programme import demo_data as demo_programme
    from programme.repository import SqlProgrammeStore

    data = demo_programme.build(app.catalog, items, as_of=day, tz=app.tz)
    SqlProgrammeStore(app.db).seed(data.budgets, [*meetings, *data.participation], data.people,
                                   data.plan_quarters, data.plan_years, "demo", app.now())


def _actor(actor: str | None) -> str:
    return actor or _actor_default() or "unknown"


def _open_csv(file: str, run: Callable[[Any], Any]) -> Any:
    try:
        with open(file, "rb") as stream:
            return run(stream)
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=file) from None


def _won(amount: int) -> str:
    return f"{amount:,}원 ({amount / 1_000_000:,.1f}백만원)"


_UNIT = click.option("--unit", type=click.Choice(["won", "million"]), default="won", show_default=True,
                     help="Unit of the amounts given: won, or million (백만원, as in the programme report).")
_ACTOR = click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who records it (default: DONGFLOW_ACTOR or your login).")
_AT = click.option("--at", "at", metavar="DATETIME",
                   help="When it took effect, if earlier than now: YYYY-MM-DD[THH:MM] (local time unless an offset "
                        "is given); the back-dating rules are in the README.")


def _at(app: App, at: str | None) -> dt.datetime | None:
    from engine.values import parse_datetime

    return parse_datetime(at, app.tz, "--at") if at else None


@click.group()
def budget() -> None:
    """Money per project and year (allocated and executed), and programme-wide lines."""


@budget.command("set")
@click.argument("key", required=False)
@click.option("--programme", "item", metavar="ITEM", help="A programme-wide line named ITEM instead of a project.")
@click.option("--year", required=True, help="Budget year, e.g. 2016.")
@click.option("--allocated", required=True, help="Allocated amount (commas allowed).")
@click.option("--executed", required=True, help="Executed (spent) amount so far.")
@click.option("--note", help="Where the figures come from.")
@_UNIT
@_ACTOR
@_AT
@app_options
@pass_app
def budget_set(app: App, key: str | None, item: str | None, year: str, allocated: str, executed: str,
               note: str | None, unit: str, actor: str | None, at: str | None) -> None:
    """Set a project's money for a year: `dongflow budget set KEY --year 2016 --allocated N --executed N`.

    Programme-wide money (not tied to one dong): `dongflow budget set --programme ITEM --year 2014 ...`.
    Setting the same project (or item) and year again replaces the figures.
    """
    from programme.records import budget_line

    line = budget_line(key=key, item=item, year=year, allocated=allocated, executed=executed, note=note, unit=unit)
    _programme(app).set_budget(line, actor=_actor(actor), now=app.now(), at=_at(app, at))
    click.echo(f"{line.scope} {line.year}: {_h(app, '배정', 'allocated')} {_won(line.allocated)}, "
               f"{_h(app, '집행', 'executed')} {_won(line.executed)}")


@budget.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_UNIT
@_ACTOR
@_AT
@app_options
@pass_app
def budget_import(app: App, file: str, unit: str, actor: str | None, at: str | None) -> None:
    """Import budget lines from CSV: key,item,year,allocated,executed[,note]; all rows or none.

    A row names a project key, or (key empty) a programme-wide item. Korean headers work
    (키,항목,연도,배정액,집행액,비고); UTF-8 or CP949 (Excel).
    """
    service = _programme(app)
    when = _at(app, at)
    lines = _open_csv(file, lambda s: service.import_budgets(s, file, actor=_actor(actor), now=app.now(), unit=unit,
                                                             at=when))
    click.echo(f"imported {len(lines)} budget line{'s' if len(lines) != 1 else ''} from {file}")


@budget.command("list")
@click.argument("key", required=False)
@click.option("--year", callback=year_filter, help="Only this budget year.")
@listing_options
@app_options
@pass_app
def budget_list(app: App, key: str | None, year: int | None, listing: Listing) -> None:
    """List budget lines (programme-wide first), amounts in won."""
    from render.table import table

    lines = _programme(app).store.budgets(key, year)
    if listing.machine:
        projects = _project_fields_by_key(app, [line.key for line in lines])
        listing.write({
            **(projects[line.key] if line.key is not None else {}),
            "item": line.item, "budget_year": line.year, "allocated": line.allocated, "executed": line.executed,
            "note": line.note,
        } for line in lines)
        return
    click.echo(table(
        [_h(app, "대상", "scope"), _h(app, "연도", "year"), _h(app, "배정(원)", "allocated (won)"),
         _h(app, "집행(원)", "executed (won)"), _h(app, "비고", "note")],
        [[line.key or f"[{line.item}]", line.year, f"{line.allocated:,}", f"{line.executed:,}", line.note or ""]
         for line in lines],
        align="<<>><",
    ))


@click.group()
def participation() -> None:
    """Citizen participation events (briefings, resident meetings, surveys, press ...)."""


@participation.command("add")
@click.argument("words", nargs=-1, required=True, metavar="[KEY] TYPE")
@click.option("--programme", "programme_wide", is_flag=True, help="Programme-wide (no KEY): e.g. press, report_published.")
@click.option("--date", "day", required=True, help="When it was held, YYYY-MM-DD.")
@click.option("--count", default="1", show_default=True, help="How many times (e.g. 3 press articles that day).")
@click.option("--note", help="What it was.")
@_ACTOR
@click.option("--at", "at", metavar="DATETIME",
              help="When it counts from, if not the start of --date (not before it): YYYY-MM-DD[THH:MM] (local "
                   "time unless an offset is given).")
@app_options
@pass_app
def participation_add(app: App, words: tuple[str, ...], programme_wide: bool, day: str, count: str,
                      note: str | None, actor: str | None, at: str | None) -> None:
    """Record participation: `dongflow participation add KEY resident_meeting --date 2016-02-03`.

    TYPE is one of briefing, planning_meeting, resident_meeting, satisfaction_survey, expert_advice,
    press, report_published (Korean names work too). A workflow fact that counts the type (e.g.
    resident_meetings, which the agreement's guard reads) goes up in the same transaction.
    """
    from programme.participation import TYPES
    from programme.records import participation as make

    if programme_wide != (len(words) == 1) or len(words) > 2:
        raise InvalidInput("give KEY TYPE, or --programme TYPE")
    key, kind = (None, words[0]) if programme_wide else words
    entry = make(key=key, kind=kind, held_on=day, times=count, note=note, today=app.today())
    p = _programme(app).add_participation(entry, actor=_actor(actor), now=app.now(), at=_at(app, at), tz=app.tz)
    label = TYPES[entry.kind].get(app.lang)
    where = entry.key or _h(app, "사업 전반", "programme-wide")
    facts = ""
    if p is not None:
        wf = app.catalog.get(p.workflow_id, p.workflow_version)
        counted = [f"{f.name} = {p.facts.get(f.name)}" for f in wf.facts_counting(entry.kind)]
        facts = f" ({', '.join(counted)})" if counted else ""
    click.echo(f"{where}: {label} x{entry.times} on {entry.held_on}{facts}")


@participation.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_ACTOR
@app_options
@pass_app
def participation_import(app: App, file: str, actor: str | None) -> None:
    """Import participation from CSV: key,type,date[,count,note]; all rows or none.

    An empty key is a programme-wide event. Korean headers work (키,유형,일자,횟수,비고).
    """
    service = _programme(app)
    entries = _open_csv(file, lambda s: service.import_participation(
        s, file, actor=_actor(actor), now=app.now(), today=app.today(), tz=app.tz))
    click.echo(f"imported {len(entries)} participation event{'s' if len(entries) != 1 else ''} from {file}")


@participation.command("list")
@click.argument("key", required=False)
@listing_options
@app_options
@pass_app
def participation_list(app: App, key: str | None, listing: Listing) -> None:
    """A project's participation events, or the programme-wide ones (no KEY)."""
    from programme.participation import TYPES
    from render.table import table

    store = _programme(app).store
    fields: dict[str, Any] = {}
    if key is not None:
        fields = project_fields(app.store.get(key), app.tz)
    events = store.participation(key)
    if listing.machine:
        listing.write({**fields, "type": e.kind, "type_label": TYPES[e.kind].get(app.lang), "held_on": e.held_on,
                       "count": e.times, "note": e.note} for e in events)
        return
    click.echo(table(
        [_h(app, "일자", "date"), _h(app, "유형", "type"), _h(app, "횟수", "count"), _h(app, "비고", "note")],
        [[e.held_on.isoformat(), TYPES[e.kind].get(app.lang), e.times, e.note or ""] for e in events],
        align="<<><",
    ))
    click.echo(f"{sum(e.times for e in events)} {_h(app, '회', 'in all')}")


@click.group()
def people() -> None:
    """People on a project: district MP, architect, dong contact."""


@people.command("add")
@click.argument("key")
@click.argument("role_name", metavar="ROLE")
@click.argument("name")
@click.option("--contact", help="Phone or e-mail.")
@click.option("--note", help="Why, kept in the project's history.")
@_ACTOR
@_AT
@app_options
@pass_app
def people_add(
    app: App, key: str, role_name: str, name: str, contact: str | None, note: str | None, actor: str | None,
    at: str | None,
) -> None:
    """Add a person: `dongflow people add KEY architect 김서연` (ROLE: mp, architect, dong_contact)."""
    from programme.records import person

    p = person(key=key, role_name=role_name, name=name, contact=contact)
    _programme(app).add_people([p], actor=_actor(actor), now=app.now(), note=note, at=_at(app, at))
    click.echo(f"{p.key}: {p.role} {p.name}")


@people.command("remove")
@click.argument("key")
@click.argument("role_name", metavar="ROLE")
@click.argument("name")
@click.option("--note", help="Why (required): kept in the project's history with who removed the person.")
@_ACTOR
@_AT
@app_options
@pass_app
def people_remove(app: App, key: str, role_name: str, name: str, note: str | None, actor: str | None,
                  at: str | None) -> None:
    """Remove a person from a project; `dongflow history KEY` keeps who removed them, when and why."""
    from programme.records import person

    p = person(key=key, role_name=role_name, name=name)
    _programme(app).remove_person(p, actor=_actor(actor), now=app.now(), note=note, at=_at(app, at))
    click.echo(f"{p.key}: removed {p.role} {p.name}")


@people.command("list")
@click.argument("key", required=False)
@click.option("--gu", help="Only this district.")
@listing_options
@app_options
@pass_app
def people_list(app: App, key: str | None, gu: str | None, listing: Listing) -> None:
    """People of one project, a district, or every project."""
    from programme.participation import ROLES
    from render.table import table

    if key is not None:
        app.store.get(key)
    gu = _gu_filter(app, gu)
    rows = _programme(app).store.people(key, gu)
    if listing.machine:
        projects = _project_fields_by_key(app, [p.key for _gu, p in rows])
        listing.write({**projects[p.key], "role": p.role, "role_label": ROLES[p.role].get(app.lang), "name": p.name,
                       "contact": p.contact} for _gu, p in rows)
        return
    click.echo(table(
        [_h(app, "키", "key"), _h(app, "구", "gu"), _h(app, "역할", "role"), _h(app, "이름", "name"),
         _h(app, "연락처", "contact")],
        [[p.key, gu_, ROLES[p.role].get(app.lang), p.name, p.contact or ""] for gu_, p in rows],
    ))


@people.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_ACTOR
@_AT
@app_options
@pass_app
def people_import(app: App, file: str, actor: str | None, at: str | None) -> None:
    """Import people from CSV: key,role,name[,contact]; all rows or none (키,역할,이름,연락처)."""
    service = _programme(app)
    when = _at(app, at)
    added = _open_csv(file, lambda s: service.import_people(s, file, actor=_actor(actor), now=app.now(), at=when))
    click.echo(f"imported {len(added)} {'people' if len(added) != 1 else 'person'} from {file}")


@click.group()
def plan() -> None:
    """The programme plan: completions planned per year and quarter, and the yearly budget plan."""


@plan.command("set")
@click.option("--year", required=True, help="Plan year.")
@click.option("--quarter", help="Quarter 1-4 (with --completions).")
@click.option("--completions", help="Dongs planned to complete in that quarter.")
@click.option("--budget", "budget_amount", help="Planned investment for the year (연차별 투자수요).")
@_UNIT
@_ACTOR
@app_options
@pass_app
def plan_set(app: App, year: str, quarter: str | None, completions: str | None, budget_amount: str | None,
             unit: str, actor: str | None) -> None:
    """Set plan figures: `--year 2016 --quarter 3 --completions 204` and/or `--year 2016 --budget 10250 --unit million`."""
    quarters, years = _programme(app).set_plan(year=year, quarter=quarter, completions=completions,
                                               budget=budget_amount, unit=unit, actor=_actor(actor), now=app.now())
    for q in quarters:
        click.echo(f"plan {q.year} Q{q.quarter}: {q.completions} {_h(app, '개소 준공', 'completions')}")
    for y in years:
        click.echo(f"plan {y.year} {_h(app, '예산', 'budget')}: {_won(y.budget)}")


@plan.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_UNIT
@_ACTOR
@app_options
@pass_app
def plan_import(app: App, file: str, unit: str, actor: str | None) -> None:
    """Import the plan from CSV: year,quarter,completions,budget (a row has a quarter or a budget)."""
    service = _programme(app)
    quarters, years = _open_csv(file, lambda s: service.import_plan(s, file, actor=_actor(actor), now=app.now(),
                                                                     unit=unit))
    click.echo(f"imported {len(quarters)} quarter{'s' if len(quarters) != 1 else ''} and "
               f"{len(years)} yearly budget{'s' if len(years) != 1 else ''} from {file}")


@plan.command("show")
@listing_options
@app_options
@pass_app
def plan_show(app: App, listing: Listing) -> None:
    """Show the programme plan (quarters' completions, then yearly budgets; --json: one row each)."""
    from render.table import table

    p = _programme(app).store.plan()
    if listing.machine:
        listing.write([
            *({"kind": "completions", "year": q.year, "quarter": q.quarter, "completions": q.completions}
              for q in p.quarters),
            *({"kind": "budget", "year": y.year, "budget": y.budget} for y in p.years),
        ])
        return
    click.echo(table([_h(app, "연도", "year"), _h(app, "분기", "quarter"), _h(app, "준공 계획", "completions")],
                     [[q.year, q.quarter, q.completions] for q in p.quarters], align="<>>"))
    click.echo()
    click.echo(table([_h(app, "연도", "year"), _h(app, "예산 계획 (백만원)", "budget (million won)")],
                     [[y.year, f"{y.budget / 1_000_000:,.0f}"] for y in p.years], align="<>"))


REPORT_FORMATS = ("table", "md", "csv", "xlsx", "html")
_SUFFIX_FORMAT = {".md": "md", ".csv": "csv", ".xlsx": "xlsx", ".html": "html", ".htm": "html", ".txt": "table"}


@click.command()
@click.option("--section", "sections", multiple=True, metavar="NAME",
              help="results, plan, budget, participation, districts, late (default: these six); baseline, delays, "
                   "cutoffs (planning; with cutoffs the budget section notes the amount at risk); all (repeatable).")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS),
              help="Output format (default: from the --output suffix, else table).")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), help="Write to FILE (needed for xlsx).")
@click.option("--as-of", "as_of", metavar="DATE", help="Report as on this day (default: today).")
@click.option("--year", callback=year_filter, help="Only this cohort year.")
@click.option("--gu", help="Only this district (구).")
@app_options
@pass_app
def report(app: App, sections: tuple[str, ...], fmt: str | None, output: str | None, as_of: str | None,
           year: int | None, gu: str | None) -> None:
    """The programme office's report: results per quarter, plan, budget, participation, districts, late.

    Terminal tables by default; Markdown, CSV, an Excel workbook (one sheet per section) or a single
    HTML page with charts: `dongflow report --format html -o report.html`.
    """
    from programme.report import SECTIONS, ReportBuilder, ReportFilter
    from engine.values import clean_text, parse_year
    from programme.report_queries import SqlReportSource

    if output and fmt is None:
        fmt = format_for_suffix(output, _SUFFIX_FORMAT)
    elif output and Path(output).suffix and Path(output).suffix.lower() not in _SUFFIX_FORMAT:
        format_for_suffix(output, _SUFFIX_FORMAT)  # -o report.pdf is refused even with --format
    elif output and Path(output).suffix and format_for_suffix(output, _SUFFIX_FORMAT) != fmt:
        raise InvalidInput(f"{output}: its suffix names {format_for_suffix(output, _SUFFIX_FORMAT)}, "
                           f"not --format {fmt}", field="--output")
    fmt = fmt or "table"
    if fmt == "xlsx" and not output:
        raise InvalidInput("an Excel workbook needs a file: add --output report.xlsx", field="--output")
    wanted: list[str] = []
    for s in sections:
        for name in s.split(","):
            name = name.strip()
            if name == "all":
                wanted += list(SECTIONS)
            elif name:
                wanted.append(name)
    day = _date(as_of, "--as-of") or app.today()
    f = ReportFilter(gu=_gu_filter(app, clean_text(gu, "--gu")) if gu is not None else None,
                     year=parse_year(year, "--year") if year is not None else None)
    app.store  # noqa: B018 - schema check
    from engine.heap import cyclic_gc_paused

    builder = ReportBuilder(SqlReportSource(app.db), app.catalog, app.tz)
    # Every open project's light row, its assessment and the late list's lines: several hundred
    # thousand acyclic objects over 100k projects, which the cyclic GC kept re-traversing (a quarter
    # of the command's CPU, measured). Paused for building and rendering (engine/heap.py).
    with cyclic_gc_paused():
        _report_out(app, builder, day, f, wanted, fmt, output)


def _report_out(app: App, builder: Any, day: dt.date, f: Any, wanted: list[str], fmt: str,
                output: str | None) -> None:
    from render.progress import progress

    with progress(None, _h(app, "사업 점검", "checking projects")) as bar:  # on a terminal, counts up
        result = app.service.report(builder, day, f, list(dict.fromkeys(wanted)) or None, timeline=fmt == "html",
                                    progress=bar.advance)
    lang = app.lang
    if fmt == "xlsx":
        from programme.report_xlsx import write_xlsx

        _write_atomically(output, lambda path: write_xlsx(result, path, lang))
    else:
        if fmt == "html":
            from programme.report_html import render_html

            text = render_html(result, lang)
        else:
            from programme.report_text import render_csv, render_markdown, render_table

            text = {"table": render_table, "md": render_markdown, "csv": render_csv}[fmt](result, lang)
        if output:
            encoding = "utf-8-sig" if fmt == "csv" else "utf-8"  # Excel reads Korean CSV only with a BOM
            _write_atomically(output, lambda path: path.write_text(text, encoding=encoding))
        else:
            click.echo(text, nl=False)
            return
    click.echo(f"{_h(app, '저장', 'wrote')} {output} ({fmt}, {len(result.sections)} "
               f"{_h(app, '개 섹션', 'sections')}, {_h(app, '기준일', 'as of')} {day})", err=True)


def _write_atomically(output: str | None, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside OUTPUT, then rename: never a half-written report."""
    assert output is not None
    target = Path(output)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise InvalidInput(f"cannot write: {exc.strerror or exc}", file=output) from None
    finally:
        if tmp.exists():
            tmp.unlink()


# ================================================================================================
