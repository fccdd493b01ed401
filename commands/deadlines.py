"""Deadlines and alerts: `overdue`, `alerts run|list`, `scheduler start`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from commands.common import (
    App,
    WholeNumber,
    _as_of,
    _cutoff,
    _deadline_book,
    _gu_filter,
    _h,
    _json,
    _level_filter,
    _level_label,
    _project_fields_by_key,
    app_options,
    pass_app,
    year_filter,
)
from engine.errors import InvalidInput
from render.output import Listing, listing_options, project_fields

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------------------------------------
# Deadlines and alerts


@click.command()
@click.option("--as-of", "as_of", metavar="DATE", help="Check as of this day (default: today).")
@click.option("--gu", help="Only this district (구).")
@click.option("--year", callback=year_filter, help="Only this cohort year.")
@click.option("--level", "levels", multiple=True, metavar="LEVEL",
              help="Only these levels (repeatable): due_soon, overdue, escalated, at_risk, late_start, cutoff_risk "
                   "(Korean labels work). "
                   "Default: all.")
@listing_options
@app_options
@pass_app
def overdue(app: App, as_of: str | None, gu: str | None, year: int | None, levels: Sequence[str],
            listing: Listing) -> None:
    """Milestones due soon, overdue or escalated, and projects at risk of missing their target."""
    from engine.deadlines import SEVERITY

    day = _as_of(app, as_of)
    wanted = set(_level_filter(levels))
    app.db.require_schema()
    gu = _gu_filter(app, gu)
    cutoff = _cutoff(app, day)
    with app.db.read() as conn:
        from functools import partial

        from storage.asof import iter_tracked

        book = _deadline_book(app, conn, cutoff)
        found = app.service.overdue(book, partial(iter_tracked, conn, cutoff), day, app.lang, gu=gu, year=year)
    if wanted:
        found = [(r, f) for r, f in found if f.level in wanted]
    found.sort(key=lambda rf: (-SEVERITY[rf[1].level], -rf[1].days if rf[1].level != "due_soon" else rf[1].days, rf[0].key))
    labels: dict[tuple[str, int, str], str] = {}

    def label(r: Any, milestone: str) -> str:
        ident = (r.workflow_id, r.workflow_version, milestone)
        text = labels.get(ident)
        if text is None:
            text = labels[ident] = book.milestone_label(r.workflow_id, r.workflow_version, milestone, app.lang)
        return text

    if listing.machine:
        as_of_text = day.isoformat()
        fields: dict[int, dict[str, Any]] = {}

        def items() -> Any:
            for r, f in found:
                base = fields.get(id(r))
                if base is None:
                    base = fields[id(r)] = project_fields(r, app.tz)
                late = f.level != "due_soon"
                yield {**base, "milestone": f.milestone, "milestone_label": label(r, f.milestone),
                       "due": f.due.isoformat(), "level": f.level, "days_late": f.days if late else None,
                       "slack_days": None if late else f.days, "reason": f.reason, "as_of": as_of_text}

        listing.write(items())
        return
    if not found:
        click.echo(_h(app, f"{day} 기준 지연·위험 사업이 없습니다.", f"Nothing late or at risk as of {day}."))
        return
    from render.table import table

    headers = [_h(app, "키", "key"), _h(app, "구", "gu"), _h(app, "동", "dong"), _h(app, "마일스톤", "milestone"),
               _h(app, "기한", "due"), _h(app, "지연일", "days late"), _h(app, "여유일", "slack"),
               _h(app, "수준", "level"), _h(app, "사유", "why")]
    level_labels = {lv: _level_label(app, lv) for lv in SEVERITY}
    rows_out = [[r.key, r.gu, r.dong, label(r, f.milestone), f.due.isoformat(),
                 f.days if f.level != "due_soon" else "", f.days if f.level == "due_soon" else "",
                 level_labels[f.level], f.reason] for r, f in found]
    click.echo(table(headers, rows_out, align="<<<<<>><<"))
    counts: dict[str, int] = {}
    for _r, f in found:
        counts[f.level] = counts.get(f.level, 0) + 1
    click.echo(f"{day}: " + ", ".join(f"{level_labels[lv]} {n}" for lv, n in counts.items()))


@click.group()
def alerts() -> None:
    """Deadline alerts: run a check-and-send pass, list them, acknowledge, snooze, show one's timeline."""


