"""Issue 13's report edges: native charts in the workbook, no district-against-city plan, notes
rendered (not raw Markdown) in HTML, XLSX and the terminal."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('edges') / 'demo.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "demo"])
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture(scope="module")
def workbook(demo_db: str, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xlsx") / "report.xlsx"
    result = CliRunner().invoke(cli, ["--db", demo_db, "report", "--as-of", "2016-05-20", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _refs(chart) -> list[tuple[str | None, str, str | None]]:  # type: ignore[no-untyped-def]
    """(series title reference, values reference, categories reference) of each series."""
    out = []
    for s in chart.series:
        title = s.tx.strRef.f if s.tx is not None and s.tx.strRef is not None else None
        cat = None
        if s.cat is not None:
            cat = (s.cat.strRef or s.cat.numRef).f
        out.append((title, s.val.numRef.f, cat))
    return out


def _header_col(ws, name: str) -> str:  # type: ignore[no-untyped-def]
    cell = next(c for c in ws[1] if c.value is not None and str(c.value).startswith(name))
    return cell.column_letter


def test_four_sheets_carry_native_charts_drawn_from_their_own_cells(workbook: Path) -> None:
    from openpyxl import load_workbook

    with zipfile.ZipFile(workbook) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        assert len(charts) == 4
        assert all("<c:barChart>" in z.read(n).decode() or "<barChart>" in z.read(n).decode() for n in charts)
    wb = load_workbook(workbook)
    with_charts = {ws.title: ws._charts for ws in wb if ws._charts}
    assert set(with_charts) == {"추진 실적", "예산 집행", "시민 참여", "자치구별 현황"}

    # Completions per quarter: a series per year (row), the quarters' headers as categories.
    ws = wb["추진 실적"]
    years = [r for r in range(2, ws.max_row + 1) if isinstance(ws.cell(r, 1).value, int)]
    assert _refs(with_charts["추진 실적"][0]) == [
        (f"'추진 실적'!A{r}", f"'추진 실적'!$B${r}:$E${r}", "'추진 실적'!$B$1:$E$1") for r in years
    ]
    assert [ws.cell(1, c).value for c in range(2, 6)] == ["1분기", "2분기", "3분기", "4분기"]

    # Budget: planned, allocated, executed per year; the totals row is not charted.
    ws = wb["예산 집행"]
    last = max(r for r in range(2, ws.max_row + 1) if isinstance(ws.cell(r, 1).value, int))
    assert ws.cell(last + 1, 1).value == "계"
    refs = _refs(with_charts["예산 집행"][0])
    assert [title for title, _, _ in refs] == ["'예산 집행'!B1", "'예산 집행'!C1", "'예산 집행'!D1"]
    titles = [ws[t.split("!")[1]].value for t, _, _ in refs]
    assert titles == ["계획 (투자수요) (백만원)", "배정 (백만원)", "집행 (백만원)"]
    assert [v for _, v, _ in refs] == [f"'예산 집행'!${c}$2:${c}${last}" for c in "BCD"]
    assert {cat for _, _, cat in refs} == {f"'예산 집행'!$A$2:$A${last}"}

    # Participation: a series per cohort (and programme-wide), the seven types as categories.
    ws = wb["시민 참여"]
    first_type, last_type = _header_col(ws, "설명회"), _header_col(ws, "보고서")
    groups = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value not in (None, "계")][:3]
    assert [ws.cell(r, 1).value for r in groups] == ["2015년 사업", "2016년 사업", "사업 전반"]
    assert _refs(with_charts["시민 참여"][0]) == [
        (f"'시민 참여'!$A${r}", f"'시민 참여'!${first_type}${r}:${last_type}${r}",
         f"'시민 참여'!${first_type}$1:${last_type}$1") for r in groups
    ]

    # Districts: a series per stage (the columns between 사업 수 and 지연), a bar per district.
    ws = wb["자치구별 현황"]
    districts = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value and str(ws.cell(r, 1).value).endswith("구")]
    assert len(districts) >= 15
    from openpyxl.utils import get_column_letter

    late_column = ws[_header_col(ws, "지연") + "1"].column
    stages = [get_column_letter(c) for c in range(3, late_column)]  # after 자치구, 사업 수
    refs = _refs(with_charts["자치구별 현황"][0])
    assert [v for _, v, _ in refs] == [f"'자치구별 현황'!${c}$2:${c}${districts[-1]}" for c in stages]
    assert {ws[t.split("!")[1]].value for t, _, _ in refs} >= {"시공", "준공"}
    assert {cat for _, _, cat in refs} == {f"'자치구별 현황'!$A$2:$A${districts[-1]}"}


@pytest.mark.slow
def test_libreoffice_draws_the_charts(workbook: Path, tmp_path: Path) -> None:
    """The workbook opened by LibreOffice (as the README's screenshot was made) shows the charts."""
    soffice, pdftotext = shutil.which("soffice"), shutil.which("pdftotext")
    if soffice is None or pdftotext is None:
        pytest.skip("no LibreOffice/poppler here (apt-get install libreoffice-calc-nogui poppler-utils)")
    subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(workbook)],
                   env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, timeout=180, check=True)
    text = subprocess.run([pdftotext, str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    squeezed = re.sub(r"\s+", "", text)
    for title in ("분기별준공실적", "연도별예산", "유형별시민참여", "자치구별단계현황"):
        assert title in squeezed, title


def test_the_readme_shows_the_workbook_screenshot() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/report-xlsx.png)" in readme
    png = (ROOT / "docs" / "report-xlsx.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


def test_a_district_report_does_not_compare_with_the_programme_plan(demo_db: str) -> None:
    runner = CliRunner()
    for lang in ("ko", "en"):
        result = runner.invoke(cli, ["--db", demo_db, "--lang", lang, "report", "--gu", "성동구", "--section", "plan",
                                     "--as-of", "2016-05-20", "--format", "csv"])
        assert result.exit_code == 0, result.output
        header = result.stdout.lstrip("\ufeff").splitlines()[0]
        assert header.count(",") == 2, header  # year, quarter, completed: no planned, difference, rate
        assert "79" not in result.stdout and "6.3" not in result.stdout
    table = runner.invoke(cli, ["--db", demo_db, "--lang", "en", "report", "--gu", "성동구", "--section", "plan",
                                "--as-of", "2016-05-20"]).stdout
    assert "there is no district plan, so with --gu nothing is compared with it" in table
    assert "Planned" not in table and "Achieved" not in table
    city = runner.invoke(cli, ["--db", demo_db, "--lang", "en", "report", "--section", "plan",
                               "--as-of", "2016-05-20"]).stdout
    assert "Planned" in city and "Achieved" in city and "100.0%" in city
    # The README and the report guide say the same.
    guide = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    assert "there is no district plan" in guide


def test_markdown_in_notes_is_rendered_not_leaked(demo_db: str, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    runner = CliRunner()
    args = ["--db", demo_db, "report", "--section", "plan", "--as-of", "2016-05-20"]
    page = tmp_path / "r.html"
    assert runner.invoke(cli, [*args, "-o", str(page)]).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "<code>dongflow plan</code>" in html and "`dongflow plan`" not in html
    book = tmp_path / "r.xlsx"
    assert runner.invoke(cli, [*args, "-o", str(book)]).exit_code == 0
    cells = [c.value for row in load_workbook(book).active.iter_rows() for c in row if isinstance(c.value, str)]
    assert any("dongflow plan" in v for v in cells) and not any("`" in v for v in cells)
    terminal = runner.invoke(cli, args).stdout
    assert "dongflow plan" in terminal and "`" not in terminal
    markdown = runner.invoke(cli, [*args, "--format", "md"]).stdout
    assert "`dongflow plan`" in markdown  # Markdown keeps its own marks


def test_markup_helpers() -> None:
    from render.markup import plain, to_html

    text = "see `a<b>` and **bold** and [docs](https://x.example/a?b=1&c=2) or [x](javascript:alert(1))"
    assert plain(text) == "see a<b> and bold and docs (https://x.example/a?b=1&c=2) or x (javascript:alert(1))"
    assert to_html(text) == (
        "see <code>a&lt;b&gt;</code> and <strong>bold</strong> and "
        '<a href="https://x.example/a?b=1&amp;c=2">docs</a> or [x](javascript:alert(1))'
    )
