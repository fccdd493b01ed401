"""Fencing, isolation and receiver-side dedupe ids, with real servers on 127.0.0.1.

* the lease's expiry is the database's clock, and every take-over raises its epoch; a write with an
  old epoch changes nothing;
* a runner paused (SIGSTOP) past its lease while a second takes over, then resumed: it records
  nothing and sends nothing more; the one message it had in flight is repeated by the second under
  the same Idempotency-Key, so no alert is delivered twice to a receiver that dedupes;
* kill -9 between a webhook's send and its record: the repeat carries the same Idempotency-Key;
* a webhook down for 60 consecutive nightly runs never stops the file and e-mail channels, and its
  attempt count never overflows the backoff.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from alertkit import (
    DEMO_AS_OF,
    SmtpServer,
    Webhook,
    add_projects,
    build_project,
    cli_env,
    dongflow_cmd,
    file_channel,
    make_runner,
    read_jsonl,
    webhook_channel,
    write_config,
)

from engine.alerting import RETRY_MAX, next_attempt
from engine.catalog import Catalog
from engine.errors import LeaseLost
from storage.alerts import SqlAlertStore
from storage.db import Database

D = dt.date


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def deliveries_by_key(hook: Webhook) -> dict[str, list[int]]:
    """Idempotency-Key -> alert ids of each accepted request (a repeat appears under its key twice)."""
    out: dict[str, list[int]] = {}
    for headers, body in zip(hook.headers, hook.bodies):
        key = headers["Idempotency-Key"]
        ids = [a["alert_id"] for a in body["alerts"]]
        assert out.setdefault(key, ids) == ids, "the same key carried different alerts"
    return out


def test_backoff_after_any_number_of_failures_is_bounded() -> None:
    t = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert next_attempt(1, t) - t == dt.timedelta(minutes=5)
    for attempts in (9, 40, 41, 64, 1_000, 2**31 - 1, 10**18):
        assert next_attempt(attempts, t) - t == RETRY_MAX


def test_the_lease_is_the_databases_and_an_old_epoch_writes_nothing(
    demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog
) -> None:
    """Two runners whose clocks are minutes apart: the one ahead cannot take a lease the database
    says is still valid; a take-over raises the epoch; the old holder's writes are refused."""
    webhook.hold = threading.Event()
    text = webhook_channel(webhook, timeout=20) + "[scheduler]\nlease_seconds = 60\n"
    behind = make_runner(demo_url, catalog, text, lambda: now() - dt.timedelta(minutes=7), owner="behind")
    ahead = make_runner(demo_url, catalog, text, lambda: now() + dt.timedelta(minutes=7), owner="ahead")
    reports = {}
    thread = threading.Thread(target=lambda: reports.setdefault("behind", behind.run(DEMO_AS_OF)))
    thread.start()
    try:
        assert webhook.arrived.acquire(timeout=20)  # "behind" is sending, its lease taken at the database's now
        skipped = ahead.run(DEMO_AS_OF)  # 7 minutes ahead: by its own clock the lease would have expired
        assert skipped.skipped_for is not None and "behind" in skipped.skipped_for
    finally:
        webhook.hold.set()
        thread.join(timeout=60)
    assert reports["behind"].sent == len(demo_findings)
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == len(demo_findings)

    store = SqlAlertStore(Database(demo_url))
    old, _, _ = store.acquire("alerts", "old", dt.timedelta(seconds=1))
    assert old is not None and old.epoch == 2
    time.sleep(1.2)
    new, _, _ = store.acquire("alerts", "new", dt.timedelta(seconds=60))
    assert new is not None and new.epoch == 3
    [some] = store.listing("sent", limit=1)
    before = store.counts()
    with pytest.raises(LeaseLost):
        store.mark_failed([some], "late", now(), old)
    with pytest.raises(LeaseLost):
        store.claim(old, [some], now())
    with pytest.raises(LeaseLost):
        store.mark_sent([some.id], now(), old)
    assert store.counts() == before
    assert not store.renew(old) and store.renew(new)


