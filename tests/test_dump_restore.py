"""``dongflow dump`` / ``dongflow restore``: SQLite -> PostgreSQL -> SQLite loses nothing, the restored
PostgreSQL database goes on working (its id sequences are reset), and a restore that cannot be done
(into a database with data, from a newer dongflow, from an edited or damaged dump) is one line, its
exit code, and no change at all -- not even an empty schema left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import cli
from storage.db import SCHEMA_REVISION, Database
from storage.dump import table_rows
from support import assert_one_error, dump

POSTGRES = pytest.param("postgresql", marks=pytest.mark.external_service)


def rows_of(url: str) -> dict:
    db = Database(url)
    try:
        return table_rows(db)
    finally:
        db.dispose()


def tables_part(path: Path) -> list[str]:
    """The dump without its header line (which names the source and the time)."""
    return path.read_text(encoding="utf-8").splitlines()[1:]


@pytest.fixture
def source(runner, tmp_path, monkeypatch) -> str:
    """A SQLite database with the demo portfolio, after an alert run (alerts, deliveries, the job row)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # default channels, not the developer's
    monkeypatch.delenv("DONGFLOW_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'source.db'}"
    assert runner.invoke(cli, ["--db", url, "demo"]).exit_code == 0
    alerts = runner.invoke(cli, ["--db", url, "alerts", "run", "--as-of", "2016-05-20"])
    assert alerts.exit_code == 0, alerts.output
    return url


@pytest.mark.parametrize("db_url", [POSTGRES], indirect=True)
def test_sqlite_to_postgresql_and_back_changes_nothing(runner, source, db_url, tmp_path) -> None:
    first, second, third = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    back = f"sqlite:///{tmp_path / 'back.db'}"
    for args in (["--db", source, "dump", str(first)], ["--db", db_url, "restore", str(first)],
                 ["--db", db_url, "dump", str(second)], ["--db", back, "restore", str(second)],
                 ["--db", back, "dump", str(third)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
    original = rows_of(source)
    counts = {name: len(rows) for name, rows in original.items()}
    assert counts["projects"] == 283 and counts["jobs"] == 2  # the alert run's and the demo's mark
    assert counts["alerts"] > 0 and counts["alert_deliveries"] == 2 * counts["alerts"]  # console + file
    assert all(counts[name] for name in ("events", "participation", "project_budgets", "plan_years")), counts
    assert rows_of(db_url) == original
    assert rows_of(back) == original
    assert tables_part(first) == tables_part(second) == tables_part(third)  # byte for byte
    assert json.loads(first.read_text().splitlines()[0][len('{"dongflow_dump": '):-1])["source"] == "sqlite"

    # The restored PostgreSQL database takes new rows in every table with a sequence.
    key = next(p["key"] for p in original["projects"] if p["state"] not in ("completed", "cancelled", "on_hold"))
    for args in (["advance", key, "hold", "--note", "복원 후", "--actor", "a"],
                 ["project", "add", "2017-성동구-마장동", "--gu", "성동구", "--dong", "마장동", "--year", "2017", "--actor", "a"],
                 ["alerts", "run", "--as-of", "2016-07-05"]):
        result = runner.invoke(cli, ["--db", db_url, *args])
        assert result.exit_code == 0, (args, result.output)
    after = rows_of(db_url)
    for name in ("projects", "events", "alerts", "alert_deliveries"):
        new = [r["id"] for r in after[name]][len(original[name]):]
        assert new and min(new) > max(r["id"] for r in original[name]), name


def test_restore_refuses_a_database_that_has_data(runner, source, tmp_path) -> None:
    path = tmp_path / "a.json"
    assert runner.invoke(cli, ["--db", source, "dump", str(path)]).exit_code == 0
    before = dump(source)
    result = runner.invoke(cli, ["--db", source, "restore", str(path)])
    assert_one_error(result, 7, "is not empty (table", "restore into an empty database")
    assert dump(source) == before


@pytest.fixture(scope="module")
def small_dump(tmp_path_factory) -> Path:
    """A dump of two projects (one moved on) and an alert run, made once for the module."""
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("small")
    url = f"sqlite:///{folder / 'small.db'}"
    env = {"DONGFLOW_ACTOR": "a", "XDG_DATA_HOME": str(folder / "xdg-data"), "DONGFLOW_CONFIG": None,
           "XDG_CONFIG_HOME": str(folder / "xdg-config")}  # the default alert configuration, not the developer's
    for args in (["init"],
                 ["project", "add", "2016-성동구-마장동", "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--at", "2016-02-01"],
                 ["project", "add", "2016-성북구-월곡1동", "--gu", "성북구", "--dong", "월곡1동", "--year", "2016", "--at", "2016-02-01"],
                 ["participation", "add", "2016-성동구-마장동", "resident_meeting", "--date", "2016-02-02", "--count", "2"],
                 ["advance", "2016-성동구-마장동", "agree", "--at", "2016-02-03"],
                 ["alerts", "run", "--as-of", "2016-05-20"], ["dump", str(folder / "small.json")]):
        result = CliRunner().invoke(cli, ["--db", url, *args], env=env)
        assert result.exit_code == 0, (args, result.output)
    return folder / "small.json"


def edit(path: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(change(lines)), encoding="utf-8")
    return target


def header(lines: list[str]) -> dict:
    return json.loads(lines[0][len('{"dongflow_dump": '):].rstrip().rstrip(","))


def with_header(lines: list[str], **changes) -> list[str]:  # type: ignore[no-untyped-def]
    h = {**header(lines), **changes}
    return ['{"dongflow_dump": ' + json.dumps(h, ensure_ascii=False) + ",\n", *lines[1:]]


def first_row(lines: list[str], table: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(f'"{table}": [')) + 1


def replace_in_row(table: str, old: str, new: str):  # type: ignore[no-untyped-def]
    def change(lines: list[str]) -> list[str]:
        i = first_row(lines, table)
        assert old in lines[i], (old, lines[i])
        return [*lines[:i], lines[i].replace(old, new, 1), *lines[i + 1:]]
    return change


def edit_row(table: str, fn):  # type: ignore[no-untyped-def]
    """Change the first row of ``table`` as data (``fn`` edits the dict), keeping the line's form."""
    def change(lines: list[str]) -> list[str]:
        i = first_row(lines, table)
        body = lines[i].rstrip("\n")
        comma = body.endswith(",")
        row = json.loads(body.rstrip(","))
        fn(row)
        text = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + ("," if comma else "") + "\n"
        return [*lines[:i], text, *lines[i + 1:]]
    return change


def repeat_row(table: str):  # type: ignore[no-untyped-def]
    def change(lines: list[str]) -> list[str]:
        i = first_row(lines, table)
        counts = {**header(lines)["counts"], table: header(lines)["counts"][table] + 1}
        lines = with_header(lines, counts=counts)
        row = lines[i] if lines[i].rstrip().endswith(",") else lines[i].rstrip() + ",\n"
        return [*lines[:i], row, *lines[i:]]
    return change


EDITED = [
    # (name, change, expected fragment)
    ("newer-revision", lambda ls: with_header(ls, schema_revision="9999"),
     f"the dump is from schema revision 9999, newer than this dongflow ({SCHEMA_REVISION}); upgrade dongflow first"),
    ("truncated-half", lambda ls: ls[: len(ls) // 2], "the dump is incomplete"),
    ("truncated-mid-row", lambda ls: [*ls[:first_row(ls, "projects")], ls[first_row(ls, "projects")][:40]],
     "damaged dump: a row is not valid JSON"),
    ("counts-disagree", lambda ls: with_header(ls, counts={**header(ls)["counts"], "events": 99}),
     "the dump says 99 rows for events but holds"),
    ("not-a-dump", lambda ls: ['{"something": "else"}\n'], "not a dongflow dump (no dongflow_dump header)"),
    ("format-version", lambda ls: with_header(ls, format_version=2), "dump format version not supported"),
    ("unknown-table", lambda ls: [*ls[:2], '"budgets": [\n', '{"id":1}\n', "],\n", *ls[2:]], "unknown table 'budgets'"),
    ("unknown-column", replace_in_row("projects", '"gu":', '"budget":1,"gu":'), "unknown column 'budget' in table projects"),
    ("year-as-text", replace_in_row("projects", '"year":2016', '"year":"2016"'), "projects.year: '2016' is not a valid integer"),
    ("year-huge", replace_in_row("projects", '"year":2016', '"year":99999999999'), "is not a valid integer"),
    ("key-null", replace_in_row("projects", '"key":"2016-성동구-마장동"', '"key":null'), "projects.key must not be null"),
    ("key-too-long", replace_in_row("projects", '"key":"2016-성동구-마장동"', '"key":"' + "k" * 201 + '"'),
     "projects.key: 'kkkk"),
    ("facts-not-an-object", edit_row("projects", lambda r: r.update(facts=[r["facts"]])),
     "projects.facts: [{'resident_meetings'"),
    ("date-garbage", replace_in_row("projects", '"target_date":"2016-07-01"', '"target_date":"July"'),
     "projects.target_date: 'July' is not a valid date"),
    ("column-missing", replace_in_row("events", '"kind":"created",', ""), "events: the row has no kind"),
    ("duplicate-id", repeat_row("projects"), "the dump breaks a rule of the schema"),
    ("event-of-no-project", replace_in_row("events", '"project_id":1,', '"project_id":77,'),
     "the dump breaks a rule of the schema"),
]


@pytest.mark.parametrize(("name", "change", "fragment"), EDITED, ids=[e[0] for e in EDITED])
def test_an_edited_or_damaged_dump_is_refused_and_changes_nothing(runner, db_url, small_dump, tmp_path, name, change,
                                                                  fragment) -> None:
    """Found bugs: rows that broke a constraint were an internal error (exit 1, and on PostgreSQL a second
    stderr line from psycopg), values of the wrong type were stored as they were on SQLite (exit 0) and
    a database problem on PostgreSQL (exit 7), and a failed restore left an empty schema behind."""
    bad = edit(small_dump, tmp_path / f"{name}.json", change)
    before = dump(db_url)
    result = runner.invoke(cli, ["--db", db_url, "restore", str(bad)])
    line = assert_one_error(result, 3, str(bad), fragment)
    assert len(line) < 400
    assert dump(db_url) == before == {}  # not even the schema
    ok = runner.invoke(cli, ["--db", db_url, "restore", str(small_dump)])  # and the database is still usable
    assert ok.exit_code == 0, ok.output


def test_the_small_dump_restores(runner, small_dump, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'again.db'}"
    result = runner.invoke(cli, ["--db", url, "restore", str(small_dump)])
    assert result.exit_code == 0, result.output
    assert rows_of(url) == rows_of(f"sqlite:///{small_dump.parent / 'small.db'}")
    counts = {name: len(rows) for name, rows in rows_of(url).items() if rows}
    assert counts == {"jobs": 1, "projects": 2, "participation": 1, "events": 4,
                      "alerts": counts["alerts"], "alert_deliveries": 2 * counts["alerts"],
                      "alert_destinations": 2,  # console and file: the channels alerts were routed to
                      "workflow_versions": 1}  # the version its projects use, stored when they were added
    assert counts["alerts"] > 5


def test_a_refused_restore_is_one_line_from_the_installed_command_too(db_url, small_dump, tmp_path) -> None:
    """Outside pytest's log capture: psycopg's warning about the pipeline it abandoned must not add a
    second line on stderr (it did, on PostgreSQL)."""
    import subprocess

    import faultkit

    bad = edit(small_dump, tmp_path / "dup.json", repeat_row("projects"))
    done = subprocess.run([*faultkit.dongflow_cmd(), "--db", db_url, "restore", str(bad)], capture_output=True,
                          text=True, timeout=60, env=faultkit.cli_env(tmp_path))
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert "the dump breaks a rule of the schema" in done.stderr
