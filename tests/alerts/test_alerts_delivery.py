"""Alerts that arrive exactly once, through real channels on loopback.

Every test here runs on SQLite and on PostgreSQL (``db_url``), against the demo portfolio as of
2016-05-20, and checks what the servers actually received: JSON-lines written, e-mails accepted by
an aiosmtpd server with STARTTLS and AUTH, POST bodies recorded by an HTTP server.
"""

from __future__ import annotations

import datetime as dt
import email.header
import email.policy
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from alertkit import (
    DEMO_AS_OF,
    SMTP_PASSWORD,
    SMTP_USER,
    Cert,
    SmtpServer,
    Webhook,
    email_channel,
    file_channel,
    make_runner,
    read_jsonl,
    webhook_channel,
    write_config,
)
from click.testing import CliRunner

from cli import cli
from engine.alerting import digest_subject
from engine.catalog import Catalog
from storage.alerts import SqlAlertStore
from storage.db import Database

PASSWORD_ENV = "DONGFLOW_TEST_SMTP_PASSWORD"
COORDINATOR_QUIET = "coordinator@gangnam.example"  # 강남구 has no project in the demo, so nothing late
COORDINATOR_MP = "coordinator@mapo.example"
COORDINATOR_JR = "coordinator@jongno.example"
OFFICE = "office@seoul.example"
LINE = re.compile(r"^- \[(?P<level>[^\]]+)\] (?P<gu>\S+) (?P<dong>\S+) \((?P<key>[^)]+)\): (?P<rest>.*)$")


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def alerts_run(url: str, config: Path, as_of: dt.date = DEMO_AS_OF) -> tuple[int, str, str]:
    return run_cli("--db", url, "alerts", "run", "--as-of", as_of.isoformat(), "--config", str(config))


def alert_rows(url: str) -> list[tuple]:
    from sqlalchemy import select

    from storage.tables import AlertRow

    db = Database(url)
    try:
        with db.read() as conn:
            t = AlertRow.__table__  # type: ignore[attr-defined]
            return [tuple(r) for r in conn.execute(select(t.c.id, t.c.project_id, t.c.milestone, t.c.level))]
    finally:
        db.dispose()


def digest_lines(message) -> list[dict[str, str]]:
    body = message.get_body(("plain",)).get_content()
    return [m.groupdict() for line in body.splitlines() if (m := LINE.match(line))]


def by_gu(findings) -> Counter:
    return Counter(row.gu for row, _ in findings)


# -- dedup -----------------------------------------------------------------------------------------


def test_rerunning_the_same_day_and_the_next_sends_nothing_twice(
    demo_url: str, demo_findings, tmp_path: Path, smtp_server: SmtpServer, tls_cert: Cert,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "config.toml", file_channel(jsonl) + email_channel(
        smtp_server, tls_cert, [(COORDINATOR_MP, ["마포구"]), (OFFICE, [])]))
    expected = len(demo_findings)
    assert expected > 50  # the demo has plenty to say on 20 May 2016

    code, out, err = alerts_run(demo_url, config)
    assert code == 0, err
    assert f"{expected} new alerts" in out
    lines = read_jsonl(jsonl)
    assert len(lines) == expected
    assert len(smtp_server.received) == 2  # one digest per recipient
    assert len(alert_rows(demo_url)) == expected

    for _ in range(2):  # the same day again, twice
        code, out, _ = alerts_run(demo_url, config)
        assert code == 0
        assert "0 new alerts (0 deliveries); sent 0" in out
    assert len(read_jsonl(jsonl)) == expected
    assert len(smtp_server.received) == 2

    # The next day: what was already reported is not reported again; only new (project, milestone,
    # level) combinations are (an overdue milestone can cross the escalation threshold overnight).
    code, out, _ = alerts_run(demo_url, config, DEMO_AS_OF + dt.timedelta(days=1))
    assert code == 0
    after = read_jsonl(jsonl)
    idents = [(a["key"], a["milestone"], a["level"]) for a in after]
    assert len(idents) == len(set(idents)), "an alert was written twice"
    assert len({a["alert_id"] for a in after}) == len(after)
    rows = alert_rows(demo_url)
    assert len({(p, m, lv) for _, p, m, lv in rows}) == len(rows) == len(after)
    new_next_day = len(after) - expected
    assert f"{new_next_day} new alerts" in out
    # Each alert reached the office at most once over all runs.
    office_alerts = [(d["key"], d["rest"]) for r in smtp_server.to(OFFICE) for d in digest_lines(r.message)]
    assert len(office_alerts) == len(set(office_alerts)) == len(after)
    assert len(smtp_server.to(OFFICE)) == (2 if new_next_day else 1)

    code, out, _ = alerts_run(demo_url, config, DEMO_AS_OF + dt.timedelta(days=1))
    assert "0 new alerts (0 deliveries); sent 0" in out
    assert len(read_jsonl(jsonl)) == len(after)


