"""Coordinators' daily commands: add and import projects, record facts, advance, status, history."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import click

from commands.common import (
    PROGRESS_MIN_ROWS,
    App,
    _actor_default,
    _as_of,
    _cutoff,
    _deadline_book,
    _gu_filter,
    _h,
    _level_label,
    _state_filter,
    _workflow_filter,
    app_options,
    pass_app,
    year_filter,
)
from engine.errors import InvalidInput, ProjectRenamed
from render.output import Listing, listing_options

if TYPE_CHECKING:
    from engine.definition import Workflow
    from engine.project import Event, Project


# ------------------------------------------------------------------------------------------------
# Projects


@click.group()
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
@click.option("--allow-duplicate", is_flag=True,
              help="Add it even if the workflow has a project for this gu, dong and year already.")
@app_options
@pass_app
def project_add(app: App, key: str, gu: str, dong: str, year: str, workflow_id: str | None,
                target: str | None, actor: str | None, at: str | None, allow_duplicate: bool) -> None:
    """Add one project; it starts in its workflow's initial state."""
    from engine.service import ProjectSpec
    from engine.values import parse_datetime

    p = app.service.add_project(
        ProjectSpec(key=key, gu=gu, dong=dong, year=year, workflow=workflow_id, target=target),
        actor=actor or _actor_default() or "unknown",
        now=app.now(),
        at=parse_datetime(at, app.tz, "--at") if at else None,
        allow_duplicate=allow_duplicate,
    )
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    click.echo(f"added {p.key}: {wf.state_label(p.state, app.lang)} ({p.state}), {wf.ref}, target {p.target}")


@project.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who is importing (default: DONGFLOW_ACTOR or your login).")
@click.option("--allow-duplicate", is_flag=True,
              help="Import rows for a gu, dong and year that already has a project on the workflow.")
@app_options
@pass_app
def project_import(app: App, file: str, actor: str | None, allow_duplicate: bool) -> None:
    """Import projects from CSV (key,gu,dong,year[,workflow,target,started]); all rows or none.

    UTF-8, UTF-8 with BOM and CP949 (Excel) files are accepted; headers may be Korean (키,구,동,연도).
    """
    from contextlib import ExitStack

    from render.progress import progress as progress_bar

    with ExitStack() as stack:
        bar: Any = None

        def progress(done: int, total: int) -> None:  # a bar on a terminal once the rows are checked
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(progress_bar(total, "importing", min_total=PROGRESS_MIN_ROWS))
            bar.advance(done)

        try:
            with open(file, "rb") as stream:
                count = app.service.import_csv(
                    stream, file, actor=actor or _actor_default() or "unknown", now=app.now(), progress=progress,
                    tz=app.tz, allow_duplicate=allow_duplicate,
                )
        except OSError as exc:
            raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=file) from None
    click.echo(f"imported {count} project{'s' if count != 1 else ''} from {file}")


# ------------------------------------------------------------------------------------------------
# Facts and transitions


@click.group()
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


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="[KEY] TRIGGER")
@click.option("--actor", envvar="DONGFLOW_ACTOR", required=True, help="Who makes the change (or DONGFLOW_ACTOR).")
@click.option("--note", help="Why (required by some transitions, e.g. hold and cancel).")
@click.option("--at", "at", metavar="DATETIME",
              help="When it happened, if earlier than now: YYYY-MM-DD[THH:MM] (local time unless an offset is given).")
@click.option("--where", metavar="FILTER",
              help="Bulk move: the projects matching gu=..,year=..,state=..,workflow=.. (instead of KEY).")
