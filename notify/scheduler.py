"""The long-running scheduler: the only module that imports APScheduler.

APScheduler 3 cannot share a job store between processes (agronholm/apscheduler 129, 231, 655), so
the nightly job lives in memory and what must survive lives in dongflow's tables: the last
successful run (for catch-up after downtime) and the lease (so two schedulers never both send).
The job itself is a repeatable sweep, which is what makes replicas and catch-up safe.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from engine.display import show_time
from engine.errors import DongflowError
from notify.config import Schedule, next_run_after, previous_run_before

log = logging.getLogger("dongflow.scheduler")


def nightly_job(
    run: Callable[[dt.date], Any], today: Callable[[], dt.date], log: logging.Logger = log
) -> Callable[[], None]:
    """The scheduler's job: one alert run for today that survives every error and logs it (one
    line; the traceback too when debugging), so the next night runs again."""

    def job() -> None:
        day = None
        try:
            day = today()
            report = run(day)
        except DongflowError as exc:
            log.error("alert run for %s failed: %s", day, exc)
            return
        except Exception as exc:  # noqa: BLE001 - the nightly job must survive anything and say what
            log.error("alert run for %s failed with an unexpected error: %s: %s", day, type(exc).__name__, exc,
                      exc_info=log.isEnabledFor(logging.DEBUG))
            return
        if getattr(report, "failed", 0):
            log.warning("%d deliveries failed; they will be retried: %s", report.failed, "; ".join(report.errors))

    return job


def serve(
    schedule: Schedule,
    job: Callable[[], None],
    last_success_at: Callable[[], dt.datetime | None],
    clock: Callable[[], dt.datetime],
    stop: threading.Event | None = None,
) -> None:
    """Run ``job`` every day at the scheduled time until SIGTERM/SIGINT (or ``stop`` is set)."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    tz = ZoneInfo(schedule.timezone)
    stop = stop or threading.Event()
    scheduler = BackgroundScheduler(
        timezone=tz,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": schedule.misfire_grace_minutes * 60,
        },
    )

    def on_event(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("the run due at %s was missed (more than %d minutes late); it runs at the next start-up "
                        "or the next scheduled time", show_time(event.scheduled_run_time, tz),
                        schedule.misfire_grace_minutes)
        elif event.code == EVENT_JOB_ERROR:
            log.error("the alert run failed: %s", event.exception)
        else:
            # Not scheduler.get_job(): shutdown() holds the job-store lock while it waits for the
            # running job, and this listener runs as part of that job, so asking the scheduler here
            # deadlocked a SIGTERM that arrived during a run.
            log.info("next run at %s", show_time(next_run_after(schedule, clock()), tz))

    scheduler.add_listener(on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_EXECUTED)
    trigger = CronTrigger(hour=schedule.hour, minute=schedule.minute, timezone=tz)
    scheduler.add_job(job, trigger, id="nightly-alerts", name="nightly deadline check and alerts")

    now = clock()
    due_at = previous_run_before(schedule, now)
    last = last_success_at()
    if last is None or last < due_at:
        # A run was due while nothing was running (or never ran): one catch-up run now, not one
        # per missed night -- the check is a sweep over the current state, so once is enough.
        log.info("catching up: last successful run %s, a run was due at %s",
                 show_time(last, tz) if last else "never", show_time(due_at, tz))
        scheduler.add_job(job, id="catch-up", name="catch-up run", next_run_time=now.astimezone(tz))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current run, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    scheduler.start()
    log.info("scheduler started: daily at %02d:%02d %s; next run at %s",
             schedule.hour, schedule.minute, schedule.timezone, show_time(next_run_after(schedule, now), tz))
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("scheduler stopped")

