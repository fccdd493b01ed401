"""The bad-input corpus (``data/bad-input/``, and the broken workflows in ``data/workflows/bad/``):
every case is one line on stderr (plus one indented line per bad CSV row), its documented exit code,
no traceback, and the database exactly as it was (every row of every table compared).

Cases that need the file system in a particular state -- a folder where the database should be, a
path under a regular file, an immutable file, damaged database pages, 100 MB files -- are made at
test time in ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import faultkit
from cli import cli
from support import DATA, assert_one_error, dump
from test_validation import EXPECTED as BROKEN_WORKFLOWS

BAD = DATA / "bad-input"
KEY = "2016-성동구-마장동"
OTHER = "2016-성북구-월곡1동"


@pytest.fixture
def one(runner, initialised_db, monkeypatch):
    """The database holds OTHER, in survey; the CLI runs against it with an actor set."""
    monkeypatch.setenv("DONGFLOW_ACTOR", "tester")

    def run(*args: str):
        return runner.invoke(cli, ["--db", initialised_db, *args])

    result = run("project", "add", OTHER, "--gu", "성북구", "--dong", "월곡1동", "--year", "2016")
    assert result.exit_code == 0, result.output
    run.url = initialised_db
    return run


def bad(name: str) -> str:
    return str(BAD / name)


# (id, arguments, exit code, a fragment of stderr, indented problem lines)
CASES = [
    # CSV files for `project import`
    ("csv-utf16-bom", ["project", "import", bad("csv/utf16-with-bom.csv")], 3,
     "csv/utf16-with-bom.csv:1: the file is neither UTF-8 nor CP949 text (save it from Excel as 'CSV UTF-8')", 0),
    ("csv-utf16-no-bom", ["project", "import", bad("csv/utf16le-no-bom.csv")], 3, "neither UTF-8 nor CP949", 0),
    ("csv-latin1", ["project", "import", bad("csv/latin1.csv")], 3, "latin1.csv:2: the file is neither UTF-8 nor CP949", 0),
    ("csv-missing-column", ["project", "import", bad("csv/missing-column.csv")], 3,
     "missing-column.csv:1: missing column dong (the header must name: key,gu,dong,year)", 0),
    ("csv-unknown-column", ["project", "import", bad("csv/unknown-column.csv")], 3,
     "unknown-column.csv:1: unknown column 'budget'", 0),
    ("csv-empty", ["project", "import", bad("csv/empty.csv")], 3, "empty.csv:1: the file is empty", 0),
    ("csv-header-only", ["project", "import", bad("csv/header-only.csv")], 3, "the file has a header but no rows", 0),
    ("csv-blank-lines-only", ["project", "import", bad("csv/blank-lines-only.csv")], 3, "the file has a header but no rows", 0),
    ("csv-unclosed-quote", ["project", "import", bad("csv/unclosed-quote.csv")], 3, "unclosed-quote.csv:2:", 0),
    ("csv-bad-dates", ["project", "import", bad("csv/bad-dates.csv")], 3, "5 bad rows; nothing was imported", 5),
    ("csv-bad-years", ["project", "import", bad("csv/bad-years.csv")], 3, "6 bad rows; nothing was imported", 6),
    ("csv-duplicate-keys", ["project", "import", bad("csv/duplicate-keys.csv")], 3,
     "bad-input/csv/duplicate-keys.csv:4: key: duplicate key '2016-성동구-마장동' (first on line 2)", 4),
    ("csv-existing-key", ["project", "import", bad("csv/existing-key.csv")], 6,
     f"existing-key.csv:2: key: project '{OTHER}' already exists", 1),
    ("csv-unknown-workflow", ["project", "import", bad("csv/unknown-workflow.csv")], 4,
     "unknown-workflow.csv:2: workflow: no workflow space-improvment", 2),
    ("csv-control-characters", ["project", "import", bad("csv/control-characters.csv")], 3, "contains a control character", 2),
    ("csv-too-long-field", ["project", "import", bad("csv/too-long-fields.csv")], 3, "key: is longer than 200 characters", 1),
    ("csv-wrong-field-counts", ["project", "import", bad("csv/wrong-field-counts.csv")], 3,
     "wrong-field-counts.csv:2: 2 fields but the header has 4", 2),
    ("csv-gzip", ["project", "import", bad("csv/binary-gzip.csv")], 3, "neither UTF-8 nor CP949", 0),
    ("csv-png-as-csv", ["project", "import", bad("workflow/binary-png.yaml")], 3, "neither UTF-8 nor CP949", 0),
    ("csv-missing-file", ["project", "import", bad("csv/no-such-file.csv")], 3, "no-such-file.csv: cannot read: No such file", 0),
    # Workflow files (the one-defect files of data/workflows/bad are run below)
    ("workflow-png", ["workflow", "validate", bad("workflow/binary-png.yaml")], 3, "binary-png.yaml:1: not UTF-8 text", 0),
    ("workflow-utf16", ["workflow", "validate", bad("workflow/utf16.yaml")], 3, "utf16.yaml:1: not UTF-8 text", 0),
    ("workflow-list", ["workflow", "validate", bad("workflow/top-level-list.yaml")], 3, "top-level-list.yaml:1:", 0),
    ("workflow-sentence", ["workflow", "validate", bad("workflow/scalar.yaml")], 3, "scalar.yaml:1:", 0),
    ("workflow-deep-nesting", ["workflow", "validate", bad("workflow/deep-nesting.yaml")], 3, "deep-nesting.yaml:3:", 0),
    ("workflow-alias-bomb", ["workflow", "validate", bad("workflow/alias-bomb.yaml")], 3,
     "alias-bomb.yaml:4: description must be text", 0),
    ("workflow-csv-as-workflow", ["workflow", "validate", bad("csv/bad-dates.csv")], 3, "bad-dates.csv:1:", 0),
    ("workflow-folder-with-a-png", ["--workflows", str(BAD / "workflow"), "status"], 3, "binary-png.yaml", None),
    # Unknown keys and triggers, facts of the wrong type
    ("unknown-key-status", ["status", "2016-성동구-마장동x"], 4, "no project with key '2016-성동구-마장동x'", 0),
    ("unknown-key-advance", ["advance", "2099-없는구-없는동", "agree"], 4, "no project with key '2099-없는구-없는동'", 0),
    ("unknown-key-history", ["history", "   "], 4, "no project with key", 0),
    ("unknown-trigger-case", ["advance", OTHER, "Agree"], 4, "its workflow has no trigger 'Agree'; allowed from survey: agree", 0),
    ("unknown-trigger-korean", ["advance", OTHER, "사업협약"], 4, "its workflow has no trigger '사업협약'", 0),
    ("empty-trigger", ["advance", OTHER, " "], 3, "trigger: must not be empty", 0),
    ("trigger-from-the-wrong-state", ["advance", OTHER, "complete"], 5, "cannot complete from survey", 0),
    ("fact-decimal", ["fact", "set", OTHER, "design_revisions", "2.5"], 3, "'2.5' is not a valid integer", 0),
    ("fact-negative-count", ["fact", "set", OTHER, "failed_tenders", "--", "-1"], 3,
     "fact failed_tenders: -1 is below the smallest allowed, 0", 0),
    ("fact-exponent", ["fact", "set", OTHER, "design_revisions", "1e3"], 3, "'1e3' is not a valid integer", 0),
    ("fact-hex", ["fact", "set", OTHER, "design_revisions", "0x10"], 3, "'0x10' is not a valid integer", 0),
    ("fact-boolean-word", ["fact", "set", OTHER, "design_revisions", "true"], 3, "'true' is not a valid integer", 0),
    ("fact-empty", ["fact", "set", OTHER, "design_revisions", ""], 3, "'' is not a valid integer", 0),
    ("fact-5000-digits", ["fact", "set", OTHER, "design_revisions", "9" * 5000], 3, "is not a valid integer", 0),
    ("fact-unknown", ["fact", "set", OTHER, "resident-meetings", "2"], 3, "has no fact 'resident-meetings'", 0),
    # Dump files for `restore`
    ("dump-truncated", ["restore", bad("dump/truncated.json")], 3, "truncated.json: the dump is incomplete", 0),
    ("dump-edited", ["restore", bad("dump/edited-year.json")], 3, "edited-year.json:6: projects.year: '2016년' is not a valid integer", 0),
    ("dump-newer", ["restore", bad("dump/newer-revision.json")], 3, "newer than this dongflow", 0),
    ("dump-binary", ["restore", bad("dump/binary.json")], 3, "binary.json:1: not a dongflow dump (not UTF-8 text)", 0),
    ("dump-empty", ["restore", bad("dump/empty.json")], 3, "empty.json:1: not a dongflow dump", 0),
    ("dump-a-csv", ["restore", bad("csv/bad-dates.csv")], 3, "not a dongflow dump", 0),
    # Alert configuration
    ("config-binary", ["alerts", "run", "--config", bad("config/binary.toml")], 3, "binary.toml: not UTF-8 text", 0),
    ("config-secret", ["alerts", "run", "--config", bad("config/secret-in-file.toml")], 3, "secrets do not go in the file", 0),
]


@pytest.mark.parametrize(("args", "code", "fragment", "problems"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_its_exit_code_and_no_change(one, args, code, fragment, problems) -> None:
    before = dump(one.url)
    result = one(*args)
    if problems is None:  # a count that depends on the folder: just indented lines
        problems = len(result.stderr.splitlines()) - 1
    assert_one_error(result, code, fragment, problem_lines=problems)
    assert result.stdout == ""
    assert dump(one.url) == before


def test_every_corpus_file_is_used() -> None:
    used = {arg for _, args, *_ in CASES for arg in args}
    files = {str(p) for p in BAD.rglob("*") if p.is_file() and p.name != "README.md"}
    assert files - used == set()


@pytest.mark.parametrize("name", sorted(BROKEN_WORKFLOWS))
def test_broken_workflow_files_through_the_command_line(runner, tmp_path, monkeypatch, name) -> None:
    """Every file of data/workflows/bad, through `workflow validate` and as a user folder (--workflows)."""
    monkeypatch.chdir(tmp_path)  # python-tag.yaml would write here if it were ever executed
    path = DATA / "workflows" / "bad" / name
    expected = BROKEN_WORKFLOWS[name]
    several = len(expected) > 1
    result = runner.invoke(cli, ["workflow", "validate", str(path)])
    assert_one_error(result, 3, f"{path}:{expected[0][0]}: " if not several else "problems in workflow files",
                     problem_lines=len(expected) if several else 0)
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(path, folder / name)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert runner.invoke(cli, ["--db", url, "init"]).exit_code == 0
    before = dump(url)
    result = runner.invoke(cli, ["--db", url, "--workflows", str(folder), "status"])
    assert result.exit_code == 3 and "Traceback" not in result.output, result.output
    assert_one_error(result, 3, name, problem_lines=len(result.stderr.splitlines()) - 1)
    assert dump(url) == before


# ------------------------------------------------------------------------------------------------
# Database files that cannot be used (SQLite). Tests run as root, so chmod cannot make a file
# unwritable; each case below says which honest way it takes instead.


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def made_database(tmp_path: Path, runner) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "good.db"
    for args in (["init"], ["project", "add", OTHER, "--gu", "성북구", "--dong", "월곡1동", "--year", "2016",
                            "--actor", "a"]):
        assert runner.invoke(cli, ["--db", str(path), *args]).exit_code == 0
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, no -wal to carry
    conn.close()
    return path


COMMANDS = [
    ["status"],
    ["advance", OTHER, "hold", "--note", "x", "--actor", "a"],
    ["fact", "set", OTHER, "design_revisions", "1", "--actor", "a"],
    ["project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "a"],
]


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("damage", ["pages-overwritten", "truncated-to-half", "header-zeroed"])
def test_a_damaged_database_file(runner, tmp_path, damage) -> None:
    """A copy of a real dongflow database with some of its bytes destroyed: every command says it is
    damaged (exit 7) and nothing writes to it."""
    path = made_database(tmp_path, runner)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    if damage == "pages-overwritten":
        for start in range(page, len(data), page):  # every page but the first: the tables themselves
            data[start + 8: start + 200] = bytes(range(192))
    elif damage == "truncated-to-half":
        data = data[: len(data) // 2]
    else:
        data[100:page] = bytes(page - 100)  # the schema on page 1
    path.write_bytes(bytes(data))
    before = files_of(tmp_path)
    for args in [*COMMANDS, ["history", OTHER], ["dump", str(tmp_path / "out.json")], ["alerts", "list"]]:
        result = runner.invoke(cli, ["--db", str(path), *args])
        assert_one_error(result, 7, f"Error: {path} is", "damaged")
    after = files_of(tmp_path)
    assert after.pop("good.db") == before.pop("good.db")  # the damaged file itself is untouched
    assert set(after) <= {"good.db-wal", "good.db-shm"} and not after.get("good.db-wal")


def test_a_folder_where_the_database_file_should_be(runner, tmp_path) -> None:
    """An unusable path that root cannot write either: it is a directory."""
    folder = tmp_path / "dongflow.db"
    folder.mkdir()
    for args in [["init"], *COMMANDS]:
        assert_one_error(runner.invoke(cli, ["--db", str(folder), *args]), 7, f"{folder} is a folder, not a database file")
    assert list(folder.iterdir()) == []


def test_a_database_path_under_a_regular_file(runner, tmp_path) -> None:
    """Another: a path whose parent is a regular file, so nothing can be created there."""
    plain = tmp_path / "notes.txt"
    plain.write_text("not a folder")
    path = plain / "sub" / "dongflow.db"
    assert_one_error(runner.invoke(cli, ["--db", str(path), "init"]), 7,
                     f"cannot create {path}: {plain} is a file, not a folder")
    for args in COMMANDS:  # reads and writes of a database that cannot exist: "run dongflow init"
        assert_one_error(runner.invoke(cli, ["--db", str(path), *args]), 7, "dongflow init")
    assert plain.read_text() == "not a folder"


@pytest.fixture
def immutable(tmp_path):
    """``chattr +i``: the kernel refuses writes to the file (or folder) even to root. Skipped, with the
    reason, on file systems or containers that do not allow it; always undone afterwards."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: no honest way to make a file unwritable for root")
    made: list[Path] = []

    def make(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not allowed here ({done.stderr.strip()})")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def run_installed(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own. (In this process SQLite may hand a new
    connection a file descriptor it kept from an earlier one, opened before the file became immutable.)"""
    return subprocess.run([*faultkit.dongflow_cmd(), *args], capture_output=True, text=True, timeout=60,
                          env=faultkit.cli_env(tmp_path))


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ") and fragment in done.stderr, done.stderr


def test_an_immutable_database_file(runner, tmp_path, immutable) -> None:
    path = made_database(tmp_path, runner)
    before = path.read_bytes()
    immutable(path)
    assert run_installed(tmp_path, "--db", str(path), "status", OTHER).returncode == 0  # reading is fine
    for args in COMMANDS[1:]:
        assert_one_line(run_installed(tmp_path, "--db", str(path), *args), 7,
                        f"{path} cannot be written (read-only file or folder)")
    assert path.read_bytes() == before
    assert not (tmp_path / "good.db-wal").exists() or not (tmp_path / "good.db-wal").read_bytes()


def test_a_database_in_an_immutable_folder(runner, tmp_path, immutable) -> None:
    """SQLite in WAL mode needs to create its -wal and -shm files next to the database: it cannot."""
    path = made_database(tmp_path, runner)
    for extra in ("good.db-wal", "good.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    before = path.read_bytes()
    immutable(tmp_path)
    for args in COMMANDS:
        assert_one_line(run_installed(tmp_path, "--db", str(path), *args), 7, f"cannot open {path}")
    assert path.read_bytes() == before


# ------------------------------------------------------------------------------------------------
# 100 MB files, made at test time (not committed), through the installed command: bounded memory.

MB100 = 100 * 1024 * 1024


def write_100mb(path: Path, kind: str) -> None:
    with open(path, "wb") as out:
        if kind == "random-bytes":
            block = os.urandom(1 << 20)
            for _ in range(100):
                out.write(block)
        elif kind == "one-line":
            out.write(b"x" * MB100)
        else:  # rows whose dong is 300 characters long: every row is bad
            out.write(b"key,gu,dong,year\n")
            i = 0
            while out.tell() < MB100:
                out.write(f"2016-k{i},성동구,{'동' * 300},2016\n".encode())
                i += 1


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "fragment"), [
    ("random-bytes", ":1: the file is neither UTF-8 nor CP949 text"),
    ("one-line", ":1: the header line is longer than 200000 characters"),
    ("long-rows", " bad rows before line 10002, where reading stopped; nothing was imported"),
], ids=["random-bytes", "one-line", "long-rows"])
def test_a_100mb_file(tmp_path, runner, kind, fragment) -> None:
    """On SQLite only: the file is refused before the database is written, whatever the backend."""
    initialised_db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert runner.invoke(cli, ["--db", initialised_db, "init"]).exit_code == 0
    path = tmp_path / f"{kind}.csv"
    write_100mb(path, kind)
    assert path.stat().st_size >= MB100
    before = dump(initialised_db)
    measure = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(done.returncode)")
    try:
        done = subprocess.run([sys.executable, "-c", measure, *faultkit.dongflow_cmd(), "--db", initialised_db, "project",
                               "import", str(path), "--actor", "a"], capture_output=True, text=True, timeout=300,
                              env=faultkit.cli_env(tmp_path))
    finally:
        path.unlink()  # pytest keeps the last runs' tmp folders: do not leave 100 MB in them
    *lines, peak_kb = done.stderr.splitlines()
    assert done.returncode == 3, done.stderr[-2000:]
    assert lines[0].startswith("Error: ") and fragment in lines[0] and "Traceback" not in done.stderr
    assert all(line.startswith("  ") for line in lines[1:]) and len(lines) <= 201  # at most 200 rows reported
    assert int(peak_kb) < 200 * 1024, f"peak memory {int(peak_kb) // 1024} MB"
    assert dump(initialised_db) == before
