"""Numbers and dates typed at the command line or read from a CSV file take the digits 0-9 only.

Python's int(), float() and Decimal() read full-width ('３', '２０１６') and Arabic-Indic ('٣') digits,
so `--year ２０１６` was 2016 and `--allocated ３,000` 3000 won. Each is refused in one line naming
the field and the value (exit 3, invalid input) and nothing is written; '²' (which str.isdigit
calls a digit) too. engine.values.digits_problem is the one check behind every door.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import assert_one_error, dump

DIGITS = ["３", "２０１６", "٣", "²"]
KEY = "2016-성동구-마장동"
REFUSED = "is not written with the digits 0-9"


@pytest.fixture
def project(cli):  # type: ignore[no-untyped-def]
    assert cli("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016").exit_code == 0
    return KEY


def _cli_cases(d: str) -> list[tuple[list[str], str]]:
    """(arguments, the field the error line names) for every door of the CLI that reads a number or date."""
    add = ["project", "add", "2016-성동구-사근동", "--gu", "성동구", "--dong", "사근동"]
    return [
        ([*add, "--year", d], "year"),
        ([*add, "--year", "2016", "--target", f"{d}-07-01"], "target"),
        ([*add, "--year", "2016", "--at", f"{d}-01-10"], "--at"),
        (["project", "edit", KEY, "--year", d, "--note", "typo"], "year"),
        (["status", "--year", d], "--year"),
        (["status", "--as-of", f"{d}-03-01"], "--as-of"),
        (["overdue", "--year", d], "--year"),
        (["report", "--year", d], "--year"),
        (["history", KEY, "--json"], ""),  # a control: reads nothing typed as a number
        (["advance", KEY, "agree", "--at", f"{d}-03-01"], "--at"),
        (["advance", "--where", f"year={d}", "agree", "--dry-run"], "year"),
        (["fact", "set", KEY, "design_revisions", d], "fact design_revisions"),
        (["participation", "add", KEY, "resident_meeting", "--date", "2016-01-20", "--count", d], "count"),
        (["participation", "add", KEY, "resident_meeting", "--date", f"{d}-01-20"], "date"),
        (["budget", "set", KEY, "--year", d, "--allocated", "1", "--executed", "1"], "year"),
        (["budget", "set", KEY, "--year", "2016", "--allocated", f"{d},000", "--executed", "1"], "allocated"),
        (["plan", "set", "--year", "2016", "--quarter", d, "--completions", "1"], "quarter"),
        (["plan", "set", "--year", "2016", "--quarter", "3", "--completions", d], "completions"),
        (["plan", "set", "--year", "2016", "--budget", d], "budget"),
        (["workflow", "migrate", "space-improvement", "--to", d], "--to"),
        (["workflow", "show", "space-improvement", "--version", d], "--version"),
        (["alerts", "list", "--limit", d], "--limit"),
        (["alerts", "show", d], "ID"),
        (["blackout", "remove", d], "ID"),
        (["risk", "--simulate", d], "--simulate"),
        (["risk", "backtest", "--from", "2016-01-01", "--to", "2016-02-01", "--every", d], "--every"),
    ]


@pytest.mark.parametrize("digits", DIGITS)
def test_every_cli_number_and_date_takes_only_the_digits_0_to_9(cli, db, project, digits) -> None:  # type: ignore[no-untyped-def]
    before = dump(db.url)
    for args, field in _cli_cases(digits):
        result = cli(*args)
        if not field:
            assert result.exit_code == 0, result.output
            continue
        line = assert_one_error(result, 3, REFUSED)
        assert f"{field}: " in line and repr(digits)[1:-1] in line, (args, line)
    assert dump(db.url) == before


def _write(path: Path, header: str, *rows: str) -> str:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("digits", DIGITS)
def test_every_csv_number_and_date_takes_only_the_digits_0_to_9(cli, db, project, digits, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = digits
    files = [
        (["project", "import"], "key,gu,dong,year", f"2016-성동구-사근동,성동구,사근동,{d}"),
        (["project", "import"], "key,gu,dong,year,workflow,target,started",
         f"2016-성동구-사근동,성동구,사근동,2016,space-improvement,{d}-07-01,"),
        (["project", "import"], "key,gu,dong,year,workflow,target,started",
         f"2016-성동구-사근동,성동구,사근동,2016,space-improvement,,{d}-01-10"),
        (["budget", "import"], "key,item,year,allocated,executed", f"{KEY},,{d},100,50"),
        (["budget", "import"], "key,item,year,allocated,executed", f'{KEY},,2016,"{d},000",50'),
        (["participation", "import"], "key,type,date,count", f"{KEY},resident_meeting,2016-01-20,{d}"),
        (["participation", "import"], "key,type,date,count", f"{KEY},resident_meeting,{d}-01-20,1"),
        (["plan", "import"], "year,quarter,completions,budget", f"{d},3,10,"),
        (["plan", "import"], "year,quarter,completions,budget", f"2016,{d},10,"),
        (["plan", "import"], "year,quarter,completions,budget", f"2016,3,{d},"),
        (["plan", "import"], "year,quarter,completions,budget", f"2016,,,{d}"),
    ]
    before = dump(db.url)
    for number, (command, header, row) in enumerate(files):
        path = _write(tmp_path / f"{number}.csv", header, row)
        result = cli(*command, path)
        assert result.exit_code == 3, (command, row, result.output)
        assert "Traceback" not in result.output
        assert f"{path}:2: " in result.stderr and REFUSED in result.stderr, (command, row, result.stderr)
    assert dump(db.url) == before


def test_ascii_digits_still_work(cli, project) -> None:  # type: ignore[no-untyped-def]
    """The same doors with 0-9 (and spaces around them) are fine."""
    assert cli("status", "--year", " 2016 ").exit_code == 0
    assert cli("fact", "set", KEY, "design_revisions", "3").exit_code == 0
    assert cli("budget", "set", KEY, "--year", "2016", "--allocated", "3,000", "--executed", "1").exit_code == 0
    assert cli("alerts", "list", "--limit", "5").exit_code == 0


@pytest.mark.parametrize(("args", "line"), [
    (["status", "--year", "abc"], "Error: --year: 'abc' is not a year"),
    (["status", "--year", "1999"], "Error: --year: 1999 is outside 2000-2100"),
    (["alerts", "list", "--limit", "0"], "Error: --limit: 0 is below the smallest allowed, 1"),
    (["alerts", "list", "--limit", "1_0"], "Error: --limit: '1_0' is not a whole number"),
    (["workflow", "show", "space-improvement", "--version", "1.0"], "Error: --version: '1.0' is not a whole number"),
])
def test_a_bad_whole_number_option_is_invalid_input(cli, args, line) -> None:  # type: ignore[no-untyped-def]
    """click's int took '1_0' and answered the rest with a usage error (2); dongflow checks them: 3."""
    assert assert_one_error(cli(*args), 3) == line