@pytest.mark.slow
def test_a_runner_paused_past_its_lease_then_resumed_delivers_nothing_twice(
    demo_url: str, demo_findings, webhook: Webhook, tmp_path: Path
) -> None:
    webhook.delay = 0.3
    config = write_config(tmp_path / "config.toml", webhook_channel(webhook, timeout=1) + "[scheduler]\nlease_seconds = 2\n")
    env = cli_env(demo_url, tmp_path)
    cmd = [*dongflow_cmd(), "alerts", "run", "--as-of", DEMO_AS_OF.isoformat(), "--config", str(config)]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert webhook.arrived.acquire(timeout=30) and webhook.arrived.acquire(timeout=30)  # its second message
        os.kill(first.pid, signal.SIGSTOP)  # paused with the second request in flight
        time.sleep(2.5)  # past its lease, by the database's clock
        webhook.delay = 0.0
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "skipped" not in second.stdout
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 6, (out, err)  # a conflict: it lost the lease
    assert err.startswith("Error: lost the alerts lease") and len(err.strip().splitlines()) == 1

    by_key = deliveries_by_key(webhook)
    alert_keys: dict[int, set[str]] = defaultdict(set)
    for key, ids in by_key.items():
        for i in ids:
            alert_keys[i].add(key)
    assert set(alert_keys) == {i for i in alert_keys} and len(alert_keys) == len(demo_findings)
    assert all(len(keys) == 1 for keys in alert_keys.values()), "an alert went out under two ids"
    keys_on_the_wire = [h["Idempotency-Key"] for h in webhook.headers]
    repeated = {k for k in keys_on_the_wire if keys_on_the_wire.count(k) > 1}
    assert len(repeated) <= 1  # at most the one message in flight when it was paused
    assert SqlAlertStore(Database(demo_url)).counts() == {"sent": len(demo_findings)}


