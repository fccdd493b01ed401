"""Plain-text tables that stay aligned with Korean text.

Hangul and other East Asian wide characters take two terminal columns; padding by ``len()`` would
push every column after a Korean name out of line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def width(text: str) -> int:
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def pad(text: str, size: int, align: str = "<") -> str:
    fill = " " * max(0, size - width(text))
    return fill + text if align == ">" else text + fill


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """Render rows under headers; ``align`` is one character per column, ``<`` or ``>``."""
    cells = [[_cell(v) for v in row] for row in rows]
    sizes = [width(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            sizes[i] = max(sizes[i], width(cell))
    aligns = align or "<" * len(headers)
    lines = [
        "  ".join(pad(h, sizes[i], aligns[i]) for i, h in enumerate(headers)).rstrip(),
        "  ".join("-" * s for s in sizes),
    ]
    for row in cells:
        lines.append("  ".join(pad(c, sizes[i], aligns[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\n", " ")
