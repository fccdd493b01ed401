"""Issue 13's rough edges seen from the command line: times in the user's zone, words instead of
signs, translated labels, the demo's date, progress only on a terminal, shell completion."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli

ROOT = Path(__file__).resolve().parent.parent
DONGFLOW = str(Path(sys.executable).with_name("dongflow"))
KEY = "2017-성동구-마장동"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('edges-cli') / 'demo.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "demo"])
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture
def one_project(runner, initialised_db: str) -> str:
    db = ["--db", initialised_db]
    for args in (["project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2017", "--at", "2017-01-09"],
                 ["participation", "add", KEY, "resident_meeting", "--date", "2017-01-16"],
                 ["advance", KEY, "agree", "--at", "2017-01-20"]):
        result = runner.invoke(cli, [*db, *args, "--actor", "a"])
        assert result.exit_code == 0, result.output
    return initialised_db


# -- times in messages ----------------------------------------------------------------------------


def test_times_in_messages_are_in_the_configured_zone_with_the_zone_named(runner, one_project: str) -> None:
    db = ["--db", one_project]
    seoul = runner.invoke(cli, [*db, "advance", KEY, "present_design", "--at", "2017-01-19", "--actor", "a"])
    assert seoul.exit_code == 3
    assert "2017-01-19 00:00 KST is before the project entered its current state (2017-01-20 00:00 KST)" in seoul.stderr
    assert "UTC" not in seoul.stderr
    utc = runner.invoke(cli, [*db, "--tz", "UTC", "advance", KEY, "present_design", "--at", "2017-01-19",
                              "--actor", "a"])
    assert "2017-01-19 00:00 UTC is before the project entered its current state (2017-01-19 15:00 UTC)" in utc.stderr
    future = runner.invoke(cli, [*db, "advance", KEY, "present_design", "--at", "2099-01-01T09:30", "--actor", "a"])
    assert future.exit_code == 3 and "2099-01-01 09:30 KST is in the future" in future.stderr
    dubai = runner.invoke(cli, [*db, "--tz", "Asia/Dubai", "fact", "set", KEY, "design_revisions", "1", "--at",
                                "2017-01-01", "--actor", "a"])
    assert "2017-01-01 00:00 Asia/Dubai is before the project was created (2017-01-08 19:00 Asia/Dubai)" in dubai.stderr


def test_show_time_names_the_zone() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from engine.display import display_zone, show_time

    moment = dt.datetime(2016, 3, 31, 15, 0, tzinfo=dt.timezone.utc)
    assert show_time(moment) == "2016-03-31 15:00 UTC"
    with display_zone(ZoneInfo("Asia/Seoul")):
        assert show_time(moment) == "2016-04-01 00:00 KST"
    assert show_time(moment, ZoneInfo("Europe/Berlin")) == "2016-03-31 17:00 CEST"


# -- words instead of signs, labels in the user's language ----------------------------------------


def test_status_says_days_left_or_overdue_in_words(runner, one_project: str) -> None:
    db = ["--db", one_project]
    ko = runner.invoke(cli, [*db, "status", KEY, "--as-of", "2017-05-02"]).stdout
    lines = ko.splitlines()
    assert next(x for x in lines if x.startswith("마일스톤")).rstrip().endswith("기한 대비")
    completion = next(x for x in lines if x.startswith("준공             "))
    assert completion.rstrip().endswith("59일 남음") and "-59" not in ko
    assert re.search(r"설계\(안\) 보고회 .* (\d+)일 지남$", ko, flags=re.M)
    en = runner.invoke(cli, [*db, "--lang", "en", "status", KEY, "--as-of", "2017-05-02"]).stdout
    assert "59 days left" in en and "days overdue" in en
    met_late = runner.invoke(cli, [*db, "advance", KEY, "present_design", "--at", "2017-03-10", "--actor", "a"])
    assert met_late.exit_code == 0, met_late.output
    assert "일 늦게 충족" in runner.invoke(cli, [*db, "status", KEY, "--as-of", "2017-03-10"]).stdout


def test_korean_alerts_list_has_no_english_words_left(runner, demo_db: str, tmp_path: Path) -> None:
    config = tmp_path / "alerts.toml"
    config.write_text(f'[[channels]]\ntype = "file"\npath = "{tmp_path / "alerts.jsonl"}"\n', encoding="utf-8")
    sent = runner.invoke(cli, ["--db", demo_db, "alerts", "run", "--as-of", "2016-05-20", "--config", str(config)])
    assert sent.exit_code == 0, sent.output
    listing = runner.invoke(cli, ["--db", demo_db, "alerts", "list"]).stdout
    body = listing.splitlines()[2:]
    assert body
    for line in body:
        assert "completed" not in line and " sent " not in line, line
        assert "발송됨" in line
    assert any(" 준공 " in line for line in body)
    english = runner.invoke(cli, ["--db", demo_db, "--lang", "en", "alerts", "list"]).stdout
    assert " sent " in english and "Completed" in english


# -- the demo's date ------------------------------------------------------------------------------


def test_the_demo_states_its_date_and_its_hints_carry_it(runner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    out = runner.invoke(cli, ["--db", url, "demo"]).stdout
    assert "The demo's data stands on 20 May 2016 (2016-05-20)" in out
    hints = [line.strip() for line in out.splitlines() if line.startswith("  dongflow ")]
    assert hints
    dated = ("status", "overdue", "report", "alerts")
    for hint in hints:
        if hint.split()[1] in dated:
            assert "--as-of 2016-05-20" in hint, hint
    # Every hint works as printed (on this database).
    for hint in hints:
        args = hint.split("  ")[0].split()[1:]
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 0, (hint, result.output)
    other = runner.invoke(cli, ["--db", f"sqlite:///{tmp_path / 'other.db'}", "demo", "--as-of", "2016-03-15"]).stdout
    assert "stands on 15 March 2016 (2016-03-15)" in other and "--as-of 2016-03-15" in other


def test_alerts_as_of_today_are_refused_on_the_demo(runner, demo_db: str, tmp_path: Path) -> None:
    from support import dump

    before = dump(demo_db)
    run = runner.invoke(cli, ["--db", demo_db, "alerts", "run"])
    assert run.exit_code == 3
    assert "holds the demo, whose data stands on 2016-05-20" in run.stderr
    assert "dongflow alerts run --as-of 2016-05-20" in run.stderr
    scheduler = runner.invoke(cli, ["--db", demo_db, "scheduler", "start"])
    assert scheduler.exit_code == 3 and "the scheduler always checks as of today" in scheduler.stderr
    assert dump(demo_db) == before
    # A dump of the demo restores as the demo.
    copy = tmp_path / "copy.db"
    assert runner.invoke(cli, ["--db", demo_db, "dump", str(tmp_path / "d.json")]).exit_code == 0
    assert runner.invoke(cli, ["--db", str(copy), "restore", str(tmp_path / "d.json")]).exit_code == 0
    again = runner.invoke(cli, ["--db", str(copy), "alerts", "run"])
    assert again.exit_code == 3 and "holds the demo" in again.stderr


# -- progress only on a terminal ------------------------------------------------------------------


def _on_a_terminal(args: list[str], timeout: float = 120) -> tuple[int, str, bytes]:
    """Run dongflow with stderr on a pseudo-terminal (stdout piped): exit code, stdout, terminal bytes."""
    main, child = pty.openpty()
    proc = subprocess.Popen([DONGFLOW, *args], stdout=subprocess.PIPE, stderr=child, env={**os.environ})
    os.close(child)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait(timeout=10)
    os.close(main)
    return proc.returncode, stdout, seen


@pytest.mark.slow
def test_a_large_import_shows_a_bar_on_a_terminal_and_nothing_when_piped(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "many.csv"
    from support import seoul_rows

    path.write_text("key,gu,dong,year\n" + "".join(",".join(row) + "\n" for row in seoul_rows(2500)), encoding="utf-8")
    monkeypatch.setenv("DONGFLOW_ACTOR", "a")
    code, stdout, terminal = _on_a_terminal(["--db", str(tmp_path / "t.db"), "project", "import", str(path)],)
    assert code == 7  # no schema yet: nothing shown but the error
    subprocess.run([DONGFLOW, "--db", str(tmp_path / "t.db"), "init"], check=True, capture_output=True)
    code, stdout, terminal = _on_a_terminal(["--db", str(tmp_path / "t.db"), "project", "import", str(path)])
    assert code == 0 and stdout.strip() == f"imported 2500 projects from {path}"
    assert b"importing" in terminal and b"2500/2500" in terminal
    piped = subprocess.run([DONGFLOW, "--db", str(tmp_path / "p.db"), "init"], capture_output=True, check=True)
    piped = subprocess.run([DONGFLOW, "--db", str(tmp_path / "p.db"), "project", "import", str(path)],
                           capture_output=True, text=True, check=False)
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.mark.slow
def test_the_demo_and_dump_show_bars_on_a_terminal_only(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    code, stdout, terminal = _on_a_terminal(["--db", db, "demo"])
    assert code == 0 and "added 283 demo projects" in stdout
    assert b"building the demo" in terminal and b"4/4" in terminal
    code, _, terminal = _on_a_terminal(["--db", db, "dump", str(tmp_path / "d.json")])
    assert code == 0 and b"dumping rows" in terminal
    code, _, terminal = _on_a_terminal(["--db", str(tmp_path / "copy.db"), "restore", str(tmp_path / "d.json")])
    assert code == 0 and b"restoring rows" in terminal
    piped = subprocess.run([DONGFLOW, "--db", str(tmp_path / "copy2.db"), "restore", str(tmp_path / "d.json")],
                           capture_output=True, text=True, check=False)
    assert piped.returncode == 0 and piped.stderr == ""


def test_the_report_counts_the_projects_it_checks(demo_db: str, monkeypatch) -> None:
    import programme.report as report

    ticks: list[int] = []
    monkeypatch.setattr(report, "PROGRESS_STEP", 50)
    from programme.report import ReportBuilder, ReportFilter
    from programme.report_queries import SqlReportSource
    from storage.db import Database
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR
    from zoneinfo import ZoneInfo
    import datetime as dt

    db = Database(demo_db)
    try:
        builder = ReportBuilder(SqlReportSource(db), Catalog.from_dirs([SHIPPED_DIR]), ZoneInfo("Asia/Seoul"))
        builder.build(dt.date(2016, 5, 20), ReportFilter(), ["late"], progress=ticks.append)
    finally:
        db.dispose()
    assert ticks and set(ticks) == {50} and sum(ticks) >= 200


# -- shell completion, as the README says ---------------------------------------------------------


def test_the_documented_shell_completion_works() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_DONGFLOW_COMPLETE=bash_source dongflow)"' in readme
    env = {**os.environ, "_DONGFLOW_COMPLETE": "bash_source"}
    script = subprocess.run([DONGFLOW], env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    assert "_dongflow_completion()" in script and "complete -o nosort -F _dongflow_completion dongflow" in script
    env = {**os.environ, "_DONGFLOW_COMPLETE": "bash_complete", "COMP_WORDS": "dongflow rep", "COMP_CWORD": "1"}
    words = subprocess.run([DONGFLOW], env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    assert "report" in words
    env = {**os.environ, "_DONGFLOW_COMPLETE": "bash_complete", "COMP_WORDS": "dongflow report --format ",
           "COMP_CWORD": "3"}
    words = subprocess.run([DONGFLOW], env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    assert {"table", "md", "csv", "xlsx", "html"} <= {w.split(",")[-1] for w in words.split()}
    # And bash accepts the script as it is printed.
    if os.path.exists("/bin/bash"):
        check = subprocess.run(["/bin/bash", "-c", f'eval "$({DONGFLOW_ENV}{DONGFLOW})" && complete -p dongflow'],
                               capture_output=True, text=True, timeout=30, check=False)
        assert check.returncode == 0 and "_dongflow_completion" in check.stdout, check.stderr


DONGFLOW_ENV = "_DONGFLOW_COMPLETE=bash_source "


def test_json_listing_of_the_history_names_people_changes(runner, one_project: str) -> None:
    db = ["--db", one_project]
    assert runner.invoke(cli, [*db, "people", "add", KEY, "architect", "김서연", "--actor", "b"]).exit_code == 0
    events = json.loads(runner.invoke(cli, [*db, "history", KEY, "--json"]).stdout)
    assert events[-1]["kind"] == "person_added" and events[-1]["actor"] == "b"
