"""Found by review (branch review-record): corrections meeting the planning records.

A project's blackouts follow it when `project edit --key` renames it; a retired project takes no
more changes, blackouts and baselines included. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

import commands.common as cli_common
from cli import cli
from support import assert_one_error, dump

KEY = "2016-성동구-마장동"
NEW_KEY = "2016-성동구-마장동-a"


@pytest.fixture
def run(runner, initialised_db, monkeypatch):
    monkeypatch.setattr(cli_common.App, "now", lambda self: dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc))

    def invoke(*args: str):
        return runner.invoke(cli, ["--db", initialised_db, "--lang", "en", *args])

    invoke.url = initialised_db
    result = invoke("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "kim",
                    "--at", "2016-01-04 09:00")
    assert result.exit_code == 0, result.output
    return invoke


def _latest_starts(run, key: str) -> dict[str, str]:
    result = run("status", key, "--json")
    assert result.exit_code == 0, result.output
    return {x["state"]: x["latest_start"] for x in json.loads(result.stdout)[0]["latest_starts"]}


def test_a_project_blackout_follows_a_key_edit(run) -> None:
    plain = _latest_starts(run, KEY)
    assert run("blackout", "add", KEY, "--from", "2016-06-07", "--to", "2016-06-10", "--reason", "투표소").exit_code == 0
    blacked = _latest_starts(run, KEY)
    assert blacked != plain
    result = run("project", "edit", KEY, "--key", NEW_KEY, "--note", "key typo")
    assert result.exit_code == 0, result.output
    # Still the same project's window: it still moves its latest starts, lists under the new key,
    # and can be removed (it used to point at the old key: orphaned, and `remove` said not found).
    assert _latest_starts(run, NEW_KEY) == blacked
    listed = json.loads(run("blackout", "list", "--json").stdout)
    assert [(b["scope"], b["target"]) for b in listed] == [("project", NEW_KEY)]
    assert run("blackout", "remove", str(listed[0]["id"])).exit_code == 0
    assert _latest_starts(run, NEW_KEY) == plain


def test_a_new_project_under_the_old_key_does_not_inherit_the_blackout(run) -> None:
    assert run("blackout", "add", KEY, "--from", "2016-06-07", "--to", "2016-06-10", "--reason", "투표소").exit_code == 0
    assert run("project", "edit", KEY, "--key", NEW_KEY, "--note", "key typo").exit_code == 0
    result = run("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "kim",
                 "--at", "2016-01-04 09:00", "--allow-duplicate")
    assert result.exit_code == 0, result.output
    listed = json.loads(run("blackout", "list", "--json").stdout)
    assert [b["target"] for b in listed] == [NEW_KEY]


@pytest.mark.parametrize("args", [
    ("blackout", "add", KEY, "--from", "2016-06-07", "--reason", "x"),
    ("baseline", "set", KEY, "--as-of", "2016-02-01"),
])
def test_a_retired_project_takes_no_blackout_or_baseline(run, args) -> None:
    assert run("project", "retire", KEY, "--note", "entered by mistake").exit_code == 0
    before = dump(run.url)
    assert_one_error(run(*args), 5, "retired")
    assert dump(run.url) == before


def test_status_key_as_of_says_retired_whether_or_not_it_changed_after_that_day(run) -> None:
    # An entry after 10 January makes the as-of read rebuild the project; one before does not.
    result = run("participation", "add", KEY, "resident_meeting", "--date", "2016-02-01")
    assert result.exit_code == 0, result.output
    assert run("project", "retire", KEY, "--note", "entered by mistake").exit_code == 0
    for day in ("2016-01-10", "2016-02-15"):
        result = run("status", KEY, "--as-of", day, "--json")
        assert result.exit_code == 0, (day, result.output)
        row = json.loads(result.stdout)[0]
        assert row["retired_at"], (day, row)
    # A day before it was entered: not there yet; and no listing shows it, past or present.
    assert_one_error(run("status", KEY, "--as-of", "2016-01-03"), 4, "did not exist yet")
    for day in ("2016-01-10", "2016-02-15"):
        assert json.loads(run("status", "--as-of", day, "--json").stdout) == []


def test_baseline_set_as_of_a_day_before_the_project_existed_is_refused(run) -> None:
    before = dump(run.url)
    # It used to take a plan for 2014 (agreement 2014-01-14 ... completion 2014-06-04).
    assert_one_error(run("baseline", "set", KEY, "--as-of", "2014-01-01"), 3, "did not exist yet")
    assert dump(run.url) == before
    assert run("baseline", "set", KEY, "--as-of", "2016-01-04").exit_code == 0


def test_bulk_refusal_of_a_retired_listed_key_names_the_key_once(run, tmp_path) -> None:
    other = "2016-성동구-사근동"
    assert run("project", "add", other, "--gu", "성동구", "--dong", "사근동", "--year", "2016", "--actor", "kim",
               "--at", "2016-01-04 09:00").exit_code == 0
    assert run("project", "retire", other, "--note", "entered by mistake").exit_code == 0
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n{other}\n", encoding="utf-8")
    before = dump(run.url)
    result = run("advance", "--keys-from", str(keys), "hold", "--actor", "kim", "--note", "x")
    assert result.exit_code == 5, result.output
    assert f"{other}: {other}" not in result.output and f"{other}: cannot hold" in result.output
    assert dump(run.url) == before
    dry = run("advance", "--keys-from", str(keys), "hold", "--actor", "kim", "--note", "x", "--dry-run", "--json")
    refused = json.loads(dry.stdout)["refused"]
    assert [(r["key"], r["reason"].startswith("cannot hold")) for r in refused] == [(other, True)]