@click.option("--keys-from", "keys_from", metavar="FILE", help="Bulk move: the projects listed in FILE, one key a line.")
@click.option("--dry-run", is_flag=True, help="Bulk move: list what would move and what would be refused; change nothing.")
@click.option("--partial", is_flag=True, help="Bulk move: move the projects that can move even if others refuse.")
@click.option("--json", "as_json", is_flag=True, help="Bulk move: print the result as JSON.")
@app_options
@pass_app
def advance(app: App, args: tuple[str, ...], actor: str, note: str | None, at: str | None, where: str | None,
            keys_from: str | None, dry_run: bool, partial: bool, as_json: bool) -> None:
    """Move a project to its next stage by firing TRIGGER (see `dongflow status KEY`), or many at once
    with --where or --keys-from (one transaction, all or nothing unless --partial)."""
    from engine.display import show_time
    from engine.values import parse_datetime

    bulk = where is not None or keys_from is not None
    if where is not None and keys_from is not None:
        raise InvalidInput("--where and --keys-from do not go together: name the projects one way")
    if bulk and len(args) != 1:
        raise InvalidInput("with --where or --keys-from give only TRIGGER, not a KEY")
    if not bulk and len(args) != 2:
        raise InvalidInput("give KEY and TRIGGER (or TRIGGER with --where or --keys-from)")
    if not bulk and (dry_run or partial or as_json):
        raise InvalidInput("--dry-run, --partial and --json are for bulk moves (--where or --keys-from)")
    when = parse_datetime(at, app.tz, "--at") if at else None
    if bulk:
        from commands.corrections import bulk_advance

        bulk_advance(app, args[0], where=where, keys_from=keys_from, actor=actor, note=note, at=when,
                     dry_run=dry_run, partial=partial, as_json=as_json)
        return
    key, trigger = args
    p, event = app.service.advance(key, trigger, actor=actor, now=app.now(), at=when, note=note)
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    click.echo(
        f"{p.key}: {wf.state_label(event.from_state or '', app.lang)} -> {wf.state_label(p.state, app.lang)} "
        f"({event.trigger}, {show_time(event.at, app.tz)}, by {event.actor})"
    )


# ------------------------------------------------------------------------------------------------
# Queries


@click.command()
@click.argument("key", required=False)
@click.option("--gu", help="Only this district (구).")
@click.option("--year", callback=year_filter, help="Only this cohort year.")
@click.option("--state", help="Only projects in this state (an id like construction, or its label: 시공).")
@click.option("--workflow", "workflow_id", help="Only projects on this workflow.")
@click.option("--as-of", "as_of", metavar="DATE", help="Deadline levels as of this day (default: today).")
@listing_options
@app_options
@pass_app
def status(app: App, key: str | None, gu: str | None, year: int | None, state: str | None,
           workflow_id: str | None, as_of: str | None, listing: Listing) -> None:
    """Where projects stand, with the next milestone and its level: one project (KEY) or a list."""
    from engine.ports import ProjectQuery

    day = _as_of(app, as_of)
    if key is not None and (gu, year, state, workflow_id) != (None, None, None, None):
        # A filter beside KEY was ignored (today) or read as "did not exist yet" (--as-of): refuse it.
        raise InvalidInput("KEY and --gu, --year, --state or --workflow do not go together: give one project "
                           "or filter a list")
    if key is None:
        workflow_id = _workflow_filter(app, workflow_id)
        state = _state_filter(app, state, workflow_id)
        gu = _gu_filter(app, gu)
    cutoff = _cutoff(app, day)  # a past day: the record as it stood then (storage/asof.py)
    query = ProjectQuery(key=key, gu=gu, year=year, state=state, workflow_id=workflow_id)
    try:
        projects = app.service.status(query, cutoff)
    except ProjectRenamed as exc:  # a key it had before `project edit --key`: show it, and say so
        key = _renamed(exc)
        projects = app.service.status(ProjectQuery(key=key), cutoff)
    workflows = {(p.workflow_id, p.workflow_version): app.catalog.get(p.workflow_id, p.workflow_version)
                 for p in projects}
    with app.db.read() as conn:
        book = _deadline_book(app, conn, cutoff)
        assessed = book.assess(projects, day)
    if listing.machine:
        from render.views import status_json

        listing.write(status_json(p, workflows[(p.workflow_id, p.workflow_version)], a, day, app.tz, app.lang)
                      for p, a in assessed)
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
    if p.retired_at is not None:
        lines.insert(0, (_h(app, "폐기", "retired"), _h(app, f"{app.local(p.retired_at)} 잘못 입력되어 폐기됨 (이력 참조)",
                                                      f"retired {app.local(p.retired_at)} as entered by mistake (see history)")))
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
                f"({_h(app, '여유', 'slack')} {a.risk.slack_days}{_h(app, '일', ' days')}; {a.risk.basis_text(app.lang)})")
        lines.append((_h(app, "준공 전망", "forecast"), risk))
    from render.table import pad, table, width

    size = max(width(label) for label, _ in lines)
    for label, value in lines:
        click.echo(f"{pad(label, size)}  {value}")
    if a.milestones:
        click.echo()
        rows = []
        for m in a.milestones:
            rows.append([m.milestone.label.get(app.lang), wf.state_label(m.milestone.state, app.lang), m.due.isoformat(),
                         m.reached_on.isoformat() if m.reached_on else "", _level_label(app, m.level),
                         _days_text(app, m.level, m.days)])
        click.echo(table([_h(app, "마일스톤", "milestone"), _h(app, "도달 단계", "state"), _h(app, "기한", "due"),
                          _h(app, "도달일", "reached"), _h(app, "수준", "level"), _h(app, "기한 대비", "vs due")], rows,
                         align="<<<<<>"))
    from commands.planning import print_plan

    print_plan(app, p, wf, a, day, book)


def _days_text(app: App, level: str, days: int) -> str:
    """A milestone's distance from its due date in words: "59일 남음" / "3일 지남", never a bare sign."""
    if level in ("pending", "due_soon"):
        return _h(app, "오늘 기한", "due today") if days == 0 else _h(app, f"{days}일 남음", f"{days} days left")
    if level in ("overdue", "escalated"):
        return _h(app, f"{days}일 지남", f"{days} days overdue")
    if level == "met_late":
        return _h(app, f"{days}일 늦게 충족", f"met {days} days late")
    return ""


@click.command()
@click.argument("key")
@listing_options
@app_options
@pass_app
def history(app: App, key: str, listing: Listing) -> None:
    """Every change to a project: who, when, from, to, why; in order of when it took effect, with
    when it was recorded beside it if that was later (a back-dated entry)."""
    try:
        events = app.service.history(key)
    except ProjectRenamed as exc:  # a key it had before `project edit --key`: show it, and say so
        key = _renamed(exc)
        events = app.service.history(key)
    p = app.service.project(key)
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    if listing.machine:
        from render.views import history_json

        listing.write(history_json(p, events, app.tz))
        return
    from render.table import table

    headers = ["#", _h(app, "일시", "when"), _h(app, "기록", "recorded"), _h(app, "담당", "actor"),
               _h(app, "변경", "change"), _h(app, "내용", "what"), _h(app, "메모", "note")]
    rows = []
    for e in events:
        when, recorded = app.local(e.at), app.local(e.recorded_at)
        rows.append([e.seq, when, recorded if recorded != when else "", e.actor, e.trigger or e.kind,
                     _describe_event(app, wf, e), e.note or ""])
    click.echo(table(headers, rows, align="><<<<<<"))


def _renamed(exc: ProjectRenamed) -> str:
    """The new key of a renamed project, after one notice line on stderr (stdout stays the output)."""
    click.echo(f"Note: {exc.key} was renamed to {exc.new_key}; showing {exc.new_key}", err=True)
    return exc.new_key


def _describe_event(app: App, wf: Workflow, e: Event) -> str:
    from engine.corrections import describe

    text = describe(e) or _describe_change(app, wf, e)
    return text + (f" [batch {e.data['batch']}]" if e.data.get("batch") else "")


def _describe_change(app: App, wf: Workflow, e: Event) -> str:
    if e.kind == "created":
        return f"-> {wf.state_label(e.to_state, app.lang)}"
    if e.kind == "fact":
        return f"{e.data.get('name')}: {e.data.get('old')} -> {e.data.get('new')}"
    if e.kind == "budget":
        return (f"{e.data.get('year')}: {_h(app, '배정', 'allocated')} {e.data.get('allocated'):,}, "
                f"{_h(app, '집행', 'executed')} {e.data.get('executed'):,}")
    if e.kind in ("person_added", "person_removed"):
        return f"{'+' if e.kind == 'person_added' else '-'} {e.data.get('role')} {e.data.get('name')}"
    if e.kind == "migrated":  # workflow migrate: the old state by its id (it may be gone from this version)
        return (f"v{e.data.get('from_version')} {e.from_state} -> "
                f"v{e.data.get('to_version')} {wf.state_label(e.to_state, app.lang)}")
    text = f"{wf.state_label(e.from_state or '', app.lang)} -> {wf.state_label(e.to_state, app.lang)}"
    if e.data.get("facts"):
        text += " (" + ", ".join(f"{k}={v}" for k, v in e.data["facts"].items()) + ")"
    return text
