"""The programme report reproduces the published document from data loaded out of CSV files.

Report 7-1-3 says: 79 dongs completed in 2015 Q3 and 204 in 2016 Q3; city money planned 17,450 and
executed 14,220 million won (2014: 250/250, 2015: 4,000/3,750, 2016: 10,250/10,220, 2017: 2,950/-);
the 204 dongs of phase 2 held 4.8 resident meetings each on average. The cohorts, their
participation, budgets and the plan are loaded from CSV files as an office would keep them; the
projects then run their whole course (dated in the past) through the workflow, guards included.
"""

from __future__ import annotations

import csv
import io
from importlib.resources import files
from pathlib import Path

import pytest

from .conftest import at

COURSE = (
    ("agree", "02-10"),
    ("present_design", "02-25"),
    ("approve_design", "03-10"),
    ("announce_tender", "03-25"),
    ("award", "04-20"),
    ("complete", "07-01"),
)


def _dongs() -> list[tuple[str, str]]:
    text = files("programme").joinpath("data/seoul-dongs-2016.csv").read_text(encoding="utf-8-sig")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["in_18_gu_2016"] == "1"]
    return [(r["gu"], r["dong_common"]) for r in sorted(rows, key=lambda r: r["dong_code"])]


def _split(total: int, n: int) -> list[int]:
    share = total // n
    return [share] * (n - 1) + [total - share * (n - 1)]


def _write(path: Path, header: str, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding=encoding)
    return path


@pytest.fixture
def cohorts(tmp_path: Path, service, programme, cli) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    dongs = _dongs()
    members = {2015: dongs[:79], 2016: dongs[79 : 79 + 204]}
    keys = {year: [f"{year}-{gu}-{dong}" for gu, dong in ds] for year, ds in members.items()}
    for year, ds in members.items():
        # Korean headers and CP949, as Excel saves them.
        projects = _write(
            tmp_path / f"projects-{year}.csv",
            "키,구,동,연도",
            [f"{year}-{gu}-{dong},{gu},{dong},{year}" for gu, dong in ds],
            "cp949",
        )
        with projects.open("rb") as stream:
            assert service.import_csv(stream, str(projects), actor="office", now=at(f"{year}-01-05")) == len(ds)
        # Resident meetings: 1 per dong in 2015; 979 over the 204 dongs of 2016 (4.8 on average).
        per_dong = [1] * len(ds) if year == 2015 else [5] * 163 + [4] * 41
        meetings = _write(
            tmp_path / f"meetings-{year}.csv",
            "key,type,date,count",
            [f"{k},주민참여 회의,{year}-01-20,{n}" for k, n in zip(keys[year], per_dong)],
        )
        with meetings.open("rb") as stream:
            programme.import_participation(
                stream, str(meetings), actor="office", now=at(f"{year}-01-20"), today=at(f"{year}-01-20").date()
            )
        for key in keys[year]:
            for trigger, day in COURSE:
                service.advance(key, trigger, actor="office", now=at(f"{year}-{day}"))
    lines = ["," + "사업 준비,2014,250000000,250000000"]
    for year, (allocated, executed) in {2015: (4_000, 3_750), 2016: (10_250, 10_220)}.items():
        n = len(keys[year])
        for key, a, e in zip(keys[year], _split(allocated * 10**6, n), _split(executed * 10**6, n)):
            lines.append(f'{key},,{year},"{a:,}","{e:,}"')
    budget = _write(tmp_path / "budget.csv", "key,item,year,allocated,executed", lines)
    result = cli("budget", "import", str(budget))
    assert result.exit_code == 0, result.output
    plan = _write(
        tmp_path / "plan.csv",
        "연도,분기,준공,예산",
        ["2014,,,250", "2015,3,79,", "2015,,,4000", "2016,3,204,", "2016,,,10250", "2017,3,59,", "2017,,,2950"],
    )
    result = cli("plan", "import", str(plan), "--unit", "million")
    assert result.exit_code == 0, result.output
    return keys


def _csv_section(output: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(output)))


def test_report_totals_equal_the_document(cohorts, cli) -> None:  # type: ignore[no-untyped-def]
    results = _csv_section(cli("report", "--section", "results", "--format", "csv", "--as-of", "2016-12-31").stdout)
    assert results[0] == ["연도", "1분기", "2분기", "3분기", "4분기", "계"]
    assert results[1] == ["2015", "0", "0", "79", "0", "79"]
    assert results[2] == ["2016", "0", "0", "204", "0", "204"]
    assert results[3] == ["계", "0", "0", "283", "0", "283"]

    budget = _csv_section(cli("report", "--section", "budget", "--format", "csv", "--as-of", "2016-12-31").stdout)
    by_year = {row[0]: row[1:4] for row in budget[1:]}
    assert by_year["2014"] == ["250", "250", "250"]
    assert by_year["2015"] == ["4000", "4000", "3750"]
    assert by_year["2016"] == ["10250", "10250", "10220"]
    assert by_year["2017"] == ["2950", "0", "0"]
    assert by_year["계"] == ["17450", "14500", "14220"]

    plan = _csv_section(cli("report", "--section", "plan", "--format", "csv", "--as-of", "2016-12-31").stdout)
    assert [r[:5] for r in plan[1:4]] == [
        ["2015", "3", "79", "79", "0"],
        ["2016", "3", "204", "204", "0"],
        ["2017", "3", "59", "0", "-59"],
    ]

    part = _csv_section(cli("report", "--section", "participation", "--format", "csv", "--as-of", "2016-12-31").stdout)
    header, rows = part[0], {r[0]: r for r in part[1:]}
    assert rows["2016년 사업"][header.index("주민참여 회의")] == "979"
    assert rows["2016년 사업"][header.index("대상 동")] == "204"
    assert rows["2016년 사업"][header.index("동당 주민참여 회의")] == "4.80"


def test_as_of_and_filters_cut_the_same_data(cohorts, cli) -> None:  # type: ignore[no-untyped-def]
    mid_2016 = _csv_section(cli("report", "--section", "results", "--format", "csv", "--as-of", "2016-06-30").stdout)
    assert [r[0] for r in mid_2016[1:]] == ["2015", "계"], "2016's completions on 1 July are after the as-of date"
    only_2016 = _csv_section(
        cli("report", "--section", "results", "--format", "csv", "--as-of", "2016-12-31", "--year", "2016").stdout
    )
    assert only_2016[1] == ["2016", "0", "0", "204", "0", "204"] and len(only_2016) == 3
    gu = cohorts[2016][0].split("-")[1]
    in_gu = sum(1 for k in cohorts[2016] if k.split("-")[1] == gu)
    one_gu = _csv_section(
        cli(
            "report", "--section", "results", "--format", "csv", "--as-of", "2016-12-31", "--year", "2016", "--gu", gu
        ).stdout
    )
    assert one_gu[1][3] == str(in_gu)
    districts = _csv_section(
        cli(
            "report",
            "--section",
            "districts",
            "--format",
            "csv",
            "--as-of",
            "2016-03-01",
            "--year",
            "2016",
            "--lang",
            "en",
        ).stdout
    )
    assert districts[0][:2] == ["District", "Projects"]
    total = districts[-1]
    assert total[0] == "Total" and total[1] == "204"
    # On 1 March 2016 every 2016 dong was in design review (present_design on 25 Feb, approve on 10 Mar).
    assert total[districts[0].index("Design review")] == "204"
