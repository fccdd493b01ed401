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
from engine.errors import DongflowError, InvalidInput

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
