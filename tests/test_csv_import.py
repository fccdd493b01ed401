"""``dongflow project import FILE.csv``: encodings Excel produces, Korean headers, all rows or none,
and every bad row reported with its line number (on both backends)."""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path

import pytest

from cli import cli
from engine.csv_input import read_records
from engine.errors import InvalidInput
from support import assert_one_error, dump

GOOD_ROWS = [("2016-성동구-마장동", "성동구", "마장동", "2016"), ("2016-성북구-월곡1동", "성북구", "월곡1동", "2016"),
             ("2016-도봉구-방학3동", "도봉구", "방학3동", "2016")]


@pytest.fixture
def importing(runner, initialised_db, tmp_path):
    """Write a CSV file (text + encoding, or bytes) and import it; returns (result, path)."""

    def run(content: str | bytes, encoding: str = "utf-8", name: str = "projects.csv"):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        result = runner.invoke(cli, ["project", "import", str(path), "--db", initialised_db, "--actor", "importer"])
        return result, str(path)

    run.url = initialised_db
    return run


def csv_text(header: str, rows, newline: str = "\n") -> str:
    return newline.join([header, *(",".join(r) for r in rows)]) + newline


def imported(runner, url) -> list[dict]:
    return json.loads(runner.invoke(cli, ["status", "--json", "--db", url]).stdout)


@pytest.mark.parametrize(
    ("encoding", "header", "newline"),
    [
        ("utf-8", "key,gu,dong,year", "\n"),
        ("utf-8-sig", "key,gu,dong,year", "\r\n"),  # Excel's "CSV UTF-8"
        ("cp949", "키,구,동,연도", "\r\n"),  # Excel in Korea, plain "CSV"
        ("utf-8", "사업키,자치구,행정동,사업연도", "\n"),
        ("cp949", "KEY,Gu,Dong,Year", "\n"),
    ],
)
def test_import_encodings_and_headers(importing, runner, encoding, header, newline) -> None:
    result, path = importing(csv_text(header, GOOD_ROWS, newline), encoding)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"imported 3 projects from {path}"
    assert result.stderr == ""
    got = {(p["key"], p["gu"], p["dong"], p["year"], p["state"]) for p in imported(runner, importing.url)}
    assert got == {(k, g, d, int(y), "survey") for k, g, d, y in GOOD_ROWS}


def test_cp949_bytes_really_are_not_utf8(importing) -> None:
    data = csv_text("키,구,동,연도", GOOD_ROWS).encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result, _ = importing(data)
    assert result.exit_code == 0, result.output


def test_import_optional_columns_quotes_blank_lines_and_semicolons(importing, runner) -> None:
    text = (
        "key;gu;dong;year;workflow;target\n"
        '"2016-성동구-금호2·3가동";성동구;"금호2·3가동";2016;space-improvement;2016-08-31\n'
        "\n"
        "2017-성동구-마장동;성동구;마장동;2017;;\n"
    )
    result, _ = importing(text)
    assert result.exit_code == 0, result.output
    got = {p["key"]: p for p in imported(runner, importing.url)}
    assert got["2016-성동구-금호2·3가동"]["target"] == "2016-08-31"
    assert got["2017-성동구-마장동"]["target"] == "2017-07-01"


def test_import_back_dates_the_start_of_a_past_cohort(importing, runner) -> None:
    text = "key,gu,dong,year,started\n2015-성동구-마장동,성동구,마장동,2015,2015-01-12\n2015-성동구-행당1동,성동구,행당1동,2015,2015-01-12T09:30\n"
    result, _ = importing(text)
    assert result.exit_code == 0, result.output
    got = {p["key"]: p for p in imported(runner, importing.url)}
    assert got["2015-성동구-마장동"]["entered_at"] == "2015-01-12T00:00:00+09:00"  # a date: midnight in Seoul
    assert got["2015-성동구-행당1동"]["entered_at"] == "2015-01-12T09:30:00+09:00"
    history = json.loads(runner.invoke(cli, ["history", "2015-성동구-행당1동", "--json", "--db", importing.url]).stdout)
    assert history[0]["at"] == "2015-01-12T09:30:00+09:00"


