"""Two alert runs at once, a lease that expires, and a process killed while it is sending.

Each test runs on SQLite and PostgreSQL. The channels are slowed down on the server side, so the
runs really overlap: the question is never "did the second one start too late to matter".
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from alertkit import (
    DEMO_AS_OF,
    SmtpServer,
    Webhook,
    cli_env,
    dongflow_cmd,
    file_channel,
    make_runner,
    read_jsonl,
    webhook_channel,
    write_config,
)

from engine.catalog import Catalog
from engine.errors import DongflowError
from storage.alerts import SqlAlertStore
from storage.db import Database

T0 = dt.datetime(2030, 1, 1, 3, 0, tzinfo=dt.UTC)


def test_a_second_runner_skips_while_the_first_holds_the_lease(
    demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog
) -> None:
    webhook.delay = 0.3
    text = webhook_channel(webhook)
    now = dt.datetime.now(dt.UTC)
    first = make_runner(demo_url, catalog, text, lambda: now, owner="scheduler-a")
    second = make_runner(demo_url, catalog, text, lambda: now, owner="scheduler-b")
    reports = {}
    thread = threading.Thread(target=lambda: reports.setdefault("a", first.run(DEMO_AS_OF)))
    thread.start()
    assert webhook.arrived.acquire(timeout=10)  # the first run is sending now
    reports["b"] = second.run(DEMO_AS_OF)
    thread.join(timeout=30)
    assert reports["b"].skipped_for is not None and "scheduler-a" in reports["b"].skipped_for
    assert reports["b"].sent == 0 and reports["b"].new_alerts == 0
    assert reports["a"].sent == len(demo_findings)
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == len(demo_findings)
    # The lease was released at the end: the second one runs now, and has nothing to send.
    again = second.run(DEMO_AS_OF)
    assert again.skipped_for is None and again.sent == 0
    assert len(webhook.alert_ids()) == len(demo_findings)


def test_many_runners_started_together_send_each_alert_once(
    demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog, tmp_path: Path
) -> None:
    webhook.delay = 0.2
    jsonl = tmp_path / "alerts.jsonl"
    text = webhook_channel(webhook) + file_channel(jsonl)
    now = dt.datetime.now(dt.UTC)
    runners = [make_runner(demo_url, catalog, text, lambda: now, owner=f"runner-{i}") for i in range(4)]
    barrier = threading.Barrier(len(runners))
    reports: list = []
    errors: list = []

    def go(runner) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            reports.append(runner.run(DEMO_AS_OF))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sum(1 for r in reports if r.skipped_for) >= 1
    assert sum(r.new_alerts for r in reports) == len(demo_findings)
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == len(demo_findings)
    lines = read_jsonl(jsonl)
    assert len(lines) == len({a["alert_id"] for a in lines}) == len(demo_findings)


def test_two_processes_at_once_never_send_an_alert_twice(
    demo_url: str, demo_findings, webhook: Webhook, tmp_path: Path
) -> None:
    """Both start together; the webhook holds its first request until one of them has exited, so
    whichever took the lease is still sending when the other asks for it."""
    webhook.hold = threading.Event()
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "config.toml", webhook_channel(webhook, timeout=30) + file_channel(jsonl))
    env = cli_env(demo_url, tmp_path)
    cmd = [*dongflow_cmd(), "alerts", "run", "--as-of", DEMO_AS_OF.isoformat(), "--config", str(config)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "neither process finished while the other was sending"
            time.sleep(0.05)
    finally:
        webhook.hold.set()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    summaries = [out.strip().splitlines()[-1] for out, _ in outs]
    assert sum(s.startswith("skipped: another alert run") for s in summaries) == 1, summaries
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == len(demo_findings)
    assert len(read_jsonl(jsonl)) == len(demo_findings)


def test_an_abandoned_lease_blocks_until_it_expires_then_another_run_takes_over(
    demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog
) -> None:
    store = SqlAlertStore(Database(demo_url))
    ttl = dt.timedelta(seconds=60)
    taken, holder, _ = store.acquire("alerts", "crashed-process", T0, ttl)
    assert taken and holder == "crashed-process"
    text = webhook_channel(webhook) + "[scheduler]\nlease_seconds = 60\n"

    blocked = make_runner(demo_url, catalog, text, lambda: T0 + dt.timedelta(seconds=59), owner="b").run(DEMO_AS_OF)
    assert blocked.skipped_for is not None and "crashed-process" in blocked.skipped_for
    assert webhook.requests == 0

    report = make_runner(demo_url, catalog, text, lambda: T0 + dt.timedelta(seconds=61), owner="b").run(DEMO_AS_OF)
    assert report.skipped_for is None and report.sent == len(demo_findings)
    assert len(webhook.alert_ids()) == len(demo_findings)
    job = store.job("alerts")
    assert job is not None and job["lease_owner"] is None  # released after the run
    assert job["last_success_as_of"] == DEMO_AS_OF


def test_a_run_that_lost_its_lease_stops_sending(demo_url: str, demo_findings, tmp_path: Path, catalog: Catalog) -> None:
    """A run stalled longer than its lease: another took over; the stalled one must not go on sending."""
    jsonl = tmp_path / "alerts.jsonl"
    text = file_channel(jsonl) + "[scheduler]\nlease_seconds = 5\n"
    clock = [T0]
    slow = make_runner(demo_url, catalog, text, lambda: clock[0], owner="stalled")
    store = SqlAlertStore(Database(demo_url))
    channel = slow.channels["file"]
    real_send = channel.send
    calls = []

    def send(recipient, alerts):  # type: ignore[no-untyped-def]
        calls.append(len(alerts))
        real_send(recipient, alerts)
        if len(calls) == 3:  # the process stalls past its lease, and another run takes the job
            clock[0] = T0 + dt.timedelta(seconds=30)
            assert store.acquire("alerts", "other", clock[0], dt.timedelta(seconds=5))[0]

    channel.send = send  # type: ignore[method-assign]
    with pytest.raises(DongflowError, match="lost the alert lease"):
        slow.run(DEMO_AS_OF)
    assert len(read_jsonl(jsonl)) == 3
    store.release("alerts", "other")
    rest = make_runner(demo_url, catalog, text, lambda: T0 + dt.timedelta(minutes=1), owner="other").run(DEMO_AS_OF)
    assert rest.sent == len(demo_findings) - 3
    lines = read_jsonl(jsonl)
    assert len(lines) == len({a["alert_id"] for a in lines}) == len(demo_findings)


def test_a_process_killed_while_sending_loses_nothing_and_repeats_at_most_one_message(
    demo_url: str, demo_findings, tmp_path: Path, plain_smtp_server: SmtpServer
) -> None:
    """kill -9 during the fifth e-mail: the four before it were recorded as sent, the fifth was not,
    so the next run sends it (the only possible repeat) and everything after it."""
    server = plain_smtp_server
    server.delay = 0.4
    districts = sorted({row.gu for row, _ in demo_findings})
    assert len(districts) >= 8
    recipients = "".join(f'[[channels.recipients]]\naddress = "gu{i}@seoul.example"\ndistricts = ["{gu}"]\n'
                         for i, gu in enumerate(districts))
    config = write_config(tmp_path / "config.toml", f"""\
