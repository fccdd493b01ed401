"""Plain-text tables that stay aligned with Korean text.

Hangul and other East Asian wide characters take two terminal columns; padding by ``len()`` would
push every column after a Korean name out of line. Widths come from ``wcwidth`` (a maintained
library with its own Unicode tables, so every supported Python measures the same), and each distinct
text is measured once: the report's late list can have 100,000 rows of repeating districts and dates.

Ambiguous-width characters (East Asian Width "A", e.g. the middle dot in ``금호2·3가동``) take one
column in most terminals and two in a CJK-configured one (e.g. a Korean Windows console, or
``set ambiwidth=double`` in vim): ``DONGFLOW_AMBIGUOUS_WIDE=1`` counts them as two.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from wcwidth import wcswidth, wcwidth

AMBIGUOUS_ENV = "DONGFLOW_AMBIGUOUS_WIDE"
_seen: dict[str, int] = {}
_seen_ambiguous: list[int] = [0]


def ambiguous_width() -> int:
    """2 when ``DONGFLOW_AMBIGUOUS_WIDE`` is set to 1/true/yes/on, else 1."""
    return 2 if os.environ.get(AMBIGUOUS_ENV, "").strip().lower() in ("1", "true", "yes", "on") else 1


def width(text: str, ambiguous: int | None = None) -> int:
    """Terminal columns ``text`` takes (remembered: districts, stages and dates repeat down a table).
    ``ambiguous``: :func:`ambiguous_width`, when the caller has read it already (a table reads the
    setting once, not once per cell)."""
    if text.isascii() and text.isprintable():
        return len(text)
    if ambiguous is None:
        ambiguous = ambiguous_width()
    if ambiguous != _seen_ambiguous[0]:
        _seen.clear()
        _seen_ambiguous[0] = ambiguous
    found = _seen.get(text)
    if found is None:
        if len(_seen) > 200_000:
            _seen.clear()
        found = wcswidth(text, ambiguous_width=ambiguous)
        if found < 0:  # a control character: count the printable ones
            found = sum(max(0, wcwidth(ch, ambiguous_width=ambiguous)) for ch in text)
        _seen[text] = found
    return found


def pad(text: str, size: int, align: str = "<", ambiguous: int | None = None) -> str:
    fill = " " * max(0, size - width(text, ambiguous))
    return fill + text if align == ">" else text + fill


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None) -> str:
    """Render rows under headers; ``align`` is one character per column, ``<`` or ``>``.

    Works column by column: a column's distinct values are turned into text and measured once and
    padded once, so a 100,000-row listing costs a few dictionary lookups per cell.
    """
    aligns = align or "<" * len(headers)
    ambiguous = ambiguous_width()
    padded_columns: list[list[str]] = []
    sizes: list[int] = []
    for index, header in enumerate(headers):
        column = [v if type(v) is str and "\n" not in v else _cell(v) for v in (row[index] for row in rows)]
        widths = {text: width(text, ambiguous) for text in set(column)}
        size = max([width(header, ambiguous), *widths.values()])
        right = aligns[index] == ">"
        padded = {
            text: (" " * (size - w) + text) if right else (text + " " * (size - w))
            for text, w in widths.items()
        }
        padded_columns.append([padded[text] for text in column])
        sizes.append(size)
    head = "  ".join(pad(h, size, a, ambiguous) for h, size, a in zip(headers, sizes, aligns)).rstrip()
    lines = [head, "  ".join("-" * s for s in sizes)]
    lines += ["  ".join(cells).rstrip() for cells in zip(*padded_columns)] if padded_columns else []
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("\n", " ")
