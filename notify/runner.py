"""One alert run: check deadlines, record new alerts, deliver what is due. Safe to repeat.

Used by ``dongflow alerts run`` (cron, systemd timers) and by the scheduler's nightly job. A run
holds the job's lease in the database while it works; a run that finds the lease taken does nothing
and says who holds it. Every write of a run is fenced by the lease's epoch, and each message is
claimed (fenced, renewing the lease) just before it is sent, so a run that stalled past its lease
stops before its next send. Delivery is isolated: a channel that is down, or a message that breaks,
is recorded on its deliveries and the run goes on; only a lost lease stops it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from zoneinfo import ZoneInfo

from engine.alerting import AlertView
from engine.catalog import Catalog
from engine.definition import Calendar
from engine.errors import DongflowError, LeaseLost
from engine.monitor import DeadlineBook
from engine.workdays import HolidaySource, WorkCalendar
from notify.channels import Channel, ChannelDown, Message, build_channel, idempotency_key
from notify.config import AlertConfig
from storage import check_marks
from storage.alert_lifecycle import make_sweep
from storage.alerts import CheckResult, Lease, SqlAlertStore, StoredDelivery
from storage.check_marks import Scan
from storage.tracking import TrackingReader
from storage.db import Database

JOB = "alerts"
log = logging.getLogger("dongflow.alerts")


def owner_id() -> str:
    """Who holds a lease: host, process and a random part (pids repeat across hosts and restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RunReport:
    as_of: dt.date
    skipped_for: str | None = None
    """Set when another process holds the lease: its owner and expiry."""
    scanned: int = 0
    assessed: int = 0
    """Projects assessed this run: all of them, or (incremental) those new, changed or due a look."""
    found: int = 0
    new_alerts: int = 0
    deliveries_created: int = 0
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    """Deliveries for channels no longer in the configuration (kept, not lost)."""
    errors: list[str] = field(default_factory=list)
    check: CheckResult | None = None
    lifecycle: dict[str, int] = field(default_factory=dict)
    """What the lifecycle sweep did (resolved, reminded, escalated, digests ...)."""
    lost_lease: str | None = None

    def summary(self) -> str:
        if self.skipped_for:
            return f"skipped: {self.skipped_for}"
        unchanged = self.scanned - self.assessed
        text = (
            f"checked {self.scanned} projects as of {self.as_of}"
            f"{f' ({unchanged} unchanged since their last check)' if unchanged > 0 else ''}: {self.found} findings, "
            f"{self.new_alerts} new alerts ({self.deliveries_created} deliveries); "
            f"sent {self.sent}, failed {self.failed}"
        )
        done = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in self.lifecycle.items() if n)
        if done:
            text += f"; lifecycle: {done}"
        if self.waiting:
            text += f", {self.waiting} waiting for a channel that is no longer configured"
        return text


