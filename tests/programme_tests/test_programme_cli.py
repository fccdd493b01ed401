"""Budgets, participation, people and the plan through the CLI: validation at the edge, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select


def json_history(cli, key):  # type: ignore[no-untyped-def]
    import json

    return json.loads(cli("history", key, "--json").stdout)


def _count(db, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


@pytest.fixture
def two_projects(cli):  # type: ignore[no-untyped-def]
    for key, dong in (("2016-성동구-마장동", "마장동"), ("2016-성동구-사근동", "사근동")):
        assert cli("project", "add", key, "--gu", "성동구", "--dong", dong, "--year", "2016").exit_code == 0
    return ["2016-성동구-마장동", "2016-성동구-사근동"]


def test_resident_meeting_is_the_fact_the_agreement_guard_reads(cli, two_projects) -> None:  # type: ignore[no-untyped-def]
    key = two_projects[0]
    refused = cli("advance", key, "agree")
    assert refused.exit_code == 5 and "resident_meetings is 0, needs >= 1" in refused.stderr
    added = cli("participation", "add", key, "resident_meeting", "--date", "2016-01-20", "--count", "2")
    assert added.exit_code == 0, added.output
    assert "resident_meetings = 2" in added.stdout
    assert cli("advance", key, "agree").exit_code == 0
    history = cli("history", key).stdout
    assert "resident_meetings: 0 -> 2" in history and "participation: 주민참여 회의 +2" in history
    # Korean type names work; other types do not touch the fact.
    assert cli("participation", "add", key, "설명회", "--date", "2016-01-21").exit_code == 0
    assert json.loads(cli("status", key, "--json").stdout)[0]["facts"]["resident_meetings"] == 2
    # Setting the counted fact by hand would count twice: refused, pointing at the right command.
    manual = cli("fact", "set", key, "resident_meetings", "5")
    assert manual.exit_code == 3 and "participation add" in manual.stderr


def test_programme_wide_participation_and_bad_input(cli, db, two_projects) -> None:  # type: ignore[no-untyped-def]
    from programme.repository import PART

    assert cli("participation", "add", "--programme", "press", "--date", "2016-03-02", "--count", "12").exit_code == 0
    listed = cli("participation", "list").stdout
    assert "언론·방송 보도" in listed and "12" in listed
    before = _count(db, PART)
    for args, code, words in (
        (("participation", "add", two_projects[0], "picnic", "--date", "2016-01-01"), 3, "unknown participation type"),
        (("participation", "add", two_projects[0], "briefing", "--date", "2016-02-30"), 3, "not a date"),
        (("participation", "add", two_projects[0], "briefing", "--date", "2099-01-01"), 3, "in the future"),
        (("participation", "add", two_projects[0], "briefing", "--date", "2016-01-01", "--count", "0"), 3, "outside"),
        (("participation", "add", "no-such-key", "briefing", "--date", "2016-01-01"), 4, "no project"),
        (("participation", "add", "press", "--date", "2016-01-01"), 3, "KEY TYPE"),  # dongflow's check: 3
    ):
        result = cli(*args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.stderr
        assert "Traceback" not in result.output
    assert _count(db, PART) == before


def test_budget_set_list_and_import_all_or_nothing(cli, db, two_projects, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from programme.repository import GB, PB

    key = two_projects[0]
    ok = cli("budget", "set", key, "--year", "2016", "--allocated", "50,000,000", "--executed", "12000000")
    assert ok.exit_code == 0, ok.output
    assert (
        cli(
            "budget",
            "set",
            "--programme",
            "사업 준비",
            "--year",
            "2014",
            "--allocated",
            "250",
            "--executed",
            "250",
            "--unit",
            "million",
        ).exit_code
        == 0
    )
    again = cli("budget", "set", key, "--year", "2016", "--allocated", "50000000", "--executed", "30000000")
    assert again.exit_code == 0
    listed = cli("budget", "list").stdout
    assert "[사업 준비]" in listed and "250,000,000" in listed and "30,000,000" in listed
    assert _count(db, PB) == 1 and _count(db, GB) == 1

    over = cli("budget", "set", key, "--year", "2016", "--allocated", "10", "--executed", "11")
    assert over.exit_code == 3 and "more than allocated" in over.stderr
    both = cli("budget", "set", key, "--programme", "x", "--year", "2016", "--allocated", "1", "--executed", "1")
    assert both.exit_code == 3

    bad = tmp_path / "budget.csv"
    bad.write_text(
        "키,항목,연도,배정액,집행액\n"
        f"{two_projects[1]},,2016,100,50\n"  # fine
        f"{two_projects[1]},,2016,100,50\n"  # line 3: the same line twice
        ",준비,20x6,100,50\n"  # line 4: bad year
        "ghost,,2016,100,50\n"  # line 5: no such project
        f"{key},,2016,abc,50\n",  # line 6: not money
        encoding="utf-8",
    )
    result = cli("budget", "import", str(bad))
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert "4 bad rows; nothing was imported" in lines[0]
    assert any(f"{bad}:3: key" in line for line in lines)
    assert any(f"{bad}:4: year" in line for line in lines)
    assert any(f"{bad}:5: key: no project with key 'ghost'" in line for line in lines)
    assert any(f"{bad}:6: allocated" in line for line in lines)
    assert _count(db, PB) == 1, "nothing of a bad file is written"


def test_people_and_plan(cli, two_projects, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = two_projects[0]
    assert cli("people", "add", key, "architect", "김서연", "--contact", "010-0000-0000").exit_code == 0
    assert cli("people", "add", key, "MP", "박지훈").exit_code == 0
    dup = cli("people", "add", key, "architect", "김서연")
    assert dup.exit_code == 6
    assert cli("people", "add", key, "plumber", "x").exit_code == 3
    listed = cli("people", "list", key).stdout
    assert "건축가" in listed and "김서연" in listed and "자치구 MP" in listed
    unexplained = cli("people", "remove", key, "architect", "김서연")
    assert unexplained.exit_code == 3 and "a note saying why is required (--note)" in unexplained.stderr
    assert "김서연" in cli("people", "list", key).stdout
    assert cli("people", "remove", key, "architect", "김서연", "--note", "계약 종료", "--actor", "이지은").exit_code == 0
    assert cli("people", "remove", key, "architect", "김서연", "--note", "x").exit_code == 4
    # The removal (and each addition) is in the project's history: who, when, why.
    history = [line for line in cli("history", key).stdout.splitlines() if "person_" in line]
    assert len(history) == 3
    assert "person_removed" in history[-1] and "- architect 김서연" in history[-1]
    assert "이지은" in history[-1] and "계약 종료" in history[-1]
    assert "person_added" in history[0] and "+ architect 김서연" in history[0]
    removal = json_history(cli, key)[-1]
    assert (removal["actor"], removal["note"], removal["kind"]) == ("이지은", "계약 종료", "person_removed")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(f"키,역할,이름\n{two_projects[1]},동 담당자,이하은\n", encoding="utf-8")
    assert cli("people", "import", str(csv_file)).exit_code == 0
    assert "이하은" in cli("people", "list", "--gu", "성동구").stdout

    assert cli("plan", "set", "--year", "2016", "--quarter", "3", "--completions", "204").exit_code == 0
    assert cli("plan", "set", "--year", "2016", "--budget", "10250", "--unit", "million").exit_code == 0
    assert cli("plan", "set", "--year", "2016", "--quarter", "5", "--completions", "1").exit_code == 3
    assert cli("plan", "set", "--year", "2016", "--quarter", "3").exit_code == 3
    shown = cli("plan", "show").stdout
    assert "204" in shown and "10,250" in shown


def test_report_formats_and_languages(cli, two_projects, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("plan", "set", "--year", "2016", "--quarter", "3", "--completions", "2")
    cli("participation", "add", two_projects[0], "resident_meeting", "--date", "2016-01-20")
    table = cli("report", "--as-of", "2016-02-01")
    assert table.exit_code == 0, table.output
    for title in (
        "추진 실적",
        "계획 대비 실적",
        "연도별 예산",
        "시민 참여 실적",
        "자치구별 진행 현황",
        "지연·위험 사업",
    ):
        assert title in table.stdout
    english = cli("report", "--as-of", "2016-02-01", "--lang", "en", "--section", "plan")
    assert "Plan against results" in english.stdout and "Planned" in english.stdout and "계획" not in english.stdout
    md = cli("report", "--format", "md", "--section", "participation", "--as-of", "2016-02-01").stdout
    assert md.startswith("# ") and "| 구분 |" in md and "|---|---:|" in md
    out = tmp_path / "r.csv"
    assert cli("report", "--section", "plan", "-o", str(out), "--as-of", "2016-02-01").exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf"), "CSV files carry a BOM so Excel reads the Korean"
    assert cli("report", "--format", "xlsx").exit_code == 3
    assert cli("report", "--section", "nope").exit_code == 3
    assert cli("report", "--as-of", "someday").exit_code == 3
    assert cli("report", "-o", str(tmp_path / "missing" / "r.md")).exit_code == 3


def test_help_of_the_programme_commands_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom cli import cli\n"
        "for args in (['report', '--help'], ['budget', 'set', '--help'], ['participation', 'add', '--help'],"
        " ['plan', '--help'], ['people', '--help']):\n"
        "    try:\n        cli(args, prog_name='dongflow')\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('plotly', 'openpyxl', 'sqlalchemy', 'sqlmodel', 'transitions') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("count", ["٣", "３", "²", "1_0", "໓", "𝟑"])
def test_a_count_takes_only_the_ascii_digits_0_to_9(cli, db, two_projects, count) -> None:  # type: ignore[no-untyped-def]
    """Python's int() reads Arabic-Indic ('٣'), full-width ('３') and other Unicode digits, and
    underscores; a count typed with them is refused (exit 3, one line), not silently read as 3."""
    from programme.repository import PART

    before = _count(db, PART)
    result = cli("participation", "add", two_projects[0], "resident_meeting", "--date", "2016-01-20",
                 "--count", count)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"Error: count: {count!r} is not ") and "digits 0-9" in result.stderr
    assert _count(db, PART) == before
    assert cli("participation", "add", two_projects[0], "resident_meeting", "--date", "2016-01-20",
               "--count", " 2 ").exit_code == 0  # ASCII digits (spaces around them) are fine
