"""The correction and bulk-move commands (SQLite and PostgreSQL): what they print, what `history` and
`status` show afterwards, and one error line with its exit code and nothing changed on refusal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import commands.common as cli_common
from cli import cli
from support import assert_one_error, dump

KEY = "2016-성동구-마장동"
OTHER = "2016-성동구-사근동"


@pytest.fixture
def run(runner, initialised_db, monkeypatch, now):
    monkeypatch.setattr(cli_common.App, "now", lambda self: now)
    monkeypatch.setenv("DONGFLOW_ACTOR", "kim")

    def invoke(*args: str):
        return runner.invoke(cli, ["--db", initialised_db, "--lang", "en", *args])

    invoke.url = initialised_db
    for key, dong in ((KEY, "마장동"), (OTHER, "사근동")):
        assert invoke("project", "add", key, "--gu", "성동구", "--dong", dong, "--year", "2016",
                      "--at", "2016-02-01").exit_code == 0
    result = invoke("participation", "add", KEY, "resident_meeting", "--date", "2016-02-02")
    assert result.exit_code == 0, result.output
    return invoke


def refused(run, args: list[str], code: int, *fragments: str, problem_lines: int = 0) -> str:
    before = dump(run.url)
    line = assert_one_error(run(*args), code, *fragments, problem_lines=problem_lines)
    assert dump(run.url) == before
    return line


def test_undo_edit_retire_show_in_history_with_who_and_why(run) -> None:
    assert run("advance", KEY, "agree", "--at", "2016-02-10").exit_code == 0
    result = run("undo", KEY, "--note", "협약 전", "--actor", "lee")
    assert result.exit_code == 0 and result.stdout.strip() == f"{KEY}: undid #3 (agree): Agreement -> Site survey"
    result = run("project", "edit", KEY, "--dong", "송정동", "--key", "2016-성동구-송정동", "--note", "동 착오")
    assert result.exit_code == 0
    assert result.stdout.strip() == ("2016-성동구-송정동: edited (key 2016-성동구-마장동 -> 2016-성동구-송정동, "
                                     "dong 마장동 -> 송정동)")
    history = json.loads(run("history", "2016-성동구-송정동", "--json").stdout)
    # In effective order: the edit takes effect at the creation, the undo when the transition it undoes did.
    assert [(e["kind"], e["actor"], e["note"]) for e in history if e["kind"] in ("undone", "edited")] == [
        ("edited", "kim", "동 착오"), ("undone", "lee", "협약 전")]
    table = run("history", "2016-성동구-송정동").stdout
    assert "undo #3 (agree): agreement -> survey" in table and "dong: 마장동 -> 송정동" in table
    result = run("project", "retire", OTHER, "--note", "중복 입력")
    assert result.exit_code == 0 and result.stdout.strip() == f"{OTHER}: retired"
    listing = json.loads(run("status", "--json").stdout)
    assert [p["key"] for p in listing] == ["2016-성동구-송정동"]
    assert "retired" in run("status", OTHER).stdout.splitlines()[0]
    assert json.loads(run("status", OTHER, "--json").stdout)[0]["retired_at"].startswith("2016-03-02T18:30")
    assert OTHER not in run("overdue", "--as-of", "2016-06-01").stdout
    assert "retired" in [e["kind"] for e in json.loads(run("history", OTHER, "--json").stdout)]
    assert "retired (was in" in run("history", OTHER).stdout


def test_a_retired_project_is_kept_in_dumps(run, tmp_path: Path) -> None:
    assert run("project", "retire", OTHER, "--note", "mistake").exit_code == 0
    target = tmp_path / "all.json"
    assert run("dump", str(target)).exit_code == 0
    text = target.read_text(encoding="utf-8")
    assert OTHER in text and "retired_at" in text and "mistake" in text


@pytest.mark.parametrize("args,code,fragment", [
    (["undo", KEY, "--note", "x"], 5, "nothing to undo"),
    (["project", "edit", KEY, "--gu", "성북구", "--note", "x"], 3, "'마장동' is not a dong of 성북구"),
    (["project", "edit", KEY, "--key", OTHER, "--note", "x"], 3, "says dong 사근동"),
    (["project", "edit", KEY, "--dong", "사근동", "--key", "2016-성동구-사근동-2", "--note", "x"], 6,
     "--allow-duplicate"),
    (["project", "edit", "nope", "--year", "2017", "--note", "x"], 4, "no project"),
    (["project", "edit", KEY, "--note", "x"], 3, "nothing to change"),
    (["project", "retire", KEY, "--note", " "], 3, "needs a note"),
    (["project", "add", "k", "--gu", "성동", "--dong", "마장동", "--year", "2016"], 3, "did you mean 성동구"),
    (["project", "add", "2017-성동구-송정동", "--gu", "성동구", "--dong", "송정동", "--year", "2016"], 3,
     "says year 2017"),
    (["advance", KEY, "agree", "--keys-from", "f"], 3, "only TRIGGER"),
    (["advance", "agree"], 3, "give KEY and TRIGGER"),
    (["advance", KEY, "agree", "--dry-run"], 3, "for bulk moves"),
    (["advance", "agree", "--where", "gu=성동구", "--keys-from", "f"], 3, "do not go together"),
    (["advance", "agree", "--where", "gu"], 3, "is not NAME=VALUE"),
    (["advance", "agree", "--where", "colour=red"], 3, "unknown field 'colour'"),
    (["advance", "agree", "--where", "state=nowhere"], 3, "names no state"),
    (["advance", "agree", "--keys-from", "no-such-file"], 3, "cannot read"),
    (["advance", "agree", "--where", "year=2015"], 3, "no project matches"),
])
def test_refusals_are_one_line_with_their_code_and_change_nothing(run, args, code, fragment) -> None:
    refused(run, args, code, fragment)


def test_bulk_move_from_the_command_line(run, tmp_path: Path) -> None:
    result = run("advance", "--where", "gu=성동,year=2016,state=현장조사", "agree", "--dry-run")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"would move {KEY}: survey -> agreement",
                                          f"refused {OTHER}: resident_meetings is 0, needs >= 1",
                                          "1 would move, 1 refused"]
    line = refused(run, ["advance", "--where", "gu=성동구", "agree", "--note", "합동"], 5, "1 of 2 projects refuses",
                   problem_lines=1)
    assert "nothing moved" in line
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# 1차\n{KEY}\n{OTHER}\n", encoding="utf-8")
    result = run("advance", "--keys-from", str(keys), "agree", "--note", "합동", "--partial", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["moves"] == [{"key": KEY, "from": "survey", "to": "agreement"}]
    assert data["refused"] == [{"key": OTHER, "reason": "resident_meetings is 0, needs >= 1"}]
    history = json.loads(run("history", KEY, "--json").stdout)
    assert history[-1]["data"]["batch"] == data["batch"] and history[-1]["note"] == "합동"
    assert f"[batch {data['batch']}]" in run("history", KEY).stdout


def test_a_retired_project_leaves_alerts_and_overdue(run, tmp_path: Path) -> None:
    config = tmp_path / "alerts.toml"
    sent = tmp_path / "alerts.jsonl"
    config.write_text(f'[[channels]]\nname = "log"\ntype = "file"\npath = "{sent}"\n', encoding="utf-8")
    assert run("alerts", "run", "--as-of", "2016-03-01", "--config", str(config)).exit_code == 0
    alerts = json.loads(run("alerts", "list", "--json").stdout)
    assert {a["key"] for a in alerts} == {KEY, OTHER}
    assert run("project", "retire", OTHER, "--note", "mistake").exit_code == 0
    assert {a["key"] for a in json.loads(run("alerts", "list", "--json").stdout)} == {KEY}
    assert OTHER not in run("overdue", "--as-of", "2016-03-02", "--json").stdout
    before = sent.read_text(encoding="utf-8").count(OTHER)
    assert run("alerts", "run", "--as-of", "2016-03-20", "--config", str(config)).exit_code == 0
    assert {a["key"] for a in json.loads(run("alerts", "list", "--json").stdout)} == {KEY}
    lines = [json.loads(line) for line in sent.read_text(encoding="utf-8").splitlines()]
    about_other = [line for line in lines if OTHER in json.dumps(line, ensure_ascii=False)][before:]
    assert all("resolved" in json.dumps(line) for line in about_other), about_other  # only "it is over"


@pytest.mark.parametrize("bulk", [
    ["--where", "gu=성동구"],
    ["--where", "gu=성동구", "--dry-run"],
    ["--where", "gu=성동구", "--partial"],
    ["--keys-from", "KEYS"],
])
def test_a_future_date_is_bad_input_for_a_bulk_move_as_for_one_project(run, tmp_path: Path, bulk) -> None:
    """Not in the future is a rule about the date, not about a project: one project and a bulk move
    both exit 3 (invalid input) with the same line, before any project is looked at."""
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n{OTHER}\n", encoding="utf-8")
    bulk = [str(keys) if arg == "KEYS" else arg for arg in bulk]
    single = refused(run, ["advance", KEY, "agree", "--at", "2099-01-01"], 3, "is in the future")
    assert refused(run, ["advance", *bulk, "agree", "--at", "2099-01-01"], 3) == single


def test_an_old_key_finds_the_renamed_project_with_a_notice(run) -> None:
    """Old printouts and habits keep the old key: `history` and `status` follow a `project edit --key`
    (one notice line on stderr naming the new key); a change under the old key is refused naming it."""
    new = f"{KEY}-a"
    assert run("project", "edit", KEY, "--key", new, "--note", "열쇠 착오").exit_code == 0
    notice = f"{KEY} was renamed to {new}"
    for args in (["history"], ["history", "--json"], ["status"], ["status", "--json"],
                 ["status", "--json", "--as-of", "2016-03-01"]):
        by_old, by_new = run(*args[:1], KEY, *args[1:]), run(*args[:1], new, *args[1:])
        assert by_old.exit_code == 0, (args, by_old.output)
        assert by_old.stdout == by_new.stdout and by_new.stderr == ""
        assert by_old.stderr.splitlines() == [f"Note: {notice}; showing {new}"], by_old.stderr
    line = refused(run, ["advance", KEY, "agree"], 4, f"it was renamed to {new!r}")  # a change uses the key now
    assert "use the new key" in line
    # Renamed twice: the old key still leads to the project, under its latest key.
    assert run("project", "edit", new, "--key", f"{KEY}-b", "--note", "또 착오").exit_code == 0
    assert f"renamed to {KEY}-b" in run("history", KEY).stderr
    # A project that takes the old key later wins it: no notice, its own history.
    assert run("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--at", "2016-02-20",
               "--allow-duplicate").exit_code == 0
    mine = run("history", KEY, "--json")
    assert mine.stderr == "" and len(json.loads(mine.stdout)) == 1
    assert_one_error(run("history", "2016-성동구-행당동"), 4, "no project with key")  # never a project's key
