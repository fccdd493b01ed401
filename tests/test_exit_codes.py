"""One table of exit codes (engine/errors.py's EXIT_CODES): the README shows exactly it, every error
class uses a code from it, and each code is reached by a real `dongflow` invocation (9, access refused,
by a real request to the HTTP API: the CLI is the operator's and has every right)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import commands.common as cli_common
import engine.errors as errors
from cli import cli
from engine.errors import EXIT_CODES, DongflowError
from support import dump

ROOT = Path(__file__).resolve().parent.parent
KEY = "2016-성동구-마장동"


def readme_table() -> dict[int, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.M)
    return {int(code): meaning for code, meaning in rows}


def test_the_readme_table_is_the_code_table() -> None:
    assert readme_table() == EXIT_CODES


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_every_error_class_exits_with_a_code_of_the_table() -> None:
    for cls in [DongflowError, *_subclasses(DongflowError)]:
        assert cls.exit_code in EXIT_CODES, cls


def test_dongflow_never_raises_usage_errors_itself() -> None:
    """2 is the parser's: every check dongflow makes itself raises a DongflowError (3 and up)."""
    sources = [ROOT / "cli.py", *(ROOT / "commands").glob("*.py"), *(ROOT / "render").glob("*.py")]  # option helpers too
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"UsageError\(|BadParameter\(|ctx\.fail\(", text), path


@pytest.fixture
def project_db(runner, initialised_db: str) -> str:
    result = runner.invoke(cli, ["--db", initialised_db, "project", "add", KEY, "--gu", "성동구", "--dong", "마장동",
                                 "--year", "2016", "--at", "2016-01-10", "--actor", "a"])
    assert result.exit_code == 0, result.output
    return initialised_db


def test_each_code_is_reached_by_a_real_command(runner, project_db: str, tmp_path: Path, monkeypatch) -> None:
    db = ["--db", project_db]
    (tmp_path / "dup.csv").write_text(f"key,gu,dong,year\n{KEY},성동구,마장동,2016\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    (tmp_path / "alerts.toml").write_text(f'[[channels]]\ntype = "file"\npath = "{tmp_path / "folder"}"\n')
    add = ["project", "add", "k2", "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "a"]
    reached: dict[int, list[str]] = {}

    def run(code: int, args: list[str], fragment: str = "") -> None:
        before = dump(project_db)
        result = runner.invoke(cli, args)
        assert result.exit_code == code, (args, result.output)
        assert "Traceback" not in result.output
        assert fragment in result.stderr, (args, result.stderr)
        if code not in (0, 8):  # 8: the alerts are recorded (queued for retry)
            assert dump(project_db) == before, args
        reached.setdefault(code, []).append(" ".join(args))

    run(0, [*db, "status", KEY])
    run(2, [*db, "status", "--no-such-option"], "No such option")
    run(2, [*db, "report", "--format", "pdf"], "Invalid value")
    run(3, [*db, "--tz", "Mars/Olympus", "status"], "Error: --tz: unknown time zone 'Mars/Olympus'")
    run(3, [*db, "report", "--format", "xlsx"], "an Excel workbook needs a file")
    run(3, [*db, "workflow", "graph"], "name a workflow ID or give --project KEY")
    run(3, ["--db", str(tmp_path / "no" / "such" / "x.db"), "init"], "does not exist")
    run(4, [*db, *add, "--workflow", "nope"], "Error: workflow: no workflow nope")
    run(4, [*db, "status", "nope"], "no project with key 'nope'")
    run(4, [*db, "people", "remove", KEY, "architect", "nobody", "--actor", "a", "--note", "left"],
        "no architect named nobody")
    run(5, [*db, "advance", KEY, "agree", "--actor", "a"], "resident_meetings is 0")
    run(5, [*db, "undo", KEY, "--note", "n"], "nothing to undo")
    run(5, [*db, "advance", "--where", "gu=성동구", "agree", "--actor", "a"], "nothing moved")
    run(3, [*db, "project", "add", "k3", "--gu", "성동구", "--dong", "월곡1동", "--year", "2016"], "it is in 성북구")
    run(3, [*db, "advance", KEY, "agree", "--where", "gu=성동구", "--actor", "a"], "only TRIGGER")
    run(6, [*db, "project", "add", "k3", "--gu", "성동구", "--dong", "마장동", "--year", "2016"], "--allow-duplicate")
    run(6, [*db, *add[:2], KEY, *add[3:]], f"project {KEY} already exists")
    run(6, [*db, "project", "import", str(tmp_path / "dup.csv"), "--actor", "a"], f"project '{KEY}' already exists")
    run(7, ["--db", str(tmp_path / "empty.db"), "status"], "no dongflow schema yet")
    run(8, [*db, "alerts", "run", "--as-of", "2016-05-20", "--config", str(tmp_path / "alerts.toml")],
        "deliveries failed")

    def boom(_self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_common.App, "now", boom)
    run(1, [*db, *add], "internal error (RuntimeError: a bug)")

    def interrupted(_self):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_common.App, "now", interrupted)
    run(130, [*db, *add], "Interrupted")

    # 9 is the HTTP API's (401, 403 problems carry it): the CLI is the operator's tool and has every right.
    from fastapi.testclient import TestClient

    from web.app import create_app
    from web.context import WebSettings

    before = dump(project_db)
    with TestClient(create_app(WebSettings(db_url=project_db)), raise_server_exceptions=False) as client:
        refused = client.post(f"/api/projects/{KEY}/advance", json={"trigger": "hold", "note": "x", "version": 1})
    assert (refused.status_code, refused.json()["code"]) == (401, 9)
    assert dump(project_db) == before
    reached[9] = [f"POST /api/projects/{KEY}/advance without a token"]
    assert set(reached) == set(EXIT_CODES)


def test_the_tz_error_names_what_the_user_typed(runner, project_db: str, monkeypatch) -> None:
    monkeypatch.setenv("DONGFLOW_TIMEZONE", "Mars/Olympus")
    from_env = runner.invoke(cli, ["--db", project_db, "status"])
    assert (from_env.exit_code, from_env.stderr) == (3, "Error: DONGFLOW_TIMEZONE: unknown time zone 'Mars/Olympus'\n")
    typed = runner.invoke(cli, ["--db", project_db, "--tz", "Mars/Phobos", "status"])
    assert (typed.exit_code, typed.stderr) == (3, "Error: --tz: unknown time zone 'Mars/Phobos'\n")


def test_a_file_whose_rows_differ_in_kind_exits_3(runner, project_db: str, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(f"key,gu,dong,year,workflow\n{KEY},성동구,마장동,2016,\nk3,g,d,2016,nope\nk4,g,d,20x6,\n",
                    encoding="utf-8")
    result = runner.invoke(cli, ["--db", project_db, "project", "import", str(path), "--actor", "a"])
    assert result.exit_code == 3, result.output
    assert errors.InvalidInputs("x", []).exit_code == 3
