"""Deadlines and alerts: `overdue`, `alerts run|list`, `scheduler start`."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from commands.common import (
    App,
    _as_of,
    _deadline_book,
    _h,
    _json,
    _level_label,
    app_options,
    pass_app,
)
from engine.errors import InvalidInput

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------------------------------------
# Deadlines and alerts


LEVEL_CHOICES = ("due_soon", "overdue", "escalated", "at_risk")


@click.command()
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
    day = _as_of(app, as_of)
    app.db.require_schema()
    with app.db.read() as conn:
        book = _deadline_book(app, conn)
        from storage.tracking import tracked_rows

        rows = tracked_rows(conn, skip_states=book.skip_states(), closed_before=book.closed_before(day), gu=gu, year=year)
        _count, found = book.scan(rows, day, app.lang)
    from render.views import findings_json

    items = findings_json(found, book, day, app.lang, levels)
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
    return AlertRunner(app.db, app.catalog, config, app.tz, app.now, write=write)


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


STATE_CHOICES = ("open", "acknowledged", "snoozed", "resolved", "superseded")


def _state_label(app: App, state: str) -> str:
    from engine.alerting import STATE_LABELS, label

    return label(STATE_LABELS, state, app.lang)


@alerts.command("list")
@click.option("--pending", "status", flag_value="pending", help="Only deliveries not yet attempted.")
@click.option("--failed", "status", flag_value="failed", help="Only deliveries that failed (they are retried).")
@click.option("--sent", "status", flag_value="sent", help="Only delivered ones.")
@click.option("--state", "states", multiple=True, type=click.Choice(STATE_CHOICES),
              help="Only alerts in this lifecycle state (repeatable): open, acknowledged, snoozed, resolved, superseded.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@app_options
@pass_app
def alerts_list(app: App, status: str | None, states: Sequence[str], limit: int | None, as_json: bool) -> None:
    """Alerts, their lifecycle state, and their deliveries per channel: sent, pending or failed (with the error)."""
    from storage.alerts import SqlAlertStore

    app.db.require_schema()
    rows = SqlAlertStore(app.db).listing(status, limit, states=states)
    if as_json:
        _json([{
            "alert_id": d.alert_id, "key": d.key, "gu": d.gu, "dong": d.dong, "milestone": d.milestone,
            "level": d.level, "state": d.state, "due": d.due.isoformat(), "days": d.days, "reason": d.reason,
            "as_of": d.as_of.isoformat(), "created_at": app.iso(d.created_at), "kind": d.kind, "round": d.round,
            "channel": d.channel, "recipient": d.recipient, "status": d.status, "attempts": d.attempts,
            "last_error": d.last_error,
            "next_attempt_at": app.iso(d.next_attempt_at) if d.status != "sent" else None,
            "sent_at": app.iso(d.sent_at),
            "message_id": f"dongflow-{d.message_key}" if d.message_key else None,
        } for d in rows])
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
        out.append([d.alert_id, d.key, d.milestone, _level_label(app, d.level), _state_label(app, d.state),
                    d.due.isoformat(), label(KIND_LABELS, d.kind, app.lang), d.channel, d.recipient, d.status,
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
@click.argument("alert_id", metavar="ID", type=int)
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
@click.argument("alert_id", metavar="ID", type=int)
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
@click.argument("alert_id", metavar="ID", type=int)
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
    import re
    from zoneinfo import ZoneInfo

    from notify.scheduler import serve
    from storage.alerts import SqlAlertStore

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("dongflow.alerts")
    when = None
    if at is not None:
        when = re.match(r"^(\d{1,2}):(\d{2})$", at)
        if not when or int(when.group(1)) > 23 or int(when.group(2)) > 59:
            raise InvalidInput(f"{at!r} is not a time HH:MM", field="--at")
    runner = _runner(app, config_path, lambda line: log.info("console: %s", line))
    schedule = runner.config.schedule
    if when is not None:
        schedule = dataclasses.replace(schedule, hour=int(when.group(1)), minute=int(when.group(2)))
    tz = ZoneInfo(schedule.timezone)
    store = SqlAlertStore(app.db)

    from notify.scheduler import nightly_job

    job = nightly_job(runner.run, lambda: app.now().astimezone(tz).date(), log)

    def last_success() -> dt.datetime | None:
        row = store.job("alerts")
        return row["last_success_at"] if row else None

    log.info("database %s, alert configuration %s", app.db.describe(), runner.config.source)
    serve(schedule, job, last_success, app.now)