def _config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_path", metavar="FILE", envvar="DONGFLOW_CONFIG",
                        help="Alert configuration (TOML). Default: ~/.config/dongflow/config.toml if it exists, "
                             "else console + ~/.local/share/dongflow/alerts.jsonl.")(func)


def _runner(app: App, config_path: str | None, write: Callable[[str], None]) -> Any:
    from notify.config import load_config
    from notify.runner import AlertRunner

    config = load_config(config_path)
    app.db.require_schema()
    from storage.holiday_cache import CachedHolidays

    return AlertRunner(app.db, app.catalog, config, app.tz, app.now, write=write, holidays=CachedHolidays())


@alerts.command("run")
@click.option("--as-of", "as_of", metavar="DATE", help="Check as of this day (default: today).")
@click.option("--dry-run", is_flag=True, help="Show what would be recorded and sent; change nothing.")
@_config_option
@app_options
@pass_app
def alerts_run(app: App, as_of: str | None, dry_run: bool, config_path: str | None) -> None:
    """One check-and-send pass, for cron or a systemd timer. Re-running it sends nothing twice."""
    import logging

    from engine.errors import DeliveryFailed

    # What the run logs is for the scheduler's journal; here the summary and one error line say it.
    logging.getLogger("dongflow").addHandler(logging.NullHandler())
    day = _as_of(app, as_of)
    runner = _runner(app, config_path, click.echo)
    if as_of is None:
        _refuse_today_on_the_demo(app, "alerts run")
    from engine.heap import cyclic_gc_paused

    # The check keeps every finding (400k over a 100k portfolio) and then sorts out the new ones and
    # their lines: the cyclic GC re-traversed that heap for nothing (engine/heap.py). One process
    # per run, so it is paused until the run is over.
    with cyclic_gc_paused():
        report = runner.run(day, dry_run=dry_run)
        if dry_run:
            assert report.check is not None
            labels: dict[str, str] = {}
            lines: list[str] = []
            for r, f in report.check.new:
                label = labels.get(f.level) or labels.setdefault(f.level, _level_label(app, f.level))
                lines.append(f"would alert: [{label}] {r.key} {f.milestone}: {f.reason}")
                if len(lines) == 2000:  # a line at a time through click.echo cost more than the check
                    click.echo("\n".join(lines))
                    lines.clear()
            if lines:
                click.echo("\n".join(lines))
            click.echo(f"dry run: {report.scanned} projects checked, {report.found} findings, "
                       f"{report.new_alerts} new alerts, {report.deliveries_created} deliveries; nothing written")
            return
    click.echo(report.summary())
    if report.failed:
        raise DeliveryFailed(
            f"{report.failed} deliveries failed and will be retried ({'; '.join(report.errors)}); "
            "see dongflow alerts list --failed"
        )


STATE_CHOICES = ("open", "acknowledged", "snoozed", "resolved", "superseded")


def _state_label(app: App, state: str) -> str:
    from engine.alerting import STATE_LABELS, label

    return label(STATE_LABELS, state, app.lang)


@alerts.command("list")
@click.option("--pending", "status", flag_value="pending", help="Only deliveries not yet attempted.")
@click.option("--failed", "status", flag_value="failed", help="Only deliveries that failed (they are retried).")
@click.option("--sent", "status", flag_value="sent", help="Only delivered ones.")
@click.option("--state", "states", multiple=True, metavar="STATE",
              help="Only alerts in this lifecycle state (repeatable): open, acknowledged, snoozed, resolved, superseded "
                   "(Korean labels work).")