[scheduler]
lease_seconds = 5

[[channels]]
name = "email"
type = "email"
host = "{server.host}"
port = {server.port}
security = "none"
sender = "dongflow@seoul.example"
timeout = 2
{recipients}""")
    env = cli_env(demo_url, tmp_path)
    cmd = [*dongflow_cmd(), "alerts", "run", "--as-of", DEMO_AS_OF.isoformat(), "--config", str(config)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(5):
            assert server.arrived.acquire(timeout=30), "the run did not get to the fifth message"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    server.delay = 0.0
    assert len(server.received) == 5  # the fifth was kept by the server, but never confirmed to the client

    # The dead process still holds the lease until it expires (5 s after its last renewal).
    deadline = time.monotonic() + 15
    while True:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        if not done.stdout.strip().splitlines()[-1].startswith("skipped:"):
            break
        assert time.monotonic() < deadline, "the lease of the killed process never expired"
        time.sleep(0.5)

    expected = Counter(row.gu for row, _ in demo_findings)
    per_recipient = Counter(a for r in server.received for a in r.rcpt_tos)
    assert set(per_recipient) == {f"gu{i}@seoul.example" for i in range(len(districts))}, "a digest was lost"
    repeats = {a: n for a, n in per_recipient.items() if n > 1}
    assert list(repeats.values()) == [2], per_recipient  # only the message in flight was sent again
    for i, gu in enumerate(districts):
        [first, *more] = server.to(f"gu{i}@seoul.example")
        assert f"공간개선 일정 경보 {expected[gu]}건" in first.message["Subject"]
        for again in more:  # the repeated message is the same digest
            assert again.message.get_body(("plain",)).get_content() == first.message.get_body(("plain",)).get_content()
    store = SqlAlertStore(Database(demo_url))
    assert store.counts() == {"sent": len(demo_findings)}


def test_two_runs_of_the_same_runner_at_once_do_not_both_send(
    demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog
) -> None:
    """The scheduler's catch-up job and its nightly job share one runner (one process); if they
    overlap (started just before the nightly time, or a long catch-up) the second must skip."""
    webhook.delay = 0.3
    now = dt.datetime.now(dt.UTC)
    runner = make_runner(demo_url, catalog, webhook_channel(webhook), lambda: now, owner="one-process")
    reports = {}
    thread = threading.Thread(target=lambda: reports.setdefault("catch-up", runner.run(DEMO_AS_OF)))
    thread.start()
    assert webhook.arrived.acquire(timeout=10)
    reports["nightly"] = runner.run(DEMO_AS_OF)
    thread.join(timeout=30)
    assert reports["nightly"].skipped_for is not None
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == len(demo_findings)
