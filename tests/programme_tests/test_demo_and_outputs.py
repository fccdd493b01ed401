"""The demo's programme data agrees with its histories; the workbook and the HTML page are usable."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select


@pytest.fixture
def demo(cli):  # type: ignore[no-untyped-def]
    result = cli("demo")
    assert result.exit_code == 0, result.output
    return result


def test_demo_meetings_are_counted_once(demo, db, catalog) -> None:  # type: ignore[no-untyped-def]
    from programme.repository import PART
    from storage.repository import P

    with db.read() as conn:
        facts = {k: f.get("resident_meetings", 0) for k, f in conn.execute(select(P.c.key, P.c.facts))}
        counted = dict(
            conn.execute(
                select(P.c.key, func.sum(PART.c.times))
                .join(P, P.c.id == PART.c.project_id)
                .where(PART.c.kind == "resident_meeting")
                .group_by(P.c.key)
            ).all()
        )
        years = dict(conn.execute(select(P.c.key, P.c.year)).all())
    assert facts == {k: counted.get(k, 0) for k in facts}, "the fact equals the recorded meetings, project by project"
    cohort_2016 = [k for k, y in years.items() if y == 2016]
    assert len(cohort_2016) == 204
    average = sum(facts[k] for k in cohort_2016) / len(cohort_2016)
    assert 4.0 <= average <= 5.2, average


def test_demo_budget_follows_the_document(demo, cli) -> None:  # type: ignore[no-untyped-def]
    import csv
    import io

    rows = list(
        csv.reader(io.StringIO(cli("report", "--section", "budget", "--format", "csv", "--as-of", "2016-05-20").stdout))
    )
    by_year = {r[0]: r[1:4] for r in rows[1:]}
    assert by_year["2014"] == ["250", "250", "250"]
    assert by_year["2015"] == ["4000", "4000", "3750"]
    assert by_year["2016"][:2] == ["10250", "10250"]
    assert 0 < float(by_year["2016"][2]) < 10220, "2016 money is part spent in May 2016"
    assert by_year["계"][0] == "17450"
    again = cli("demo")
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_xlsx_has_one_sheet_per_section_with_real_numbers(demo, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    out = tmp_path / "report.xlsx"
    result = cli("report", "--as-of", "2016-05-20", "-o", str(out))
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["추진 실적", "계획 대비 실적", "예산 집행", "시민 참여", "자치구별 현황", "지연·위험 사업"]
    budget = wb["예산 집행"]
    assert [c.value for c in budget[1]] == [
        "연도",
        "계획 (투자수요) (백만원)",
        "배정 (백만원)",
        "집행 (백만원)",
        "집행률 (%)",
        "계획 대비 집행 (%)",
    ]
    row_2015 = next(r for r in budget.iter_rows(min_row=2) if r[0].value == 2015)
    assert row_2015[1].value == 4000 and row_2015[1].number_format == "#,##0"
    assert row_2015[3].value == 3750
    assert row_2015[4].value == pytest.approx(0.9375) and row_2015[4].number_format == "0.0%"
    late = wb["지연·위험 사업"]
    assert late.max_row > 3
    assert (
        isinstance(late.cell(row=2, column=8).value, dt.datetime)
        and late.cell(row=2, column=8).number_format == "yyyy-mm-dd"
    )
    results = wb["추진 실적"]
    assert [c.value for c in results[2]] == [2015, 0, 0, 79, 0, 79]


def _browser() -> str | None:
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def test_html_page_renders_its_charts_in_headless_chromium(demo, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "report.html"
    result = cli("report", "--as-of", "2016-05-20", "--gu", "성동구", "-o", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "<script src=" not in text, "self-contained: plotly's JavaScript is inlined"
    assert text.count("Plotly.newPlot") == 4
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium on this machine (apt-get install chromium fonts-noto-cjk)")
    fonts = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True, check=False).stdout
    if not fonts.strip():
        pytest.skip("no Korean font installed (apt-get install fonts-noto-cjk): Hangul would render as boxes")
    common = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
        "--window-size=1400,2600",
    ]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # plotly marks each drawn chart; the SVG holds the legend and axis text it drew.
    assert len(re.findall(r'class="[^"]*js-plotly-plot', dom)) == 4, "all four charts were drawn"
    for label in ("현장조사", "시공", "성동구 행당1동", "배정", "집행"):
        assert label in dom
    shot = tmp_path / "report.png"
    subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.exists() and shot.stat().st_size > 50_000, "a real page, not a blank one"