@click.option("--limit", type=WholeNumber(minimum=1), help="At most this many rows (newest first).")
@listing_options
@app_options
@pass_app
def alerts_list(app: App, status: str | None, states: Sequence[str], limit: int | None, listing: Listing) -> None:
    """Alerts, their lifecycle state, and their deliveries per channel: sent, pending or failed (with the error).

    With --json/--jsonl each row starts with its project's fields (the listing contract: ``state`` is the
    project's state); the alert's own lifecycle state is ``alert_state``.
    """
    from engine.alerting import STATE_LABELS
    from render.output import choose
    from storage.alerts import SqlAlertStore

    choices = {s: list(STATE_LABELS.get(s, ())) for s in STATE_CHOICES}
    states = [choose(part, choices, "alert state", "--state") for v in states for part in v.split(",") if part.strip()]
    app.db.require_schema()
    rows = SqlAlertStore(app.db).listing(status, limit, states=states)
    if listing.machine:
        projects = _project_fields_by_key(app, [d.key for d in rows])
        listing.write({
            **projects.get(d.key, {"key": d.key, "gu": d.gu, "dong": d.dong}),
            "alert_id": d.alert_id, "milestone": d.milestone,
            "level": d.level, "alert_state": d.state, "due": d.due.isoformat(), "days": d.days, "reason": d.reason,
            "as_of": d.as_of.isoformat(), "created_at": app.iso(d.created_at), "kind": d.kind, "round": d.round,
            "channel": d.channel, "recipient": d.recipient, "status": d.status, "attempts": d.attempts,
            "last_error": d.last_error,
            "next_attempt_at": app.iso(d.next_attempt_at) if d.status != "sent" else None,
            "sent_at": app.iso(d.sent_at),
            "message_id": f"dongflow-{d.message_key}" if d.message_key else None,
        } for d in rows)
        return
    if not rows:
        click.echo(_h(app, "해당하는 경보가 없습니다.", "No alerts."))
        return
    from engine.alerting import KIND_LABELS, label
    from render.table import table

    headers = ["#", _h(app, "키", "key"), _h(app, "마일스톤", "milestone"), _h(app, "수준", "level"),
               _h(app, "경보 상태", "state"), _h(app, "기한", "due"), _h(app, "종류", "kind"), _h(app, "채널", "channel"),
               _h(app, "받는 곳", "recipient"), _h(app, "상태", "status"), _h(app, "시도", "tries"),
               _h(app, "다음 시도/오류", "next try / error")]
    out = []
    for d in rows:
        extra = "" if d.status == "sent" else app.local(d.next_attempt_at)
        if d.last_error:
            extra = f"{extra} {d.last_error}".strip()
        out.append([d.alert_id, d.key, _milestone_text(app, d.workflow_id, d.workflow_version, d.milestone),
                    _level_label(app, d.level), _state_label(app, d.state), d.due.isoformat(),
                    label(KIND_LABELS, d.kind, app.lang), d.channel, d.recipient, _delivery_label(app, d.status),
                    d.attempts, extra])
    click.echo(table(headers, out, align=">" + "<" * 9 + "><"))


def _actor_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--actor", envvar="DONGFLOW_ACTOR",
                        help="Who does it (default: DONGFLOW_ACTOR or your login); recorded on the timeline.")(func)


def _service(app: App) -> Any:
    from notify.service import AlertService

    app.db.require_schema()
    return AlertService(app.db, app.now)


def _who(actor: str | None) -> str:
    from commands.common import _actor_default

    return actor or _actor_default() or "unknown"


@alerts.command("ack")
@click.argument("alert_id", metavar="ID", type=WholeNumber(minimum=1))
@click.option("--note", required=True, help="Why: what is being done about it (required).")
@_actor_option
@app_options
@pass_app
def alerts_ack(app: App, alert_id: int, note: str, actor: str | None) -> None:
    """Acknowledge an alert: no more reminders or escalation; it still resolves when its milestone is met."""
    record = _service(app).acknowledge(_who(actor), alert_id, note)
    click.echo(_h(app, f"경보 #{record.id} ({record.key} {record.milestone}) 확인됨: {note}",
                  f"alert #{record.id} ({record.key} {record.milestone}) acknowledged: {note}"))


@alerts.command("snooze")
@click.argument("alert_id", metavar="ID", type=WholeNumber(minimum=1))
@click.option("--until", "until", required=True, metavar="DATE", help="No reminders or escalation before this day.")
@click.option("--note", required=True, help="Why it can wait (required).")
@_actor_option
@app_options
@pass_app
def alerts_snooze(app: App, alert_id: int, until: str, note: str, actor: str | None) -> None:
    """Snooze an alert until a date: then it is open again, and its reminder and escalation clocks restart."""
    record = _service(app).snooze(_who(actor), alert_id, until, note)
    click.echo(_h(app, f"경보 #{record.id} ({record.key} {record.milestone}) {record.snoozed_until}까지 보류: {note}",
                  f"alert #{record.id} ({record.key} {record.milestone}) snoozed until {record.snoozed_until}: {note}"))