def test_a_start_in_the_future_or_not_a_date_is_a_bad_row(importing) -> None:
    before = dump(importing.url)
    text = "key,gu,dong,year,시작일\nk1,성동구,마장동,2015,2035-01-12\nk2,성동구,마장동,2015,yesterday\n"
    result, path = importing(text)
    assert_one_error(result, 3, "2 bad rows; nothing was imported", problem_lines=2)
    assert "is in the future" in result.stderr and "'yesterday' is not a date-time" in result.stderr
    assert dump(importing.url) == before


def test_import_normalises_decomposed_hangul(importing, runner) -> None:
    nfd = unicodedata.normalize("NFD", "2016-성동구-마장동,성동구,마장동,2016")
    assert nfd != unicodedata.normalize("NFC", nfd)
    result, _ = importing("key,gu,dong,year\n" + nfd + "\n")
    assert result.exit_code == 0, result.output
    (p,) = imported(runner, importing.url)
    assert (p["key"], p["gu"]) == ("2016-성동구-마장동", "성동구")
    assert runner.invoke(cli, ["status", "--gu", "성동구", "--json", "--db", importing.url]).stdout.count('"key"') == 1


def test_one_bad_row_means_nothing_is_imported(importing) -> None:
    before = dump(importing.url)
    rows = [*GOOD_ROWS, ("2016-강남구-역삼1동", "강남구", "역삼1동", "two thousand")]
    result, path = importing(csv_text("key,gu,dong,year", rows))
    assert_one_error(result, 3, f"{path}: 1 bad row; nothing was imported", problem_lines=1)
    assert result.stderr.splitlines()[1] == f"  {path}:5: year: 'two thousand' is not a year"
    assert dump(importing.url) == before


def test_every_bad_row_is_reported_with_its_line(importing) -> None:
    before = dump(importing.url)
    text = (
        "key,gu,dong,year,workflow,target\n"  # line 1
        "a,성동구,마장동,2016,,\n"  # 2 good
        "b,성동구,,2016,,\n"  # 3 dong empty
        "c,성동구,사근동,1999,,\n"  # 4 year out of range
        '"d\nstill d",성동구,응봉동,2016,,\n'  # 5-6: a quoted key over two lines (allowed)
        "e,성동구,행당1동,2016,nope,\n"  # 7 unknown workflow
        "f,성동구,행당2동,2016,,2016-13-01\n"  # 8 bad date
        "a,성동구,마장동,2016,,\n"  # 9 duplicate of line 2
        "g,성동구,성수1가1동,2016,,,extra\n"  # 10 too many fields
        "h,성동구\n"  # 11 too few fields
        "i,성동구,성수2가1동,2016,,2015-12-31\n"  # 12 target before the cohort year
    )
    result, path = importing(text)
    assert_one_error(result, 3, "9 bad rows; nothing was imported", problem_lines=9)
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    expected = [
        (3, "dong: must not be empty"),
        (4, "year: 1999 is outside 2000-2100"),
        (5, "key: contains a control character"),
        (7, "workflow: no workflow nope"),
        (8, "target: '2016-13-01' is not a date"),
        (9, "key: duplicate key 'a' (first on line 2)"),
        (10, "7 fields but the header has 6"),
        (11, "2 fields but the header has 6"),
        (12, "target: target 2015-12-31 is before the cohort year 2016"),
    ]
    assert len(problems) == len(expected)
    for problem, (line, message) in zip(problems, expected):
        assert problem.startswith(f"{path}:{line}: {message}"), (problem, line, message)
    assert dump(importing.url) == before