@pytest.mark.slow
def test_killed_between_send_and_record_the_repeat_has_the_same_idempotency_key(
    demo_url: str, demo_findings, webhook: Webhook, tmp_path: Path
) -> None:
    webhook.hold = threading.Event()
    config = write_config(tmp_path / "config.toml", webhook_channel(webhook, timeout=1) + "[scheduler]\nlease_seconds = 2\n")
    env = cli_env(demo_url, tmp_path)
    cmd = [*dongflow_cmd(), "alerts", "run", "--as-of", DEMO_AS_OF.isoformat(), "--config", str(config)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert webhook.arrived.acquire(timeout=30)  # the first request has arrived, unanswered
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        webhook.hold.set()
    time.sleep(0.3)  # the held request is recorded as accepted: the server got it, the client never knew
    assert len(webhook.bodies) == 1
    deadline = time.monotonic() + 20
    while True:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        if not done.stdout.strip().splitlines()[-1].startswith("skipped:"):
            break
        assert time.monotonic() < deadline, "the killed process's lease never expired"
        time.sleep(0.5)
    keys = [h["Idempotency-Key"] for h in webhook.headers]
    assert keys[0] == keys[1] and keys.count(keys[0]) == 2  # the repeat, recognisable by its key
    assert webhook.bodies[0]["alerts"] == webhook.bodies[1]["alerts"]
    assert len(set(keys)) == len(by := deliveries_by_key(webhook))
    assert sorted(i for ids in by.values() for i in ids) == sorted({i for ids in by.values() for i in ids})
    assert len({i for ids in by.values() for i in ids}) == len(demo_findings)


@pytest.mark.slow
def test_a_webhook_down_for_60_nights_never_stops_file_and_email(
    initialised_url: str, catalog: Catalog, webhook: Webhook, plain_smtp_server: SmtpServer, tmp_path: Path
) -> None:
    if initialised_url.startswith("postgresql"):
        pytest.skip("60 nights on SQLite only (isolation does not depend on the backend; every other fault test runs on both)")
    """Sixty nightly runs with the webhook answering 500: every night the file and the e-mail
    channels deliver that night's new alerts, the webhook's deliveries keep failing (attempt counts
    far past the old overflow at ~40), every run ends normally; when it is back, each alert reaches
    it once."""
    items = [
        build_project(catalog, f"2016-종로구-동{i}", "종로구", f"동{i}", created=D(2016, 1, 4),
                      steps=[("agree", D(2016, 2, 1) + dt.timedelta(days=9 * i))][: i % 2])
        for i in range(6)
    ]
    add_projects(initialised_url, catalog, items)
    jsonl = tmp_path / "alerts.jsonl"
    server = plain_smtp_server
    text = (file_channel(jsonl) + webhook_channel(webhook, timeout=1)
            + f'[[channels]]\nname = "email"\ntype = "email"\nhost = "{server.host}"\nport = {server.port}\n'
              f'security = "none"\nsender = "dongflow@seoul.example"\ntimeout = 2\n'
              '[[channels.recipients]]\naddress = "office@seoul.example"\n'
            + "[lifecycle]\nremind_every = {}\nescalate_after = 0\n")
    webhook.status = 500
    start = D(2016, 2, 1)
    clock0 = dt.datetime(2030, 1, 1, 17, tzinfo=dt.UTC)
    total_new = 0
    first_night: int | None = None
    began = time.monotonic()
    moment = [clock0]
    runner = make_runner(initialised_url, catalog, text, lambda: moment[0])
    for night in range(60):
        assert time.monotonic() - began < 120, "sixty nights took too long"
        moment[0] = clock0 + dt.timedelta(days=night)
        report = runner.run(start + dt.timedelta(days=night))
        total_new += report.new_alerts
        if total_new and first_night is None:
            first_night = night
        assert report.skipped_for is None
        assert all(e.startswith("hook: ") for e in report.errors), report.errors
        file_ids = [a["alert_id"] for a in read_jsonl(jsonl)]
        assert len(file_ids) == len(set(file_ids)) == total_new  # the file got everything, every night
        mailed = sum(len([ln for ln in r.message.get_body(("plain",)).get_content().splitlines() if ln.startswith("- [")])
                     for r in server.received)
        assert mailed == total_new  # and so did the e-mail
    store = SqlAlertStore(Database(initialised_url))
    failed = store.listing("failed")
    assert total_new > 5 and len(failed) == total_new
    assert first_night is not None
    assert max(d.attempts for d in failed) == 60 - first_night > 40  # failed every night since; no overflow
    webhook.status = 200
    report = make_runner(initialised_url, catalog, text, lambda: clock0 + dt.timedelta(days=61)).run(start + dt.timedelta(days=59))
    assert report.failed == 0
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == total_new


def test_an_unexpected_error_in_one_message_is_recorded_on_it_and_the_others_go(
    demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog, tmp_path: Path
) -> None:
    """A bug that breaks one message (here: the first webhook batch) fails that message's
    deliveries with the error; the channel's other messages and the other channels still go."""
    text = webhook_channel(webhook) + file_channel(tmp_path / "a.jsonl")
    runner = make_runner(demo_url, catalog, text, now)
    hook = runner.channels["hook"]
    real = hook.send
    calls = []

    def flaky(message):  # type: ignore[no-untyped-def]
        calls.append(message)
        if len(calls) == 1:
            raise KeyError("surprise")
        real(message)

    hook.send = flaky  # type: ignore[method-assign]
    report = runner.run(DEMO_AS_OF)
    first = len(calls[0].alerts)
    assert report.failed == first and report.sent == 2 * len(demo_findings) - first
    assert report.errors == ["hook: internal error in channel hook: KeyError: 'surprise'"]
    failed = SqlAlertStore(Database(demo_url)).listing("failed")
    assert {d.alert_id for d in failed} == {a.id for a in calls[0].alerts}
    assert all("KeyError" in (d.last_error or "") for d in failed)
