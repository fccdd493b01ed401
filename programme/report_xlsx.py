"""The report as an Excel workbook: one sheet per section, Korean headers, real numbers, charts.

Cells hold numbers, not formatted text, so the office can keep calculating: counts as integers,
money in millions of won with a thousands format, rates as fractions with a percent format, dates as
dates. openpyxl is imported here only, and this module only when ``--format xlsx`` is asked for.

Four sheets carry a native Excel chart (openpyxl.chart) beside their table, drawn from the sheet's
own cells, so a chart copied into another document stays a live chart: completions per quarter
(추진 실적), budget planned / allocated / executed (예산 집행), participation by type (시민 참여) and
projects per stage in each district (자치구별 현황). Totals rows are not charted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.worksheet import Worksheet

from engine.definition import Label
from programme.report import DATE, INT, MONEY, RATE, Column, Report, Section
from programme.report_text import csv_header, text_of
from render.cells import neutralise
from render.markup import plain as plain_text
from render.table import width

FORMATS = {INT: "#,##0", MONEY: "#,##0", RATE: "0.0%", "float": "0.0", DATE: "yyyy-mm-dd"}
SHEET_NAMES = {
    "results": Label("추진 실적", "Results"),
    "plan": Label("계획 대비 실적", "Plan vs results"),
    "budget": Label("예산 집행", "Budget"),
    "participation": Label("시민 참여", "Participation"),
    "districts": Label("자치구별 현황", "Districts"),
    "late": Label("지연·위험 사업", "Late and at risk"),
}
_HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")


def _value(value: Any, column: Column, lang: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Label):
        return neutralise(value.get(lang))
    if column.kind == MONEY:
        return value / 1_000_000
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return neutralise(value)  # a text that looks like a formula stays text


def write_xlsx(report: Report, path: Path, lang: str) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = text_of(Label("사업 추진 현황 보고", "Programme report"), lang)
    wb.properties.description = f"as of {report.as_of.isoformat()}"
    for s in report.sections:
        ws = wb.create_sheet(SHEET_NAMES.get(s.id, Label(s.id, s.id)).get(lang)[:31])
        ws.append([csv_header(c, lang) for c in s.columns])
        for c in ws[1]:
            c.font = Font(bold=True)
            c.fill = _HEADER_FILL
            c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        body = [*s.rows, *([s.total] if s.total is not None else [])]
        for r in body:
            ws.append([_value(v, c, lang) for v, c in zip(r, s.columns)])
        for row_cells in ws.iter_rows(min_row=2, max_row=ws.max_row):
            for c, column in zip(row_cells, s.columns):
                fmt = FORMATS.get(column.kind)
                if fmt and column.key != "year":
                    c.number_format = fmt
        if s.total is not None and body:
            for c in ws[ws.max_row]:
                c.font = Font(bold=True)
        ws.freeze_panes = "A2"
        ws.page_setup.orientation = "landscape"  # printed: the table and its chart side by side,
        ws.sheet_properties.pageSetUpPr.fitToPage = True  # as wide as one page, as long as it needs
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        for index, column in enumerate(s.columns, start=1):
            longest = max([width(csv_header(column, lang))] + [width(text_of(r[index - 1], lang)) for r in body])
            ws.column_dimensions[get_column_letter(index)].width = min(40, max(8, longest + 2))
        notes_row = ws.max_row + 2
        for offset, note in enumerate(
            (*s.notes, Label(f"기준일 {report.as_of.isoformat()}", f"As of {report.as_of.isoformat()}"))
        ):
            ws.cell(row=notes_row + offset, column=1, value=plain_text(note.get(lang))).font = Font(
                italic=True, color="555555"
            )
        chart = CHARTS.get(s.id)
        if chart is not None and s.rows:
            chart(ws, s, lang)
    wb.save(path)


# ------------------------------------------------------------------------------------------------
# Charts: each reads the section's cells (row 1 the headers, rows 2.. the data, then the total).


def _t(lang: str, ko: str, en: str) -> str:
    return en if lang == "en" else ko


def _columns(s: Section) -> dict[str, int]:
    """Column key -> the sheet's column number (1-based)."""
    return {c.key: i for i, c in enumerate(s.columns, start=1)}


def _place(ws: Worksheet, s: Section, chart: BarChart, title: str) -> None:
    chart.title = title
    chart.style = 10
    chart.legend.position = "b"
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl 3.1 hides both axes unless told
    ws.add_chart(chart, f"{get_column_letter(len(s.columns) + 2)}2")


