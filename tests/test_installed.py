"""The installed ``dongflow`` executable (the virtualenv's console script), run as a user would: from
an unrelated folder, so workflows and demo data must come from the installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXECUTABLE = Path(sys.executable).parent / "dongflow"


@pytest.fixture
def dongflow(tmp_path: Path):
    if not EXECUTABLE.exists():
        pytest.fail(f"{EXECUTABLE} is missing: install the project (pip install -e '.[test]')")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGFLOW_")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"), PYTHONPATH="")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(EXECUTABLE), *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120)

    run.tmp = tmp_path
    return run


def test_installed_executable_help_demo_status(dongflow) -> None:
    help_ = dongflow("--help")
    assert help_.returncode == 0, help_.stderr
    for command in ("init", "demo", "status", "advance", "history", "project", "workflow"):
        assert f"  {command}" in help_.stdout

    demo = dongflow("demo")
    assert demo.returncode == 0, demo.stderr
    assert "added 283 demo projects" in demo.stdout
    assert (dongflow.tmp / "data" / "dongflow" / "dongflow.db").exists()  # the documented default place

    status = dongflow("status", "--json", "--gu", "성동구", "--year", "2016")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    assert rows and {r["gu"] for r in rows} == {"성동구"}
    assert set(rows[0]) >= {"key", "gu", "dong", "year", "workflow", "state", "entered_at"}

    error = dongflow("status", "2099-nowhere")
    assert error.returncode == 4
    assert error.stderr == "Error: no project with key '2099-nowhere'\n"


def test_installed_executable_finds_its_shipped_workflows(dongflow) -> None:
    shown = dongflow("workflow", "show", "space-improvement", "--json")
    assert shown.returncode == 0, shown.stderr
    source = Path(json.loads(shown.stdout)["source"])
    assert source.name == "space-improvement.yaml" and source.is_absolute()


@pytest.mark.parametrize(
    "args",
    [["--help"], ["workflow", "list"], ["workflow", "show", "space-improvement", "--json"], ["advance", "--help"]],
    ids=" ".join,
)
def test_commands_without_a_database_do_not_import_the_orm(args, tmp_path) -> None:
    """--help and database-free commands must start fast: no SQLAlchemy/SQLModel/Alembic import."""
    code = (
        "import sys\n"
        f"sys.argv = ['dongflow', *{args!r}]\n"
        "import cli\n"
        "try:\n    cli.main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'alembic', 'apscheduler') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGFLOW_")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr
