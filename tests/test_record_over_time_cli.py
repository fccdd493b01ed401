"""Effective and recorded time, the back-dating rules, and the as-of views through the CLI
(issue 9), on SQLite and PostgreSQL; and `status --as-of` agreeing with `report --as-of`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter

import pytest
from click.testing import CliRunner

import commands.common as cli_common
from cli import cli
from support import assert_one_error, dump

KEY = "2016-성동구-마장동"


@pytest.fixture
def run(runner, initialised_db, monkeypatch: pytest.MonkeyPatch, now: dt.datetime):  # type: ignore[no-untyped-def]
    """dongflow on the test database, its clock fixed at ``now`` (2 March 2016, 18:30 KST), with one
    project created on 4 January 2016."""
    monkeypatch.setattr(cli_common.App, "now", lambda self: now)
    monkeypatch.setenv("DONGFLOW_ACTOR", "김민준")

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, ["--db", initialised_db, *args])

    invoke.url = initialised_db  # type: ignore[attr-defined]
    added = invoke("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--at", "2016-01-04")
    assert added.exit_code == 0, added.output
    return invoke


def ok(result):  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_a_transition_cannot_be_dated_before_the_meeting_its_guard_needs(run) -> None:  # type: ignore[no-untyped-def]
    ok(run("participation", "add", KEY, "resident_meeting", "--date", "2016-01-25"))
    before = dump(run.url)
    refused = run("advance", KEY, "agree", "--at", "2016-01-20")
    assert_one_error(refused, 5, "on 2016-01-20 00:00 KST", "resident_meetings is 0, needs >= 1")
    assert dump(run.url) == before
    ok(run("advance", KEY, "agree", "--at", "2016-01-26"))
    history = json.loads(ok(run("history", KEY, "--json")).stdout)
    assert [e["kind"] for e in history] == ["created", "fact", "transition"]
    assert [e["at"][:10] for e in history] == ["2016-01-04", "2016-01-25", "2016-01-26"]
    assert all(e["recorded_at"].startswith("2016-03-02T18:30") for e in history)


def test_the_history_is_in_effective_order_and_shows_when_each_entry_was_recorded(run) -> None:  # type: ignore[no-untyped-def]
    ok(run("participation", "add", KEY, "resident_meeting", "--date", "2016-02-10"))
    ok(run("participation", "add", KEY, "resident_meeting", "--date", "2016-01-12", "--count", "2"))
    ok(run("people", "add", KEY, "architect", "김서연", "--at", "2016-01-05"))
    ok(run("budget", "set", KEY, "--year", "2016", "--allocated", "1000", "--executed", "0", "--at", "2016-01-06"))
    history = json.loads(ok(run("history", KEY, "--json")).stdout)
    assert [e["seq"] for e in history] == [1, 4, 5, 3, 2]
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    table = ok(run("history", KEY)).stdout.splitlines()
    assert "기록" in table[0]  # the recorded time beside back-dated entries
    assert any("2016-01-12 00:00" in line and "2016-03-02 18:30" in line for line in table)
    # The count fact adds up whatever order the meetings were entered in; as of a day, only those held by then.
    assert json.loads(ok(run("status", KEY, "--json")).stdout)[0]["facts"]["resident_meetings"] == 3
    then = json.loads(ok(run("status", KEY, "--json", "--as-of", "2016-01-31")).stdout)[0]
    assert then["facts"]["resident_meetings"] == 2 and then["as_of"] == "2016-01-31"


@pytest.mark.parametrize(("args", "fragment"), [
    (("fact", "set", KEY, "design_revisions", "1", "--at", "2016-01-03"), "before the project was created"),
    (("fact", "set", KEY, "design_revisions", "1", "--at", "2016-03-09"), "in the future"),
    (("people", "add", KEY, "architect", "김서연", "--at", "2015-12-31"), "before the project was created"),
    (("people", "add", KEY, "architect", "김서연", "--at", "2016-04-01"), "in the future"),
    (("budget", "set", KEY, "--year", "2016", "--allocated", "1", "--executed", "0", "--at", "2016-01-01"),
     "before the project was created"),
    (("participation", "add", KEY, "resident_meeting", "--date", "2016-02-01", "--at", "2016-01-01"),
     "before the project was created"),
    (("participation", "add", KEY, "resident_meeting", "--date", "2016-02-01", "--at", "2016-01-31T23:00"),
     "before the day it was held (2016-02-01)"),
    (("advance", KEY, "hold", "--note", "x", "--at", "2016-01-01"), "before the project entered its current state"),
    (("advance", KEY, "hold", "--note", "x", "--at", "2016-12-01"), "in the future"),
])
def test_the_back_dating_rules_are_the_same_for_every_command(run, args, fragment) -> None:  # type: ignore[no-untyped-def]
    before = dump(run.url)
    assert_one_error(run(*args), 3, fragment)
    assert dump(run.url) == before


def test_a_state_change_cannot_be_dated_before_the_latest_one(run) -> None:  # type: ignore[no-untyped-def]
    ok(run("advance", KEY, "hold", "--note", "예산", "--at", "2016-02-01"))
    before = dump(run.url)
    assert_one_error(run("advance", KEY, "resume", "--at", "2016-01-20"), 3, "before the project entered its current")
    assert dump(run.url) == before
    ok(run("advance", KEY, "resume", "--at", "2016-02-15"))


def test_a_fact_cannot_be_dated_before_its_last_setting(run) -> None:  # type: ignore[no-untyped-def]
    ok(run("fact", "set", KEY, "design_revisions", "2", "--at", "2016-02-10"))
    before = dump(run.url)
    assert_one_error(run("fact", "set", KEY, "design_revisions", "1", "--at", "2016-02-01"), 3,
                     "before design_revisions was last set")
    assert dump(run.url) == before
    ok(run("fact", "set", KEY, "design_revisions", "3", "--at", "2016-02-11"))


def test_status_as_of_shows_the_record_as_it_stood_then(run) -> None:  # type: ignore[no-untyped-def]
    ok(run("participation", "add", KEY, "resident_meeting", "--date", "2016-01-15"))
    ok(run("advance", KEY, "agree", "--at", "2016-01-20"))
    ok(run("advance", KEY, "present_design", "--at", "2016-02-10"))
    ok(run("project", "add", "2016-성동구-행당1동", "--gu", "성동구", "--dong", "행당1동", "--year", "2016",
           "--at", "2016-02-01"))
    then = json.loads(ok(run("status", "--gu", "성동구", "--json", "--as-of", "2016-01-25")).stdout)
    assert [(p["key"], p["state"]) for p in then] == [(KEY, "agreement")]  # 행당1동 came later
    assert then[0]["entered_at"].startswith("2016-01-20")
    reached = {m["id"]: m["reached_on"] for m in then[0]["milestones"]}
    assert reached["agreement_signed"] == "2016-01-20" and reached["design_presented"] is None
    text = ok(run("status", KEY, "--as-of", "2016-01-25")).stdout
    assert "사업협약 (agreement)" in text and "설계(안) 보고회 (design_review)" not in text
    assert_one_error(run("status", "2016-성동구-행당1동", "--as-of", "2016-01-25"), 4, "did not exist yet on 2016-01-25")
    overdue = json.loads(ok(run("overdue", "--json", "--as-of", "2016-01-25")).stdout)
    assert {f["state"] for f in overdue if f["key"] == KEY} <= {"agreement"}
    today = json.loads(ok(run("status", "--gu", "성동구", "--json")).stdout)
    assert [(p["key"], p["state"]) for p in today] == [("2016-성동구-마장동", "design_review"),
                                                       ("2016-성동구-행당1동", "survey")]


# ------------------------------------------------------------------------------------------------
# status --as-of and report --as-of agree on every project


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('asof') / 'demo.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "demo"])
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize("as_of", ["2015-06-01", "2016-01-10", "2016-02-25", "2016-04-15", "2016-05-20"])
def test_status_and_report_as_of_agree_on_every_project(demo_db: str, as_of: str) -> None:
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR

    runner = CliRunner()

    def cli_out(*args: str) -> str:
        result = runner.invoke(cli, ["--db", demo_db, "--lang", "en", *args])
        assert result.exit_code == 0, result.output
        return result.stdout.lstrip("\ufeff")

    projects = json.loads(cli_out("status", "--json", "--as-of", as_of))
    assert projects, "the demo had projects on every one of these dates"
    labels = {s.label.get("en"): s.id for wf in Catalog.from_dirs([SHIPPED_DIR]).all() for s in wf.states}
    districts = list(csv.DictReader(io.StringIO(cli_out("report", "--section", "districts", "--format", "csv",
                                                        "--as-of", as_of))))
    in_report = Counter()
    for row in districts:
        if row["District"] in ("Total", "계"):
            continue
        for label, n in row.items():
            if label in labels and n and int(n):
                in_report[(row["District"], labels[label])] += int(n)
    assert in_report == Counter((p["gu"], p["state"]) for p in projects)
    late = list(csv.DictReader(io.StringIO(cli_out("report", "--section", "late", "--format", "csv",
                                                   "--as-of", as_of))))
    late_keys = {r["Key"] for r in late if r["Level"] in ("Overdue", "Escalated")}
    risk_keys = {r["Key"] for r in late if r["Earliest completion"]}
    open_projects = [p for p in projects if p["state"] not in ("completed", "cancelled")]
    assert late_keys == {p["key"] for p in open_projects
                         if any(m["level"] in ("overdue", "escalated") for m in p["milestones"])}
    assert risk_keys == {p["key"] for p in open_projects if p["at_risk"]}


def test_the_forecast_as_of_a_date_counts_only_the_completions_by_then(demo_db: str) -> None:
    def status(as_of: str) -> list[dict]:
        result = CliRunner().invoke(cli, ["--db", demo_db, "status", "--year", "2015", "--json", "--as-of", as_of])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    early = status("2015-05-01")
    assert len(early) == 79 and {p["durations"] for p in early} == {"declared"}  # nothing completed yet
    mid = status("2015-07-05")
    done = sum(p["state"] == "completed" for p in mid)
    assert 0 < done < 79
    assert {p["durations"] for p in mid if p["state"] != "completed"} == {f"observed (median of {done} completed)"}


def test_alert_states_are_checked_and_named_in_korean_too(run) -> None:  # type: ignore[no-untyped-def]
    assert_one_error(run("alerts", "list", "--state", "closed"), 3, "--state", "valid:", "acknowledged (확인됨")
    assert ok(run("alerts", "list", "--state", "열림", "--json")).stdout == "[]\n"


def test_imports_take_at_for_the_whole_file(run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    budget = tmp_path / "budget.csv"
    budget.write_text(f"key,year,allocated,executed\n{KEY},2016,1000,10\n", "utf-8")
    people = tmp_path / "people.csv"
    people.write_text(f"key,role,name\n{KEY},architect,김서연\n", "utf-8")
    before = dump(run.url)
    assert_one_error(run("budget", "import", str(budget), "--at", "2015-12-01"), 3, "before the project was created")
    assert dump(run.url) == before
    ok(run("budget", "import", str(budget), "--at", "2016-01-10"))
    ok(run("people", "import", str(people), "--at", "2016-01-11"))
    history = json.loads(ok(run("history", KEY, "--json")).stdout)
    assert [(e["kind"], e["at"][:10]) for e in history[1:]] == [("budget", "2016-01-10"), ("person_added", "2016-01-11")]