def test_keys_already_in_the_database(importing, runner) -> None:
    runner.invoke(cli, ["project", "add", "2016-성북구-월곡1동", "--gu", "성북구", "--dong", "월곡1동", "--year", "2016",
                        "--actor", "a", "--db", importing.url])
    before = dump(importing.url)
    result, path = importing(csv_text("key,gu,dong,year", GOOD_ROWS))
    assert_one_error(result, 6, "1 bad row; nothing was imported", problem_lines=1)  # as from `project add`
    assert result.stderr.splitlines()[1] == f"  {path}:3: key: project '2016-성북구-월곡1동' already exists"
    assert dump(importing.url) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", ":1: the file is empty (expected a header row: key,gu,dong,year[,workflow,target,started])"),
        (b"\xef\xbb\xbf\r\n", ":1: the file is empty"),
        (b"key,gu,dong,year\r\n", ": the file has a header but no rows"),
        (b"key,gu,year\nk,g,2016\n", ":1: missing column dong (the header must name: key,gu,dong,year)"),
        (b"key,gu,dong,year,budget\n", ":1: unknown column 'budget'"),
        (b"key,gu,dong,year,key\n", ":1: column 'key' appears twice"),
        (b'key,gu,dong,year\nk,g,"d,2016\n', ":2: malformed CSV"),
        (b"key,gu,dong,year\nk,g,\xff\xfe\xff,2016\n", ":2: the file is neither UTF-8 nor CP949 text"),
    ],
    ids=["empty", "bom-only", "header-only", "missing-column", "unknown-column", "column-twice", "unclosed-quote",
         "not-text"],
)
def test_files_that_cannot_be_read(importing, content, message) -> None:
    before = dump(importing.url)
    result, path = importing(content)
    assert_one_error(result, 3, f"{path}{message}")
    assert dump(importing.url) == before


def test_a_large_file_shows_progress_and_imports_everything(importing, runner) -> None:
    from support import seoul_rows

    rows = seoul_rows(2500)
    result, path = importing(csv_text("key,gu,dong,year", rows))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"imported 2500 projects from {path}"
    assert result.stderr == ""  # not a terminal: no progress bar (tests/test_edges_cli.py runs one on a pty)
    assert len(imported(runner, importing.url)) == 2500


def test_read_records_reports_the_first_line_of_each_row() -> None:
    data = 'key,gu,dong,year\n"a\nb",g,d,2016\n\nc,g,d,2016\n'.encode()
    records = list(read_records(io.BytesIO(data), "f.csv", ["key", "gu", "dong", "year"], ["key"]))
    assert [(r.line, r.values["key"]) for r in records] == [(2, "a\nb"), (5, "c")]


def test_read_records_refuses_a_runaway_field() -> None:
    data = b'key,gu,dong,year\n"' + b"x" * 300_000 + b"\n"
    with pytest.raises(InvalidInput) as info:
        list(read_records(io.BytesIO(data), "f.csv", ["key", "gu", "dong", "year"], ["key"]))
    assert info.value.line == 2


def test_import_file_path_that_is_a_folder(runner, initialised_db, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["project", "import", str(tmp_path), "--db", initialised_db, "--actor", "a"])
    assert result.exit_code == 2  # click refuses a folder before dongflow runs


def test_undecodable_byte_is_reported_at_its_line_even_after_the_first_megabyte() -> None:
    rows = "".join(f"2016-구-동{i},구,동{i},2016\n" for i in range(60_000)).encode()  # > 1 MiB
    assert len(rows) > 1 << 20
    data = b"key,gu,dong,year\n" + rows + b"k,g,\xff\xfe\xff,2016\n"
    with pytest.raises(InvalidInput, match="neither UTF-8 nor CP949") as info:
        list(read_records(io.BytesIO(data), "f.csv", ["key", "gu", "dong", "year"], ["key"]))
    assert info.value.line == 60_002


def test_a_file_without_line_breaks_is_refused_after_reading_a_bounded_part_of_it() -> None:
    """Found by the bad-input corpus: a header longer than csv's field limit was an internal error
    (exit 1), and any long line was read into memory whole before being refused."""
    from engine.csv_input import MAX_LINE

    with pytest.raises(InvalidInput, match="header line is longer than") as info:
        list(read_records(io.BytesIO(b"x" * (MAX_LINE * 3)), "f.csv", ["key"], ["key"]))
    assert info.value.line == 1
    with pytest.raises(InvalidInput, match="malformed CSV header"):
        list(read_records(io.BytesIO(b'key,"gu\n'), "f.csv", ["key"], ["key"]))
    with pytest.raises(InvalidInput, match="line is longer than") as info:
        list(read_records(io.BytesIO(b"key\n" + b"k" * (MAX_LINE * 3)), "f.csv", ["key"], ["key"]))
    assert info.value.line == 2
