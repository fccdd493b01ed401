"""One alert run: check deadlines, record new alerts, deliver what is due. Safe to repeat.

Used by ``dongflow alerts run`` (cron, systemd timers) and by the scheduler's nightly job. A run
holds the job's lease in the database while it works, so two processes never send the same alert;
a run that finds the lease taken does nothing and says who holds it.
"""

from __future__ import annotations

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
from engine.errors import DongflowError
from engine.monitor import DeadlineBook
from notify.channels import Channel, ChannelDown, build_channel
from notify.config import AlertConfig
from storage.alerts import CheckResult, SqlAlertStore, StoredDelivery
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
    found: int = 0
    new_alerts: int = 0
    deliveries_created: int = 0
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    """Deliveries for channels no longer in the configuration (kept, not lost)."""
    errors: list[str] = field(default_factory=list)
    check: CheckResult | None = None

    def summary(self) -> str:
        if self.skipped_for:
            return f"skipped: {self.skipped_for}"
        text = (
            f"checked {self.scanned} projects as of {self.as_of}: {self.found} findings, "
            f"{self.new_alerts} new alerts ({self.deliveries_created} deliveries); "
            f"sent {self.sent}, failed {self.failed}"
        )
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
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.config = config
        self.tz = tz
        self.clock = clock
        self.store = SqlAlertStore(db)
        self.owner = owner or owner_id()
        self.ttl = dt.timedelta(seconds=config.schedule.lease_seconds)
        self.channels: dict[str, Channel] = {
            c.name: build_channel(c, write, config.lang) for c in config.channels
        }

    def run(self, as_of: dt.date, *, dry_run: bool = False) -> RunReport:
        report = RunReport(as_of)
        if dry_run:
            report.check = self._check(as_of, dry_run=True)
            self._fill(report, report.check)
            return report
        # A lease per run, not per runner: the scheduler's catch-up and nightly jobs share one runner,
        # and a lease keyed by the runner let an overlapping second run re-enter it and send the same
        # deliveries again (and release the lease under the first).
        owner = f"{self.owner}#{uuid.uuid4().hex[:6]}"
        taken, holder, until = self.store.acquire(JOB, owner, self.clock(), self.ttl)
        if not taken:
            when = until.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S") if until else "?"
            report.skipped_for = f"another alert run ({holder}) holds the lease until {when}"
            log.info(report.summary())
            return report
        try:
            report.check = self._check(as_of, dry_run=False)
            self._fill(report, report.check)
            log.info(
                "checked %d projects as of %s: %d findings, %d new alerts",
                report.scanned, as_of, report.found, report.new_alerts,
            )
            self._deliver(report, owner)
            self.store.record_success(JOB, as_of, self.clock())
            log.info(report.summary())
        except Exception as exc:
            self.store.record_error(JOB, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.store.release(JOB, owner)
        return report

    @staticmethod
    def _fill(report: RunReport, check: CheckResult) -> None:
        report.scanned = check.scanned
        report.found = len(check.found)
        report.new_alerts = len(check.new)
        report.deliveries_created = check.deliveries

    def _check(self, as_of: dt.date, *, dry_run: bool) -> CheckResult:
        def compute(reader: TrackingReader) -> tuple[int, list]:  # type: ignore[type-arg]
            book = DeadlineBook(self.catalog, self.tz, reader)
            rows = reader.rows(skip_states=book.skip_states(), closed_before=book.closed_before(as_of))
            return book.scan(rows, as_of, self.config.lang)

        return self.store.check(compute, self.config.routes(), as_of=as_of, now=self.clock(), dry_run=dry_run)

    def _deliver(self, report: RunReport, owner: str) -> None:
        book = DeadlineBook(self.catalog, self.tz)
        due = self.store.due(self.clock())
        renewed = self.clock()
        renew_every = self.ttl / 4  # far inside the lease: a run never sends on an expired lease
        for (channel_name, recipient), group in groupby(due, key=lambda d: (d.channel, d.recipient)):
            items = list(group)
            channel = self.channels.get(channel_name)
            if channel is None:
                report.waiting += len(items)
                log.warning("%d deliveries wait for channel %r, which is not configured", len(items), channel_name)
                continue
            for start in range(0, len(items), channel.batch):
                unit = items[start : start + channel.batch]
                now = self.clock()
                if now - renewed >= renew_every:
                    if not self.store.renew(JOB, owner, now, self.ttl):
                        raise DongflowError("lost the alert lease (another run took over); stopping without sending more")
                    renewed = now
                try:
                    channel.send(recipient, [self._view(book, d) for d in unit])
                except Exception as exc:  # noqa: BLE001 - one channel's failure must not stop the others
                    if isinstance(exc, (ChannelDown, DongflowError)):
                        error = str(exc)
                    else:  # a bug in a channel: keep the deliveries for a retry and say what broke
                        error = f"internal error in channel {channel_name}: {type(exc).__name__}: {exc}"
                        log.exception("channel %s (%s) raised an unexpected error", channel_name, recipient)
                    rest = items[start:]
                    self.store.mark_failed(rest, error, self.clock())
                    report.failed += len(rest)
                    report.errors.append(f"{channel_name}: {error}")
                    log.warning("channel %s (%s) failed: %s; %d deliveries will be retried",
                                channel_name, recipient, error, len(rest))
                    break
                self.store.mark_sent([d.id for d in unit], self.clock())
                report.sent += len(unit)

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
        )
