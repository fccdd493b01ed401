"""The nightly scheduler: catch-up after downtime, the configured time zone, a clean SIGTERM.

``serve`` runs in a thread with a clock and a ``stop`` event passed in; the APScheduler instance it
builds is captured so the tests can read the real trigger's next fire time. The CLI is tested as a
subprocess that receives real signals.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alertkit import (
    add_projects,
    build_project,
    cli_env,
    dongflow_cmd,
    file_channel,
    migrate,
    read_jsonl,
    webhook_channel,
    write_config,
)

from notify.config import Schedule, next_run_after, previous_run_before
from notify.scheduler import serve

UTC = dt.UTC


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every BackgroundScheduler that ``serve`` builds."""
    from apscheduler.schedulers import background

    made: list = []

    class Recording(background.BackgroundScheduler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(background, "BackgroundScheduler", Recording)
    return made


class Served:
    def __init__(self, schedule: Schedule, last: dt.datetime | None, now: dt.datetime, captured: list) -> None:
        self.calls: queue.Queue[dt.datetime] = queue.Queue()
        self.stop = threading.Event()
        self.captured = captured
        self.thread = threading.Thread(
            target=serve,
            args=(schedule, lambda: self.calls.put(dt.datetime.now(UTC)), lambda: last, lambda: now, self.stop),
            daemon=True,
        )

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 5
        while not (self.captured and self.captured[0].running):
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        # Let APScheduler finish removing the one-off catch-up job before shutting down: shutdown()
        # marks the scheduler stopped before taking its lock, and a loop that is between submitting
        # the job and removing it then raises JobLookupError (APScheduler 3.11, harmless but noisy).
        deadline = time.monotonic() + 5
        while self.scheduler.get_job("catch-up") is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "serve did not return after stop was set"

    @property
    def scheduler(self):  # type: ignore[no-untyped-def]
        return self.captured[0]


def schedule_away_from_now(now: dt.datetime, tz: str = "Asia/Seoul") -> Schedule:
    """A daily time twelve hours from now, so the cron job itself never fires during a test."""
    local = (now + dt.timedelta(hours=12)).astimezone(ZoneInfo(tz))
    return Schedule(hour=local.hour, minute=local.minute, timezone=tz)


def test_catch_up_at_start_when_the_last_success_is_older_than_the_last_scheduled_time(captured: list) -> None:
    now = dt.datetime.now(UTC)
    schedule = schedule_away_from_now(now)
    due = previous_run_before(schedule, now)
    with Served(schedule, due - dt.timedelta(seconds=1), now, captured) as served:
        served.calls.get(timeout=5)  # one catch-up run, straight away
        assert served.calls.empty()
        assert [j.id for j in served.scheduler.get_jobs()] == ["nightly-alerts"]


def test_catch_up_when_it_never_ran(captured: list) -> None:
    now = dt.datetime.now(UTC)
    with Served(schedule_away_from_now(now), None, now, captured) as served:
        served.calls.get(timeout=5)


def test_no_catch_up_when_the_last_success_is_recent(captured: list) -> None:
    now = dt.datetime.now(UTC)
    schedule = schedule_away_from_now(now)
    due = previous_run_before(schedule, now)
    with Served(schedule, due, now, captured) as served:  # succeeded exactly at the scheduled time
        assert [j.id for j in served.scheduler.get_jobs()] == ["nightly-alerts"]
        with pytest.raises(queue.Empty):
            served.calls.get(timeout=0.3)


@pytest.mark.parametrize("tz", ["Asia/Seoul", "America/New_York"])
def test_the_cron_trigger_fires_at_the_configured_time_in_the_configured_zone(captured: list, tz: str) -> None:
    now = dt.datetime.now(UTC)
    schedule = Schedule(hour=2, minute=0, timezone=tz)
    with Served(schedule, now, now, captured) as served:
        job = served.scheduler.get_job("nightly-alerts")
        fire = job.next_run_time
        assert str(fire.tzinfo) == tz
        assert (fire.hour, fire.minute) == (2, 0)
        assert fire == next_run_after(schedule, now)
        assert now < fire <= now + dt.timedelta(days=1)
        assert str(job.trigger.timezone) == tz
        assert served.scheduler._job_defaults["coalesce"] is True
        assert served.scheduler._job_defaults["misfire_grace_time"] == schedule.misfire_grace_minutes * 60


def test_next_and_previous_run_in_seoul() -> None:
    schedule = Schedule(hour=2, minute=0, timezone="Asia/Seoul")
    seoul = ZoneInfo("Asia/Seoul")
    # 16:59 UTC is 01:59 in Seoul: the next run is a minute away, the previous one yesterday.
    moment = dt.datetime(2016, 5, 19, 16, 59, tzinfo=UTC)
    assert next_run_after(schedule, moment) == dt.datetime(2016, 5, 20, 2, 0, tzinfo=seoul)
    assert previous_run_before(schedule, moment) == dt.datetime(2016, 5, 19, 2, 0, tzinfo=seoul)
    at = dt.datetime(2016, 5, 19, 17, 0, tzinfo=UTC)  # exactly 02:00 in Seoul
    assert previous_run_before(schedule, at) == at
    assert next_run_after(schedule, at) == dt.datetime(2016, 5, 21, 2, 0, tzinfo=seoul)


# -- the CLI process -------------------------------------------------------------------------------


class Process:
    """A ``dongflow scheduler start`` subprocess whose stderr (its log) is read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([*dongflow_cmd(), *args], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20) -> str:
        """The first log line containing ``text``, waiting for it if it has not come yet."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log:
                if text in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no log line with {text!r}; got:\n" + "\n".join(self.log))
            try:
                self.log.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue

    def finish(self, timeout: float = 20) -> int:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.05)
        while not self.lines.empty():
            self.log.append(self.lines.get())
        return code