def test_dry_run_writes_and_sends_nothing(demo_url: str, demo_findings, tmp_path: Path) -> None:
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "config.toml", file_channel(jsonl))
    code, out, _ = run_cli("--db", demo_url, "alerts", "run", "--as-of", "2016-05-20", "--dry-run",
                           "--config", str(config))
    assert code == 0
    assert out.count("would alert:") == len(demo_findings)
    assert not jsonl.exists()
    assert alert_rows(demo_url) == []


# -- SMTP ------------------------------------------------------------------------------------------


def test_email_digests_over_starttls_with_auth_by_district(
    demo_url: str, demo_findings, tmp_path: Path, smtp_server: SmtpServer, tls_cert: Cert,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    recipients = [(COORDINATOR_MP, ["마포구"]), (COORDINATOR_JR, ["종로구"]), (COORDINATOR_QUIET, ["강남구"]), (OFFICE, [])]
    config = write_config(tmp_path / "config.toml", email_channel(smtp_server, tls_cert, recipients))
    counts = by_gu(demo_findings)
    assert counts["마포구"] and counts["종로구"] and not counts["강남구"]

    code, out, err = alerts_run(demo_url, config)
    assert code == 0, err
    assert f"sent {counts['마포구'] + counts['종로구'] + len(demo_findings)}, failed 0" in out

    # One message per recipient with alerts (none for 강남구, which has nothing late), each over TLS
    # and after a successful login with the password from the environment.
    assert sorted(a for r in smtp_server.received for a in r.rcpt_tos) == sorted([COORDINATOR_MP, COORDINATOR_JR, OFFICE])
    assert all(r.tls and r.login == SMTP_USER for r in smtp_server.received)
    assert {mech for mech, _ in smtp_server.logins} <= {"PLAIN", "LOGIN"}

    for address, gu in ((COORDINATOR_MP, "마포구"), (COORDINATOR_JR, "종로구")):
        [received] = smtp_server.to(address)
        msg = received.message
        lines = digest_lines(msg)
        assert {d["gu"] for d in lines} == {gu}, "a coordinator got another district's alerts"
        assert len(lines) == counts[gu]
        # The subject is RFC 2047 encoded on the wire and decodes to the Korean text.
        raw_subject = re.search(rb"^Subject: (.*(?:\r?\n[ \t].*)*)", received.raw, re.MULTILINE)
        assert raw_subject is not None
        assert raw_subject.group(1).isascii()
        decoded = "".join(
            part.decode(charset or "ascii") if isinstance(part, bytes) else part
            for part, charset in email.header.decode_header(raw_subject.group(1).decode("ascii"))
        )
        assert decoded == f"[dongflow] {gu}: 공간개선 일정 경보 {counts[gu]}건 (2016-05-20)"
        assert msg["Subject"] == decoded
        assert msg["To"] == address and msg["From"] == "dongflow@seoul.example"

    [office] = smtp_server.to(OFFICE)
    msg = office.message
    body_part = msg.get_body(("plain",))
    assert body_part.get_content_charset() == "utf-8"
    body = body_part.get_content()
    assert body.startswith(f"dongflow 공간개선 일정 경보 {len(demo_findings)}건입니다.")
    assert len(digest_lines(msg)) == len(demo_findings)
    assert {(d["key"]) for d in digest_lines(msg)} == {row.key for row, _ in demo_findings}
    assert "기한 경과(상향 보고)" in body and "준공 지연 우려" in body
    districts = len({row.gu for row, _ in demo_findings})
    assert msg["Subject"] == f"[dongflow] {districts}개 구: 공간개선 일정 경보 {len(demo_findings)}건 (2016-05-20)"
    # The transfer-decoded bytes are valid UTF-8 (not a legacy Korean charset).
    body_part.get_payload(decode=True).decode("utf-8")


def test_email_refused_login_and_unverified_certificate_fail_the_channel_only(
    demo_url: str, demo_findings, tmp_path: Path, smtp_server: SmtpServer, tls_cert: Cert, catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong password")
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "config.toml", file_channel(jsonl) + email_channel(
        smtp_server, tls_cert, [(OFFICE, [])]))
    code, _, err = alerts_run(demo_url, config)
    assert code == 8
    assert "SMTP 127.0.0.1" in err and "535" in err
    assert len(read_jsonl(jsonl)) == len(demo_findings)  # the file channel still got everything
    assert smtp_server.received == []

    # Without the CA file the self-signed certificate is not trusted: refused, not sent in the clear.
    monkeypatch.setenv(PASSWORD_ENV, SMTP_PASSWORD)
    config = write_config(tmp_path / "config2.toml", file_channel(jsonl) + email_channel(
        smtp_server, tls_cert, [(OFFICE, [])], ca_file=False))
    store = SqlAlertStore(Database(demo_url))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    report = make_runner(demo_url, catalog, config.read_text(), lambda: later).run(DEMO_AS_OF)
    assert report.failed == len(demo_findings) and report.sent == 0
    assert "CERTIFICATE_VERIFY_FAILED" in report.errors[0] or "certificate verify failed" in report.errors[0]
    assert smtp_server.received == []
    failed = store.listing("failed")
    assert {d.attempts for d in failed} == {2}


def test_every_district_subject_decodes_exactly() -> None:
    """Long Korean subjects are folded into several RFC 2047 words; no space may be lost at a fold
    (Python 3.11's default e-mail policy lost the one in '일정 경보' for 동대문구, 서대문구, 영등포구)."""
    import csv
    from importlib.resources import files

    from engine.alerting import AlertView
    from notify.channels import EmailChannel
    from notify.config import ChannelConfig

    rows = csv.DictReader(files("programme").joinpath("data/seoul-dongs-2016.csv").read_text(encoding="utf-8-sig").splitlines())
    districts = sorted({r["gu"] for r in rows})
    assert len(districts) == 25
    channel = EmailChannel(ChannelConfig(name="email", type="email", host="h", sender="dongflow@seoul.example"), "ko")
    now = dt.datetime(2016, 5, 20, tzinfo=dt.UTC)
    for gu in districts:
        for n in (1, 12, 345):
            alerts = [AlertView(i, f"2016-{gu}-동{i}", gu, f"동{i}", "completed", "준공", "at_risk", DEMO_AS_OF, 3,
                                "이유", DEMO_AS_OF, now) for i in range(n)]
            raw = channel.message(f"{gu}@seoul.example", alerts, "1.abc").as_bytes()
            assert raw.isascii()
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert parsed["Subject"] == digest_subject(alerts) == f"[dongflow] {gu}: 공간개선 일정 경보 {n}건 (2016-05-20)"
            assert parsed.get_body(("plain",)).get_content().count(f"] {gu} 동") == n


# -- webhook ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["http500", "timeout"])
def test_webhook_down_then_up_delivers_each_alert_exactly_once(
    demo_url: str, demo_findings, tmp_path: Path, webhook: Webhook, catalog: Catalog, failure: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DONGFLOW_TEST_WEBHOOK_URL", webhook.url)
    jsonl = tmp_path / "alerts.jsonl"
    text = file_channel(jsonl) + webhook_channel(webhook, timeout=0.5, url_env="DONGFLOW_TEST_WEBHOOK_URL")
    config = write_config(tmp_path / "config.toml", text)
    expected = len(demo_findings)
    webhook.status = 500
    if failure == "timeout":
        webhook.delay = 1.5  # longer than the 0.5 s timeout (and then no acceptance either: a server
        # that accepts after the client gave up would rightly get the alerts again on the retry)

    code, out, err = alerts_run(demo_url, config)
    assert code == 8, (out, err)
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1
    why = "HTTP 500" if failure == "http500" else "timed out"
    assert why in err and "alerts list --failed" in err
    assert "/hooks/dongflow" not in err  # the URL's path (its secret) is not printed
    assert f"sent {expected}, failed {expected}" in out  # the file channel was delivered in the same run
    assert len(read_jsonl(jsonl)) == expected
    assert webhook.bodies == []
    assert webhook.requests == 1  # the first batch failed; the rest of the channel waits for the retry

    code, out, _ = run_cli("--db", demo_url, "alerts", "list", "--failed", "--json")
    assert code == 0
    failed = json.loads(out)
    assert len(failed) == expected
    assert {d["channel"] for d in failed} == {"hook"}
    assert all(why in d["last_error"] and d["attempts"] == 1 for d in failed)
    code, out, _ = run_cli("--db", demo_url, "alerts", "list", "--failed")
    assert why in out

    # The server is back, but the backoff (5 minutes after the first failure) has not passed.
    webhook.status, webhook.delay = 200, 0.0
    code, out, _ = alerts_run(demo_url, config)
    assert code == 0 and "sent 0, failed 0" in out
    assert webhook.bodies == []

    # After the backoff: every failed alert is delivered, once.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    report = make_runner(demo_url, catalog, text, lambda: later).run(DEMO_AS_OF)
    assert (report.sent, report.failed) == (expected, 0)
    ids = webhook.alert_ids()
    assert len(ids) == len(set(ids)) == expected
    assert [len(b["alerts"]) for b in webhook.bodies] == [50] * (expected // 50) + ([expected % 50] if expected % 50 else [])
    body = webhook.bodies[0]
    assert isinstance(body["text"], str) and "공간개선 일정 경보 50건" in body["text"]  # Slack reads "text"
    assert set(body["alerts"][0]) >= {"alert_id", "key", "gu", "dong", "milestone", "level", "due", "days", "reason"}
    assert webhook.headers[0]["Content-Type"].startswith("application/json")
    code, out, _ = run_cli("--db", demo_url, "alerts", "list", "--failed", "--json")
    assert json.loads(out) == []
    sent = json.loads(run_cli("--db", demo_url, "alerts", "list", "--sent", "--json")[1])
    assert len([d for d in sent if d["channel"] == "hook" and d["attempts"] == 2]) == expected

    # And never again.
    report = make_runner(demo_url, catalog, text, lambda: later + dt.timedelta(days=1)).run(DEMO_AS_OF)
    assert report.sent == 0
    assert len(webhook.alert_ids()) == expected
    assert len(read_jsonl(jsonl)) == expected


def test_backoff_grows_after_each_failure(demo_url: str, demo_findings, webhook: Webhook, catalog: Catalog) -> None:
    webhook.status = 503
    text = webhook_channel(webhook)
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    store = SqlAlertStore(Database(demo_url))
    waits = []
    now = start
    for attempt in range(1, 5):
        report = make_runner(demo_url, catalog, text, lambda: now).run(DEMO_AS_OF)
        assert report.failed == len(demo_findings)
        [first, *_] = store.listing("failed")
        assert first.attempts == attempt and "HTTP 503" in (first.last_error or "")
        waits.append(first.next_attempt_at - now)
        now = first.next_attempt_at
    assert waits == [dt.timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert webhook.requests == 4  # one refused request per run, not one per alert


# -- secrets and channel configuration at run time ---------------------------------------------------


def test_a_missing_secret_fails_that_channel_not_the_run(
    demo_url: str, demo_findings, tmp_path: Path, smtp_server: SmtpServer, tls_cert: Cert, webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DONGFLOW_TEST_UNSET_PASSWORD", raising=False)
    monkeypatch.delenv("DONGFLOW_TEST_UNSET_URL", raising=False)
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(
        tmp_path / "config.toml",
        file_channel(jsonl)
        + email_channel(smtp_server, tls_cert, [(OFFICE, [])], password_env="DONGFLOW_TEST_UNSET_PASSWORD")
        + webhook_channel(webhook, url_env="DONGFLOW_TEST_UNSET_URL"),
    )
    code, out, err = alerts_run(demo_url, config)
    assert code == 8
    assert "DONGFLOW_TEST_UNSET_PASSWORD is not set" in err and "DONGFLOW_TEST_UNSET_URL is not set" in err
    assert len(read_jsonl(jsonl)) == len(demo_findings)
    assert smtp_server.received == [] and webhook.requests == 0
    failed = json.loads(run_cli("--db", demo_url, "alerts", "list", "--failed", "--json")[1])
    assert {d["channel"] for d in failed} == {"email", "hook"}
    assert len(failed) == 2 * len(demo_findings)


def test_an_unexpected_error_in_one_channel_does_not_stop_the_others(
    demo_url: str, demo_findings, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from notify.channels import WebhookChannel

    def broken(self, message):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(WebhookChannel, "send", broken)
    jsonl = tmp_path / "alerts.jsonl"
    config = write_config(tmp_path / "config.toml", webhook_channel(webhook) + file_channel(jsonl))
    code, out, err = alerts_run(demo_url, config)
    assert code == 8 and "internal error in channel hook: RuntimeError: boom" in err
    assert len(read_jsonl(jsonl)) == len(demo_findings)
    failed = json.loads(run_cli("--db", demo_url, "alerts", "list", "--failed", "--json")[1])
    assert len(failed) == len(demo_findings) and {d["channel"] for d in failed} == {"hook"}
