"""Spreadsheet cells that never become formulas (CSV and XLSX downloads, the report's too).

A text that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some programs
skip before looking) would be read by a spreadsheet as a formula: it gets a leading apostrophe, the
OWASP advice against CSV injection. Numbers, dates and empty values are left as they are.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` unchanged, unless it is a text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