@alerts.command("show")
@click.argument("alert_id", metavar="ID", type=WholeNumber(minimum=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@_actor_option
@app_options
@pass_app
def alerts_show(app: App, alert_id: int, as_json: bool, actor: str | None) -> None:
    """One alert and its timeline: found, each delivery (with its message id), acknowledged, snoozed, reminded, escalated, resolved."""
    timeline = _service(app).show(_who(actor), alert_id)
    a = timeline.alert
    entries = timeline.entries("en" if as_json else app.lang)
    if as_json:
        _json({
            "alert_id": a.id, "key": a.key, "gu": a.gu, "dong": a.dong, "milestone": a.milestone, "level": a.level,
            "state": a.state, "due": a.due.isoformat(), "days": a.days, "reason": a.reason, "as_of": a.as_of.isoformat(),
            "snoozed_until": a.snoozed_until.isoformat() if a.snoozed_until else None, "reminders": a.reminders,
            "escalated_on": a.escalated_on.isoformat() if a.escalated_on else None,
            "timeline": [{"at": app.iso(at), "what": what, "actor": who, "detail": detail}
                         for at, what, who, detail in entries],
        })
        return
    click.echo(f"#{a.id} {a.key} ({a.gu} {a.dong}) {a.milestone}: [{_level_label(app, a.level)}] "
               f"{_h(app, '기한', 'due')} {a.due} - {a.reason}")
    state = _state_label(app, a.state)
    if a.snoozed_until:
        state += _h(app, f" ({a.snoozed_until}까지)", f" (until {a.snoozed_until})")
    click.echo(_h(app, f"상태: {state}, 재알림 {a.reminders}회", f"state: {state}, {a.reminders} reminder(s)")
               + (_h(app, f", 상향 보고 {a.escalated_on}", f", escalated {a.escalated_on}") if a.escalated_on else ""))
    from engine.alerting import timeline_label

    for at, what, who, detail in entries:
        click.echo(f"  {app.local(at)}  {timeline_label(what, app.lang)} · {who} · {detail or ''}".rstrip(" ·"))


def _refuse_today_on_the_demo(app: App, command: str) -> None:
    """The demo's histories stop on its as-of date: checked as of today, every project is years late."""
    from storage.demo_mark import demo_as_of

    day = demo_as_of(app.db)
    if day is not None:
        hint = f"run: dongflow alerts run --as-of {day}" if command == "alerts run" else (
            f"the scheduler always checks as of today; try: dongflow alerts run --as-of {day}")
        raise InvalidInput(
            f"{app.db.describe()} holds the demo, whose data stands on {day}; as of today every project would "
            f"be years late and alerted: {hint}",
            field=command,
        )


def _milestone_text(app: App, workflow_id: str, version: int, milestone: str) -> str:
    """A milestone's label in the user's language (an at-risk alert names the target state)."""
    try:
        wf = app.catalog.get(workflow_id, version)
    except LookupError:
        return milestone
    found = next((m.label.get(app.lang) for m in wf.milestones if m.id == milestone), None)
    if found is not None:
        return found
    from engine.backward import planning_label

    found = planning_label(wf, milestone, app.lang)
    if found is not None:
        return found
    return wf.state_label(milestone, app.lang) if any(s.id == milestone for s in wf.states) else milestone


def _delivery_label(app: App, status: str) -> str:
    from engine.alerting import DELIVERY_LABELS

    ko, en = DELIVERY_LABELS.get(status, (status, status))
    return en if app.lang == "en" else ko


@click.group()
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
    from zoneinfo import ZoneInfo

    from engine.values import parse_clock
    from notify.scheduler import serve
    from storage.alerts import SqlAlertStore

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("dongflow.alerts")
    when = parse_clock(at, "--at") if at is not None else None
    runner = _runner(app, config_path, lambda line: log.info("console: %s", line))
    _refuse_today_on_the_demo(app, "scheduler start")
    schedule = runner.config.schedule
    if when is not None:
        schedule = dataclasses.replace(schedule, hour=when[0], minute=when[1])
    tz = ZoneInfo(schedule.timezone)
    store = SqlAlertStore(app.db)

    from engine.display import set_display_zone
    from notify.scheduler import nightly_job

    def run_in_zone(day: dt.date) -> Any:
        set_display_zone(app.tz)  # the job runs in APScheduler's thread, which has its own context
        return runner.run(day)

    job = nightly_job(run_in_zone, lambda: app.now().astimezone(tz).date(), log)

    def last_success() -> dt.datetime | None:
        row = store.job("alerts")
        return row["last_success_at"] if row else None

    log.info("database %s, alert configuration %s", app.db.describe(), runner.config.source)
    serve(schedule, job, last_success, app.now)