SMALL = [
    # key, gu, dong, steps: two late projects and one on time, as of any day in 2016 or later
    ("2016-종로구-삼청동", "종로구", "삼청동", [("agree", dt.date(2016, 2, 1))]),
    ("2016-마포구-서강동", "마포구", "서강동", []),
    ("2016-성동구-마장동", "성동구", "마장동", [("agree", dt.date(2016, 1, 20)), ("present_design", dt.date(2016, 2, 10)),
                                        ("approve_design", dt.date(2016, 3, 1)), ("announce_tender", dt.date(2016, 3, 20)),
                                        ("award", dt.date(2016, 4, 15)), ("complete", dt.date(2016, 6, 20))]),
]


def small_portfolio(url: str, catalog) -> str:  # type: ignore[no-untyped-def]
    migrate(url)
    add_projects(url, catalog, [build_project(catalog, k, gu, dong, created=dt.date(2016, 1, 4), steps=steps)
                                for k, gu, dong, steps in SMALL])
    return url


@pytest.fixture
def scheduler_process(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(url: str, *args: str, tz: str = "America/New_York") -> Process:
        # The machine's own zone (TZ) differs from the schedule's: the schedule must win.
        p = Process(["scheduler", "start", *args], cli_env(url, tmp_path, TZ=tz))
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def start_config(tmp_path: Path) -> tuple[Path, Path, str, dt.datetime]:
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "config.toml", file_channel(jsonl) + '[scheduler]\ntimezone = "Asia/Seoul"\n')
    seoul_now = dt.datetime.now(ZoneInfo("Asia/Seoul"))
    at = (seoul_now + dt.timedelta(hours=3)).strftime("%H:%M")  # not now
    return jsonl, config, at, seoul_now


def test_scheduler_start_catches_up_logs_what_it_did_and_stops_on_sigterm(
    scheduler_process: Callable[..., Process], db_url: str, catalog, tmp_path: Path
) -> None:
    url = small_portfolio(db_url, catalog)
    jsonl, config, at, seoul_now = start_config(tmp_path)
    p = scheduler_process(url, "--at", at, "--config", str(config))

    p.wait_for("catching up: last successful run never")
    checked = p.wait_for("checked 2 projects as of ")  # the completed one is skipped
    assert f"as of {seoul_now.date().isoformat()}" in checked  # today in Seoul, whatever TZ says
    summary = p.wait_for(", failed 0")
    started = p.wait_for("scheduler started")
    assert f"daily at {at} Asia/Seoul" in started and re.search(r"next run at \d{4}-\d\d-\d\d \d\d:\d\d KST", started)
    sent = int(summary.split("sent ")[1].split(",")[0])
    assert sent > 0 and len(read_jsonl(jsonl)) == sent
    assert {a["key"] for a in read_jsonl(jsonl)} == {"2016-종로구-삼청동", "2016-마포구-서강동"}

    p.proc.send_signal(signal.SIGTERM)
    assert p.finish() == 0, "\n".join(p.log)
    assert any("received SIGTERM" in line for line in p.log), p.log
    assert "scheduler stopped" in p.log[-1]
    assert not any("Traceback" in line for line in p.log)

    # Started again right away: the last run is recent, so no catch-up, and nothing is sent twice.
    p = scheduler_process(url, "--at", at, "--config", str(config))
    p.wait_for("scheduler started")
    p.proc.send_signal(signal.SIGTERM)
    assert p.finish() == 0
    assert not any("catching up" in line for line in p.log), p.log
    assert len(read_jsonl(jsonl)) == sent


