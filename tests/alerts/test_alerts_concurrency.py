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
from engine.errors import LeaseLost
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
    """Expiry is the database's: a runner whose own clock says "an hour later" still waits."""
    store = SqlAlertStore(Database(demo_url))
    lease, holder, _ = store.acquire("alerts", "crashed-process", dt.timedelta(seconds=1.5))
    assert lease is not None and holder == "crashed-process" and lease.epoch == 1
    text = webhook_channel(webhook) + "[scheduler]\nlease_seconds = 60\n"

    ahead = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # noqa: E731
    blocked = make_runner(demo_url, catalog, text, ahead, owner="b").run(DEMO_AS_OF)
    assert blocked.skipped_for is not None and "crashed-process" in blocked.skipped_for
    assert webhook.requests == 0

    time.sleep(1.6)
    report = make_runner(demo_url, catalog, text, lambda: dt.datetime.now(dt.UTC), owner="b").run(DEMO_AS_OF)
    assert report.skipped_for is None and report.sent == len(demo_findings)
    assert len(webhook.alert_ids()) == len(demo_findings)
    job = store.job("alerts")
    assert job is not None and job["lease_owner"] is None  # released after the run
    assert job["lease_epoch"] == 2  # one take-over, one more epoch
    assert job["last_success_as_of"] == DEMO_AS_OF


def expire_lease(url: str) -> None:
    """Make the current lease expired by the database's clock (as if its holder stalled for long)."""
    from sqlalchemy import update

    from storage.tables import JobRow

    db = Database(url)
    with db.write() as conn:
        conn.execute(update(JobRow.__table__).values(  # type: ignore[attr-defined]
            lease_expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    db.dispose()


def test_a_run_that_lost_its_lease_stops_sending(demo_url: str, demo_findings, tmp_path: Path, catalog: Catalog) -> None:
    """A run stalled past its lease while sending its third message; another took over. The stalled
    one cannot record that third message as sent (fenced) and sends nothing more; the new holder
    sends the third again -- with the same message id -- and everything after it."""
    jsonl = tmp_path / "alerts.jsonl"
    text = file_channel(jsonl) + "[scheduler]\nlease_seconds = 60\n"
    slow = make_runner(demo_url, catalog, text, lambda: dt.datetime.now(dt.UTC), owner="stalled")
    store = SqlAlertStore(Database(demo_url))
    channel = slow.channels["file"]
    real_send = channel.send
    calls = []
    taken = []

    def send(message):  # type: ignore[no-untyped-def]
        calls.append(len(message.alerts))
        real_send(message)
        if len(calls) == 3:  # the process stalls past its lease, and another run takes the job
            expire_lease(demo_url)
            lease, _, _ = store.acquire("alerts", "other", dt.timedelta(seconds=60))
            assert lease is not None
            taken.append(lease)

    channel.send = send  # type: ignore[method-assign]
    with pytest.raises(LeaseLost, match="lost the alerts lease"):
        slow.run(DEMO_AS_OF)
    assert len(read_jsonl(jsonl)) == 3
    assert store.counts() == {"pending": len(demo_findings) - 2, "sent": 2}  # the third was never recorded
    store.release(taken[0])
    rest = make_runner(demo_url, catalog, text, lambda: dt.datetime.now(dt.UTC), owner="other").run(DEMO_AS_OF)
    assert rest.sent == len(demo_findings) - 2
    lines = read_jsonl(jsonl)
    assert len(lines) == len(demo_findings) + 1 and len({a["alert_id"] for a in lines}) == len(demo_findings)
    [repeat] = [a for a in lines if sum(b["alert_id"] == a["alert_id"] for b in lines) == 2][:1]
    twice = [a["message_id"] for a in lines if a["alert_id"] == repeat["alert_id"]]
    assert twice[0] == twice[1] and twice[0].startswith("dongflow-")  # the receiver can tell it is a repeat


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
        for again in more:  # the repeated message is the same digest, with the same Message-ID
            assert again.message.get_body(("plain",)).get_content() == first.message.get_body(("plain",)).get_content()
            assert again.message["Message-ID"] == first.message["Message-ID"]
    ids = [r.message["Message-ID"] for r in server.received]
    assert len(set(ids)) == len(districts)  # one id per digest: a receiver dedupes the repeat by it
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