def _text_categories(chart: BarChart, ref: Reference) -> None:
    """Category labels that are text (quarters, types, districts): a string reference, as Excel writes."""
    for series in chart.series:
        series.cat = AxDataSource(strRef=StrRef(f=str(ref)))


def _bar(kind: str, width: float, height: float) -> BarChart:
    chart = BarChart()
    chart.type = kind  # "col" upright, "bar" sideways
    chart.width, chart.height = width, height
    return chart


def results_chart(ws: Worksheet, s: Section, lang: str) -> None:
    """Completions per quarter: the quarters along the axis, a bar per year."""
    at, last = _columns(s), len(s.rows) + 1
    chart = _bar("col", 16, 8)
    chart.grouping = "clustered"
    chart.add_data(Reference(ws, min_col=at["year"], max_col=at["q4"], min_row=2, max_row=last), from_rows=True,
                   titles_from_data=True)
    _text_categories(chart, Reference(ws, min_col=at["q1"], max_col=at["q4"], min_row=1, max_row=1))
    chart.y_axis.title = _t(lang, "준공 (개소)", "completions (dongs)")
    _place(ws, s, chart, _t(lang, "분기별 준공 실적", "Completions per quarter"))


def budget_chart(ws: Worksheet, s: Section, lang: str) -> None:
    """Budget per year: planned, allocated and executed side by side (million won)."""
    at, last = _columns(s), len(s.rows) + 1
    chart = _bar("col", 16, 8)
    chart.grouping = "clustered"
    chart.add_data(
        Reference(ws, min_col=at["planned"], max_col=at["executed"], min_row=1, max_row=last), titles_from_data=True
    )
    chart.set_categories(Reference(ws, min_col=at["year"], min_row=2, max_row=last))
    chart.y_axis.title = _t(lang, "백만원", "million won")
    chart.y_axis.numFmt = "#,##0"
    _place(ws, s, chart, _t(lang, "연도별 예산: 계획·배정·집행", "Budget per year: planned, allocated, executed"))


def participation_chart(ws: Worksheet, s: Section, lang: str) -> None:
    """Participation by type: one stacked bar per type, a segment per cohort (and programme-wide)."""
    from programme.participation import TYPES

    at, title = _columns(s), quote_sheetname(ws.title)
    first, final = at[next(iter(TYPES))], at[list(TYPES)[-1]]
    chart = _bar("col", 18, 9)
    chart.grouping, chart.overlap, chart.gapWidth = "stacked", 100, 60
    for row in range(2, len(s.rows) + 2):
        series = Series(Reference(ws, min_col=first, max_col=final, min_row=row, max_row=row))
        series.tx = SeriesLabel(strRef=StrRef(f"{title}!${get_column_letter(at['group'])}${row}"))
        chart.series.append(series)
    _text_categories(chart, Reference(ws, min_col=first, max_col=final, min_row=1, max_row=1))
    chart.y_axis.title = _t(lang, "횟수", "events")
    _place(ws, s, chart, _t(lang, "유형별 시민 참여", "Citizen participation by type"))


def districts_chart(ws: Worksheet, s: Section, lang: str) -> None:
    """Progress per district: one sideways bar per district, a segment per stage."""
    at, last = _columns(s), len(s.rows) + 1
    chart = _bar("bar", 18, max(8.0, 0.8 * len(s.rows) + 3))
    chart.grouping, chart.overlap, chart.gapWidth = "stacked", 100, 40
    chart.add_data(
        Reference(ws, min_col=at["projects"] + 1, max_col=at["late"] - 1, min_row=1, max_row=last),
        titles_from_data=True,
    )
    _text_categories(chart, Reference(ws, min_col=at["gu"], min_row=2, max_row=last))
    chart.x_axis.scaling.orientation = "maxMin"  # first district at the top, as in the table
    chart.x_axis.tickLblSkip = 1  # every district named
    chart.y_axis.title = _t(lang, "사업 수", "projects")
    _place(ws, s, chart, _t(lang, "자치구별 단계 현황", "Projects per stage and district"))


CHARTS = {
    "results": results_chart,
    "budget": budget_chart,
    "participation": participation_chart,
    "districts": districts_chart,
}
"""Section id -> the function adding its chart to the section's sheet."""
