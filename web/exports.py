"""The district list as CSV or an Excel workbook, safe to open in a spreadsheet.

Every text value that a spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``,
or a tab or carriage return, which some programs skip before looking) gets a leading apostrophe, the
OWASP advice against CSV injection; in the workbook every text cell is also written as a string
cell, never a formula. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from render.cells import neutralise as _neutralise


def neutralise(value: Any) -> Any:
    """A value as a spreadsheet cell that is never a formula (numbers stay numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return _neutralise(str(value))


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    return "\ufeff" + out.getvalue()  # Excel reads Korean CSV only with a BOM


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "projects") -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    for r, row in enumerate([list(header), *rows], start=1):
        for c, value in enumerate(row, start=1):
            safe = neutralise(value)
            cell = ws.cell(row=r, column=c, value=safe)
            if isinstance(safe, str):
                cell.data_type = TYPE_STRING  # written as text whatever it looks like
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
