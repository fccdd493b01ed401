"""The alert lifecycle over a simulated month of nightly runs (``--as-of`` each day of March 2016),
on SQLite and PostgreSQL: reminders every N business days, escalation to the programme office
after M, acknowledgement, snooze, resolution with a notice, and a digest for a recipient added
later. The expected days are worked out by hand from the calendar (1 March is a holiday).

The 2016 cohort's ``agreement_signed`` is due 22 Feb; more than 14 days late (escalated) from 8 March.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alertkit import add_projects, build_project, make_runner, read_jsonl
from click.testing import CliRunner

from cli import cli
from engine.catalog import Catalog
from notify.service import AlertService
from storage.db import Database
from support import dump

D = dt.date
OFFICE_RULES = """
[lifecycle]
remind_every = { escalated = 3 }
escalate_after = 5
resolved_notice = true

[[lifecycle.office]]
channel = "office"
"""


def channels(tmp: Path, late: bool = False) -> str:
    text = (f'[[channels]]\nname = "jongno"\ntype = "file"\npath = "{tmp / "jongno.jsonl"}"\ndistricts = ["종로구"]\n'
            f'[[channels]]\nname = "office"\ntype = "file"\npath = "{tmp / "office.jsonl"}"\nlevels = ["escalated"]\n')
    if late:
        text += f'[[channels]]\nname = "mapo"\ntype = "file"\npath = "{tmp / "mapo.jsonl"}"\ndistricts = ["마포구"]\n'
    return text + OFFICE_RULES


def the_alert(service: AlertService, key: str) -> int:
    [found] = [a.id for a in service.list("test") if a.key == key and a.milestone == "agreement_signed" and a.level == "escalated"]
    return found


def days_of(service: AlertService, alert_id: int, kind: str) -> list[D]:
    return [e.as_of for e in service.show("test", alert_id).events if e.kind == kind]


@pytest.mark.slow
def test_a_month_of_nightly_runs(initialised_url: str, catalog: Catalog, tmp_path: Path) -> None:
    def project(key: str, gu: str, steps=()):  # type: ignore[no-untyped-def]
        return build_project(catalog, key, gu, key.rsplit("-", 1)[-1], created=D(2016, 1, 4), steps=list(steps))

    add_projects(initialised_url, catalog, [
        project("2016-종로구-가", "종로구"),                                  # nobody reacts
        project("2016-마포구-나", "마포구"),                                  # acknowledged on 10 March
        project("2016-종로구-다", "종로구", [("agree", D(2016, 3, 15))]),     # milestone met on 15 March
        project("2016-종로구-라", "종로구"),                                  # snoozed until 21 March
    ])
    service = AlertService(Database(initialised_url), lambda: dt.datetime.now(dt.UTC))
    moment = [dt.datetime(2016, 3, 1, tzinfo=dt.UTC)]
    runners = {late: make_runner(initialised_url, catalog, channels(tmp_path, late), lambda: moment[0]) for late in (False, True)}
    day = D(2016, 3, 1)
    while day <= D(2016, 3, 31):
        if day == D(2016, 3, 10):
            service.acknowledge("김주무관", the_alert(service, "2016-마포구-나"), "주민협의 일정 확정")
        if day == D(2016, 3, 9):
            service.snooze("이팀장", the_alert(service, "2016-종로구-라"), "2016-03-21", "구청 예산 심의 후 재개")
        moment[0] = dt.datetime.combine(day, dt.time(17), dt.UTC)
        report = runners[day >= D(2016, 3, 17)].run(day)
        assert report.failed == 0 and report.skipped_for is None
        day += dt.timedelta(days=1)
    for runner in runners.values():
        runner.db.dispose()

    ga, na, da, ra = (the_alert(service, k) for k in ("2016-종로구-가", "2016-마포구-나", "2016-종로구-다", "2016-종로구-라"))
    # Found 8 Mar (Tue); every 3 business days after: 11 (Fri), 16, 21, 24, 29.
    assert days_of(service, ga, "reminded") == [D(2016, 3, d) for d in (11, 16, 21, 24, 29)]
    assert days_of(service, ga, "escalated") == [D(2016, 3, 15)]  # 5 business days: 9 10 11 14 15
    # Acknowledged on the 10th (before that night's run): the reminder of the 11th never came.
    assert days_of(service, na, "reminded") == [] and days_of(service, na, "escalated") == []
    assert service.show("test", na).alert.state == "acknowledged"
    [ack] = [e for e in service.show("test", na).events if e.kind == "acknowledged"]
    assert (ack.actor, ack.note) == ("김주무관", "주민협의 일정 확정")
    # Met on the 15th: reminded once (11th), then resolved that night -- before it could escalate.
    assert days_of(service, da, "reminded") == [D(2016, 3, 11)]
    assert days_of(service, da, "resolved") == [D(2016, 3, 15)] and days_of(service, da, "escalated") == []
    assert service.show("test", da).alert.state == "resolved"
    # Snoozed on the 9th until the 21st: silent, then open again from the 21st: 24th, 29th; escalated 28th.
    assert days_of(service, ra, "snooze_ended") == [D(2016, 3, 21)]
    assert days_of(service, ra, "reminded") == [D(2016, 3, 24), D(2016, 3, 29)]
    assert days_of(service, ra, "escalated") == [D(2016, 3, 28)]

    jongno = read_jsonl(tmp_path / "jongno.jsonl")
    office = read_jsonl(tmp_path / "office.jsonl")
    assert [a["kind"] for a in jongno if a["alert_id"] == ga] == ["alert"] + ["reminder"] * 5
    # The office channel takes every escalated alert, so its reminders too; and the escalation.
    assert [a["kind"] for a in office if a["alert_id"] == ga] == ["alert", "reminder", "escalation"] + ["reminder"] * 4
    assert [a["kind"] for a in jongno if a["alert_id"] == da] == ["alert", "reminder", "resolved"]
    assert [a["kind"] for a in office if a["alert_id"] == da] == ["alert", "reminder", "resolved"]
    assert not [a for a in jongno if a["alert_id"] == na]  # 마포구's alert is not 종로구's business
    # The 마포구 channel added on the 17th got the alerts open in 마포구 then, once, as a digest, and
    # not the acknowledged one; afterwards only what is new.
    mapo = read_jsonl(tmp_path / "mapo.jsonl")
    digest = [a for a in mapo if a["kind"] == "digest"]
    assert digest and all(a["gu"] == "마포구" for a in mapo)
    assert len({a["alert_id"] for a in digest}) == len(digest) and na not in {a["alert_id"] for a in digest}
    assert all(a["as_of"] < "2016-03-17" for a in digest)
    assert all(a["as_of"] >= "2016-03-17" for a in mapo if a["kind"] == "alert")
    # Nothing went out twice: each (alert, kind, reminder) once per channel.
    for received in (jongno, office, mapo):
        kinds = [(a["alert_id"], a["kind"], a["delivery_id"]) for a in received]
        assert len(kinds) == len(set(kinds))
        assert len([a for a in received if a["kind"] != "reminder"]) == len({(a["alert_id"], a["kind"]) for a in received if a["kind"] != "reminder"})


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_ack_snooze_show_from_the_command_line(initialised_url: str, catalog: Catalog, tmp_path: Path) -> None:
    add_projects(initialised_url, catalog, [
        build_project(catalog, f"2016-종로구-{n}", "종로구", n, created=D(2016, 1, 4)) for n in ("가", "나")])
    config = tmp_path / "config.toml"
    config.write_text(channels(tmp_path), encoding="utf-8")
    db = ("--db", initialised_url)
    code, out, err = run_cli(*db, "alerts", "run", "--as-of", "2016-03-10", "--config", str(config))
    assert code == 0, err
    listed = json.loads(run_cli(*db, "alerts", "list", "--state", "open", "--json")[1])
    assert listed and {d["alert_state"] for d in listed} == {"open"}  # "state": the project's (listing contract)
    first, second = sorted({d["alert_id"] for d in listed})[:2]

    before = dump(initialised_url)
    refusals = [
        (("alerts", "ack", str(first), "--note", "  "), 3, "say why"),
        (("alerts", "ack", "99999", "--note", "x"), 4, "no alert #99999"),
        (("alerts", "snooze", str(first), "--until", "2016-03-01", "--note", "x"), 3, "must be after 2016-03-10"),
        (("alerts", "snooze", str(first), "--until", "someday", "--note", "x"), 3, "--until"),
        (("alerts", "show", "99999"), 4, "no alert #99999"),
    ]
    for args, exit_code, words in refusals:
        code, out, err = run_cli(*db, *args)
        assert code == exit_code, (args, out, err)
        assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    code, out, err = run_cli(*db, "alerts", "ack", str(first))
    assert code == 2 and "Missing option '--note'" in err  # a usage error, as for every command
    assert dump(initialised_url) == before  # refused: nothing changed

    code, out, err = run_cli(*db, "alerts", "ack", str(first), "--note", "시공사와 통화함", "--actor", "박주무관")
    assert code == 0 and "확인됨" in out, err
    code, out, err = run_cli(*db, "--lang", "en", "alerts", "ack", str(first), "--note", "again")
    assert code == 6 and "is acknowledged" in err
    code, out, err = run_cli(*db, "--lang", "en", "alerts", "snooze", str(second), "--until", "2016-04-01",
                             "--note", "waiting for the budget", "--actor", "kim")
    assert code == 0 and "snoozed until 2016-04-01" in out, err

    shown = json.loads(run_cli(*db, "alerts", "show", str(first), "--json")[1])
    assert shown["state"] == "acknowledged"
    whats = [t["what"] for t in shown["timeline"]]
    assert whats[0] == "found" and "acknowledged" in whats and "alert sent" in whats
    [ack] = [t for t in shown["timeline"] if t["what"] == "acknowledged"]
    assert (ack["actor"], ack["detail"]) == ("박주무관", "시공사와 통화함")
    assert any("message dongflow-" in (t["detail"] or "") for t in shown["timeline"] if t["what"] == "alert sent")
    code, out, _ = run_cli(*db, "--lang", "en", "alerts", "show", str(second))
    assert code == 0 and "state: snoozed (until 2016-04-01)" in out and "waiting for the budget" in out
    code, out, _ = run_cli(*db, "alerts", "list", "--state", "acknowledged")
    assert code == 0 and "확인됨" in out


def test_a_resolved_alert_found_again_later_is_reopened_with_a_reminder(
    initialised_url: str, catalog: Catalog, tmp_path: Path
) -> None:
    """An at-risk forecast can come and go (observed durations change as projects complete, a target
    moves): what was resolved and is found again is open again -- not silently lost behind the
    one-alert-per-(project, milestone, level) rule. A check for the day it resolved changes nothing."""
    from engine.alerting import Lifecycle
    from engine.deadlines import Finding
    from storage.alert_lifecycle import make_sweep

    add_projects(initialised_url, catalog, [build_project(catalog, "2016-종로구-가", "종로구", "가", created=D(2016, 1, 4))])
    text = channels(tmp_path)
    runner = make_runner(initialised_url, catalog, text, lambda: dt.datetime(2016, 2, 10, 17, tzinfo=dt.UTC))
    runner.run(D(2016, 2, 10))
    service = AlertService(runner.db, lambda: dt.datetime.now(dt.UTC))
    [alert] = [a for a in service.list("test") if a.milestone == "agreement_signed"]
    assert (alert.level, alert.state) == ("due_soon", "open")

    class Row:
        id = 1
        gu = "종로구"

    again = [(Row(), Finding(alert.key, "agreement_signed", "due_soon", alert.due, 3, "again"))]
    sweep = make_sweep(runner.config.routes(), Lifecycle(remind_every={}), lambda day: day.weekday() < 5)
    moment = dt.datetime.now(dt.UTC)
    others = [(Row(), Finding(a.key, a.milestone, a.level, a.due, a.days, a.reason))
              for a in service.list("test") if a.id != alert.id]
    for found, day in ((others, D(2016, 2, 11)), (again + others, D(2016, 2, 11)), (again + others, D(2016, 2, 12))):
        with runner.db.write() as conn:
            sweep(conn, found, day, moment)
    timeline = service.show("test", alert.id)
    assert [(e.kind, e.as_of) for e in timeline.events] == [("resolved", D(2016, 2, 11)), ("reopened", D(2016, 2, 12))]
    assert timeline.alert.state == "open"
    assert [(d.kind, d.round, d.channel) for d in timeline.deliveries if d.kind == "reminder"] == [("reminder", 1, "jongno")]
    runner.db.dispose()


def test_an_alert_resolved_again_after_reopening_gets_a_second_resolved_notice(
    initialised_url: str, catalog: Catalog, tmp_path: Path
) -> None:
    """Resolved (a notice to whoever received it), reopened, resolved again: the second notice is a
    message of its own. Both notices used to be round 0 of the same (alert, channel, recipient, kind),
    so the second broke the deliveries' unique key and every later check failed ("another alert check
    recorded the same alerts at the same time")."""
    from engine.alerting import Lifecycle
    from engine.deadlines import Finding
    from storage.alert_lifecycle import make_sweep

    add_projects(initialised_url, catalog, [build_project(catalog, "2016-종로구-가", "종로구", "가", created=D(2016, 1, 4))])
    runner = make_runner(initialised_url, catalog, channels(tmp_path), lambda: dt.datetime(2016, 2, 10, 17, tzinfo=dt.UTC))
    runner.run(D(2016, 2, 10))  # the due-soon alert, sent to 종로구's channel
    service = AlertService(runner.db, lambda: dt.datetime.now(dt.UTC))
    [alert] = [a for a in service.list("test") if a.milestone == "agreement_signed"]

    class Row:
        id = 1
        gu = "종로구"

    again = [(Row(), Finding(alert.key, "agreement_signed", "due_soon", alert.due, 3, "again"))]
    others = [(Row(), Finding(a.key, a.milestone, a.level, a.due, a.days, a.reason))
              for a in service.list("test") if a.id != alert.id]
    sweep = make_sweep(runner.config.routes(), Lifecycle(remind_every={}, resolved_notice=True), lambda day: day.weekday() < 5)
    moment = dt.datetime.now(dt.UTC)
    for found, day in ((others, D(2016, 2, 11)), (again + others, D(2016, 2, 12)), (others, D(2016, 2, 15))):
        with runner.db.write() as conn:
            sweep(conn, found, day, moment)
    timeline = service.show("test", alert.id)
    assert [e.kind for e in timeline.events] == ["resolved", "reopened", "resolved"]
    notices = [(d.channel, d.round) for d in timeline.deliveries if d.kind == "resolved"]
    assert len(notices) == 2 and len(set(notices)) == 2, notices
    runner.db.dispose()