def test_scheduler_start_stops_on_sigint_too(scheduler_process: Callable[..., Process], catalog, tmp_path: Path) -> None:
    url = small_portfolio(f"sqlite:///{tmp_path / 'small.db'}", catalog)
    _, config, at, _ = start_config(tmp_path)
    p = scheduler_process(url, "--at", at, "--config", str(config))
    p.wait_for("scheduler started")
    p.proc.send_signal(signal.SIGINT)
    assert p.finish() == 0, "\n".join(p.log)
    assert any("received SIGINT" in line for line in p.log) and "scheduler stopped" in p.log[-1]


def test_sigterm_during_a_run_lets_it_finish_then_exits(
    scheduler_process: Callable[..., Process], catalog, tmp_path: Path, webhook
) -> None:
    url = small_portfolio(f"sqlite:///{tmp_path / 'small.db'}", catalog)
    webhook.delay = 0.5
    _, _, at, _ = start_config(tmp_path)
    config = write_config(tmp_path / "hook.toml", webhook_channel(webhook))
    p = scheduler_process(url, "--at", at, "--config", str(config))
    assert webhook.arrived.acquire(timeout=20)  # the catch-up run is posting now
    p.proc.send_signal(signal.SIGTERM)
    assert p.finish(timeout=10) == 0, "\n".join(p.log)
    assert len(webhook.alert_ids()) > 0
    assert any("sent " in line and "failed 0" in line for line in p.log), p.log
    assert "scheduler stopped" in p.log[-1]


def test_scheduler_start_refuses_a_bad_time(scheduler_process: Callable[..., Process], catalog, tmp_path: Path) -> None:
    url = small_portfolio(f"sqlite:///{tmp_path / 'small.db'}", catalog)
    p = scheduler_process(url, "--at", "25:00")
    assert p.finish() == 3
    assert any("Error: --at: '25:00' is not a time HH:MM" in line for line in p.log), p.log


def test_stopping_during_a_run_finishes_the_run_then_returns(captured: list) -> None:
    """SIGTERM while the nightly run is sending: the run completes, and serve returns.

    The shutdown holds APScheduler's job-store lock while it waits for the running job; a listener
    that asked the scheduler for the next run time when the job finished waited for that same lock,
    so the process never exited.
    """
    now = dt.datetime.now(UTC)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        release.wait(timeout=10)
        finished.set()

    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(schedule_away_from_now(now), job, lambda: None, lambda: now, stop),
                              daemon=True)
    thread.start()
    assert started.wait(timeout=5)  # the catch-up run is in progress
    while captured[0].get_job("catch-up") is not None:  # see Served.__exit__ (an APScheduler race)
        time.sleep(0.01)
    stop.set()
    time.sleep(0.2)  # serve is now shutting down, waiting for the run
    assert thread.is_alive() and not finished.is_set()
    release.set()
    thread.join(timeout=5)
    assert finished.is_set()
    assert not thread.is_alive(), "serve deadlocked while stopping during a run"


def test_the_nightly_job_survives_every_error_and_logs_it() -> None:
    """An unexpected error (a bug, an overflow, a dropped database connection) in one night's run is
    logged as one line and the job returns normally, so APScheduler runs it again the next night."""
    import logging

    from engine.errors import DatabaseError
    from notify.scheduler import nightly_job

    nights = iter([OverflowError("date value out of range"), DatabaseError("the database is not reachable"),
                   KeyError("surprise"), None])
    ran = []

    def run(day: dt.date):  # type: ignore[no-untyped-def]
        ran.append(day)
        error = next(nights)
        if error is not None:
            raise error
        return type("Report", (), {"failed": 2, "errors": ["hook: HTTP 500"]})()

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    keep = Keep()
    log = logging.getLogger("dongflow.test-nightly")
    log.addHandler(keep)
    log.setLevel(logging.INFO)
    try:
        job = nightly_job(run, lambda: dt.date(2016, 5, 20), log)
        for _ in range(4):
            job()  # never raises
    finally:
        log.removeHandler(keep)
    assert len(ran) == 4
    messages = keep.messages
    assert messages[0] == "alert run for 2016-05-20 failed with an unexpected error: OverflowError: date value out of range"
    assert messages[1] == "alert run for 2016-05-20 failed: the database is not reachable"
    assert messages[2].startswith("alert run for 2016-05-20 failed with an unexpected error: KeyError")
    assert messages[3] == "2 deliveries failed; they will be retried: hook: HTTP 500"
