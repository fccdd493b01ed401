"""The report as terminal tables, Markdown, or CSV; and the cell formatting every format shares.

Money is held in won and shown in millions of won (백만원) like the programme report; rates are
fractions shown as percentages. CSV keeps full precision (millions with decimals, percentages with
one decimal) so a spreadsheet can add them up again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from engine.definition import Label
from programme.report import DATE, INT, MONEY, RATE, Column, Report, Section
from render import markup
from render.cells import neutralise
from render.table import table

NUMERIC = (INT, MONEY, RATE, "float")


def text_of(value: Any, lang: str) -> str:
    if isinstance(value, Label):
        return value.get(lang)
    return "" if value is None else str(value)


def cell(value: Any, column: Column, lang: str) -> str:
    """A value as people read it: 1,234 / 3,750 (millions) / 93.8% / 2016-07-01."""
    if value is None:
        return ""
    if isinstance(value, Label):
        return value.get(lang)
    if column.kind == MONEY:
        return f"{value / 1_000_000:,.0f}"
    if column.kind == RATE:
        return f"{value * 100:.1f}%"
    if column.kind == "float":
        return f"{value:.1f}"
    if column.kind == INT and isinstance(value, int):
        return f"{value:,}" if column.key != "year" else str(value)
    if column.kind == DATE and isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def headers(section: Section, lang: str) -> list[str]:
    return [c.label.get(lang) for c in section.columns]


def _body(section: Section) -> list[tuple[Any, ...]]:
    return [*section.rows, *([section.total] if section.total is not None else [])]


def _title(report: Report, lang: str) -> str:
    if lang == "en":
        return f"Programme report as of {report.as_of.isoformat()}"
    return f"사업 추진 현황 보고 (기준일 {report.as_of.isoformat()})"


def _empty(lang: str) -> str:
    return "(no data)" if lang == "en" else "(자료 없음)"


def _formatter(column: Column, lang: str):  # type: ignore[no-untyped-def]
    """One column's cell formatter, with repeated values (labels, districts, dates) formatted once."""
    cache: dict[Any, str] = {}

    def fmt(value: Any) -> str:
        try:
            return cache[value]
        except KeyError:
            text = cache[value] = cell(value, column, lang)
            return text
        except TypeError:  # an unhashable value: format it every time
            return cell(value, column, lang)

    return fmt


def render_table(report: Report, lang: str) -> str:
    out = [_title(report, lang), ""]
    for s in report.sections:
        out.append(f"■ {s.title.get(lang)}")
        if s.rows:
            align = "".join(">" if c.kind in NUMERIC else "<" for c in s.columns)
            formats = [_formatter(c, lang) for c in s.columns]
            body = [[f(v) for f, v in zip(formats, r)] for r in _body(s)]
            out.append(table(headers(s, lang), body, align=align))
        else:
            out.append(_empty(lang))
        out += [f"  * {markup.plain(n.get(lang))}" for n in s.notes]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: Report, lang: str) -> str:
    out = [f"# {_title(report, lang)}", ""]
    for s in report.sections:
        out += [f"## {s.title.get(lang)}", ""]
        if s.rows:
            out.append("| " + " | ".join(_md(h) for h in headers(s, lang)) + " |")
            out.append("|" + "|".join("---:" if c.kind in NUMERIC else "---" for c in s.columns) + "|")
            for r in s.rows:
                out.append("| " + " | ".join(_md(cell(v, c, lang)) for v, c in zip(r, s.columns)) + " |")
            if s.total is not None:
                out.append(
                    "| "
                    + " | ".join(
                        f"**{_md(cell(v, c, lang))}**" if v is not None else "" for v, c in zip(s.total, s.columns)
                    )
                    + " |"
                )
        else:
            out.append(_empty(lang))
        if s.notes:
            out.append("")
            out += [f"- {_md(n.get(lang))}" for n in s.notes]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def csv_value(value: Any, column: Column, lang: str) -> str:
    if value is None:
        return ""
    if isinstance(value, Label):
        return neutralise(value.get(lang))
    if column.kind == MONEY:
        return format((Decimal(value) / 1_000_000).normalize(), "f")
    if column.kind == RATE:
        return f"{value * 100:.1f}"
    if column.kind == "float":
        return f"{value:.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return neutralise(str(value)) if isinstance(value, str) else str(value)


def csv_header(column: Column, lang: str) -> str:
    label = column.label.get(lang)
    if column.kind == MONEY:
        return label + (" (million won)" if lang == "en" else " (백만원)")
    if column.kind == RATE:
        return label + " (%)"
    return label


def render_csv(report: Report, lang: str) -> str:
    """One table per section; several sections are separated by a blank line and a title row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    several = len(report.sections) > 1
    for index, s in enumerate(report.sections):
        if several:
            if index:
                writer.writerow([])
            writer.writerow([f"[{s.title.get(lang)}]"])
        writer.writerow([csv_header(c, lang) for c in s.columns])
        for r in _body(s):
            writer.writerow([csv_value(v, c, lang) for v, c in zip(r, s.columns)])
    return buffer.getvalue()
