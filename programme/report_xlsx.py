"""The report as an Excel workbook: one sheet per section, Korean headers, real numbers.

Cells hold numbers, not formatted text, so the office can keep calculating: counts as integers,
money in millions of won with a thousands format, rates as fractions with a percent format, dates as
dates. openpyxl is imported here only, and this module only when ``--format xlsx`` is asked for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from engine.definition import Label
from programme.report import DATE, INT, MONEY, RATE, Column, Report
from programme.report_text import csv_header, text_of
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
        return value.get(lang)
    if column.kind == MONEY:
        return value / 1_000_000
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


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
        for index, column in enumerate(s.columns, start=1):
            longest = max([width(csv_header(column, lang))] + [width(text_of(r[index - 1], lang)) for r in body])
            ws.column_dimensions[get_column_letter(index)].width = min(40, max(8, longest + 2))
        notes_row = ws.max_row + 2
        for offset, note in enumerate(
            (*s.notes, Label(f"기준일 {report.as_of.isoformat()}", f"As of {report.as_of.isoformat()}"))
        ):
            ws.cell(row=notes_row + offset, column=1, value=note.get(lang)).font = Font(italic=True, color="555555")
    wb.save(path)