class AlertRunner:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        config: AlertConfig,
        tz: ZoneInfo,
        clock: Callable[[], dt.datetime],
        write: Callable[[str], None] = print,
        owner: str | None = None,
        holidays: HolidaySource | None = None,
    ) -> None:
        self.db = db
        self.holidays = holidays
        """Public holidays for the deadline rules (the CLI passes its cache; default: the package)."""
        self.catalog = catalog
        self.config = config
        self.tz = tz
        self.clock = clock
        """The runner's own clock: for as-of dates, backoff and timestamps -- never for the lease,
        whose expiry the database's clock decides."""
        self.store = SqlAlertStore(db)
        self.owner = owner or owner_id()
        self.ttl = dt.timedelta(seconds=config.schedule.lease_seconds)
        self.channels: dict[str, Channel] = {
            c.name: build_channel(c, write, config.lang) for c in config.channels
        }

    def run(self, as_of: dt.date, *, dry_run: bool = False) -> RunReport:
        report = RunReport(as_of)
        if dry_run:
            report.check = self._check(as_of, dry_run=True, lease=None)
            self._fill(report, report.check)
            return report
        # A lease per run, not per runner: the scheduler's catch-up and nightly jobs share one runner,
        # and a lease keyed by the runner let an overlapping second run re-enter it.
        owner = f"{self.owner}#{uuid.uuid4().hex[:6]}"
        lease, holder, until = self.store.acquire(JOB, owner, self.ttl)
        if lease is None:
            when = until.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S") if until else "?"
            report.skipped_for = f"another alert run ({holder}) holds the lease until {when}"
            log.info(report.summary())
            return report
        check_error: Exception | None = None
        try:
            try:
                report.check = self._check(as_of, dry_run=False, lease=lease)
                self._fill(report, report.check)
                log.info(
                    "checked %d projects as of %s: %d findings, %d new alerts",
                    report.scanned, as_of, report.found, report.new_alerts,
                )
            except LeaseLost:
                raise
            except Exception as exc:  # noqa: BLE001 - what was queued before is still delivered
                check_error = exc
                report.errors.append(f"check: {_describe(exc)}")
                log.error("the deadline check as of %s failed: %s; delivering what was queued before", as_of, _describe(exc))
            self._deliver(report, lease)
            if check_error is not None:
                raise check_error
            self.store.record_success(JOB, as_of, self.clock())
            log.info(report.summary())
        except LeaseLost as exc:
            report.lost_lease = str(exc)
            log.warning("%s", exc)
            raise
        except Exception as exc:
            try:
                self.store.record_error(JOB, _describe(exc))
            except Exception:  # noqa: BLE001 - the database itself may be what failed
                log.exception("could not record the run's error")
            raise
        finally:
            try:
                self.store.release(lease)
            except Exception:  # noqa: BLE001 - it expires by itself
                log.exception("could not release the alert lease; it expires after %s", self.ttl)
        return report

    @staticmethod
    def _fill(report: RunReport, check: CheckResult) -> None:
        report.scanned = check.scanned
        report.assessed = check.assessed
        report.found = check.total
        report.new_alerts = len(check.new)
        report.deliveries_created = check.deliveries
        report.lifecycle = dict(check.lifecycle)

    def _check(self, as_of: dt.date, *, dry_run: bool, lease: Lease | None) -> CheckResult:
        from engine.asof import cutoff_for
        from storage.asof import iter_tracked

        # A past date checks the record as it stood then, as `overdue --as-of` does; today (the
        # nightly run) reads the stored rows.
        cutoff = cutoff_for(as_of, self.clock().astimezone(self.tz).date(), self.tz)
        self.catalog.refresh()  # versions published since the scheduler started (their final states)

        def compute(reader: TrackingReader) -> Scan:
            source = reader if cutoff is None else TrackingReader(reader.conn, before=cutoff)
            book = DeadlineBook(self.catalog, self.tz, source, self.holidays)
            if cutoff is None:
                # Today's record: incremental (storage/check_marks.py); a real run keeps the marks.
                return check_marks.scan(reader.conn, book, as_of, self.config.lang, skip_states=book.skip_states(),
                                        closed_before=book.closed_before(as_of), write=not dry_run)
            rows = iter_tracked(reader.conn, cutoff, skip_states=book.skip_states(),
                                closed_before=book.closed_before(as_of))
            scanned, found = book.scan(rows, as_of, self.config.lang)
            if not dry_run:
                check_marks.forget(reader.conn)  # alerts changed by a past day's check: next run checks all
            return Scan(scanned, found, scanned, len(found))

        rules = self.config.lifecycle
        calendar = WorkCalendar(Calendar(country=rules.country), self.holidays)
        routes = self.config.routes()
        return self.store.check(
            compute, routes, as_of=as_of, now=self.clock(), dry_run=dry_run, lease=lease,
            sweep=make_sweep(routes, rules, calendar.is_working_day),
        )

    def _deliver(self, report: RunReport, lease: Lease) -> None:
        """Every due delivery, one message at a time; a channel that is down, or a message that
        breaks, is recorded on its deliveries and the run goes on. Only a lost lease stops it."""
        book = DeadlineBook(self.catalog, self.tz, holidays=self.holidays)
        due = self.store.due(self.clock())
        for (channel_name, recipient, kind), group in groupby(due, key=lambda d: (d.channel, d.recipient, d.kind)):
            items = list(group)
            channel = self.channels.get(channel_name)
            if channel is None:
                report.waiting += len(items)
                log.warning("%d deliveries wait for channel %r, which is not configured", len(items), channel_name)
                continue
            down: str | None = None
            for unit in _messages(items, channel.batch):
                if down is not None:  # the server is down for this recipient: the rest waits for the retry
                    self._failed(report, lease, channel_name, unit, down)
                    continue
                try:
                    self._send(report, lease, book, channel, recipient, kind, unit)
                except LeaseLost:
                    raise
                except (ChannelDown, DongflowError) as exc:
                    down = str(exc)
                    self._failed(report, lease, channel_name, unit, down)
                    log.warning("channel %s (%s) failed: %s; its deliveries will be retried", channel_name, recipient, down)
                except Exception as exc:  # noqa: BLE001 - a bug in one message must not stop the others
                    error = f"internal error in channel {channel_name}: {_describe(exc)}"
                    log.error("channel %s (%s): %s", channel_name, recipient, error, exc_info=log.isEnabledFor(logging.DEBUG))
                    self._failed(report, lease, channel_name, unit, error)

    def _send(self, report: RunReport, lease: Lease, book: DeadlineBook, channel: Channel, recipient: str,
              kind: str, unit: list[StoredDelivery]) -> None:
        views, ready = [], []
        for d in unit:
            try:
                views.append(self._view(book, d))
                ready.append(d)
            except Exception as exc:  # noqa: BLE001 - recorded on that one delivery
                self._failed(report, lease, channel.name, [d], f"internal error preparing alert #{d.alert_id}: {_describe(exc)}")
        if not ready:
            return
        key = self.store.claim(lease, ready, self.clock())  # fenced: a run that lost its lease stops here
        stamp = idempotency_key(key)
        views = [dataclasses.replace(v, message_id=stamp) for v in views]
        channel.send(Message(recipient, views, key, kind))
        self.store.mark_sent([d.id for d in ready], self.clock(), lease)
        report.sent += len(ready)

    def _failed(self, report: RunReport, lease: Lease, channel_name: str, unit: list[StoredDelivery], error: str) -> None:
        report.failed += len(unit)
        text = f"{channel_name}: {error}"
        if text not in report.errors:
            report.errors.append(text)
        try:
            self.store.mark_failed(unit, error, self.clock(), lease)
        except LeaseLost:
            raise
        except Exception as exc:  # noqa: BLE001 - they stay due, and are tried again next run
            log.error("could not record %d failed deliveries of %s: %s", len(unit), channel_name, _describe(exc))

    def _view(self, book: DeadlineBook, d: StoredDelivery) -> AlertView:
        return AlertView(
            id=d.alert_id,
            key=d.key,
            gu=d.gu,
            dong=d.dong,
            milestone=d.milestone,
            milestone_label=book.milestone_label(d.workflow_id, d.workflow_version, d.milestone, self.config.lang),
            level=d.level,
            due=d.due,
            days=d.days,
            reason=d.reason,
            as_of=d.as_of,
            created_at=d.created_at,
            kind=d.kind,
            delivery_id=d.id,
        )


def _messages(items: list[StoredDelivery], batch: int) -> list[list[StoredDelivery]]:
    """Deliveries claimed for a message before go out as that message again (same key, same
    alerts); the others in messages of up to ``batch``."""
    keyed: dict[str, list[StoredDelivery]] = {}
    fresh: list[StoredDelivery] = []
    for d in items:
        if d.message_key:
            keyed.setdefault(d.message_key, []).append(d)
        else:
            fresh.append(d)
    return [*keyed.values(), *(fresh[i : i + batch] for i in range(0, len(fresh), batch))]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, DongflowError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
