"""Terminal widths: the fast regular-expression measure agrees with unicodedata everywhere."""

from __future__ import annotations

import unicodedata

from render.table import table, width


def reference(text: str) -> int:
    total = 0
    for ch in text:
        if unicodedata.category(ch) == "Cn":
            total += 1
            continue
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def test_every_code_point_has_the_width_unicodedata_gives() -> None:
    wrong = [
        hex(c)
        for c in range(0x20, 0x40000)
        if not 0xD800 <= c <= 0xDFFF and width(chr(c)) != reference(chr(c))
    ]
    assert wrong == []


def test_korean_text_and_tables_line_up() -> None:
    assert width("2016-성동구-마장동") == len("2016--") + 2 * 6 == 18
    assert width("금호2·3가동") == reference("금호2·3가동")
    text = table(["키", "구"], [["2016-성동구-마장동", "성동구"], ["k", "영등포구"]], align="<<")
    header, rule, first, second = text.splitlines()
    starts = {width(line[: line.rindex(cell)]) for line, cell in ((header, "구"), (first, "성동구"), (second, "영등포구"))}
    assert starts == {len(rule.split("  ")[0]) + 2} == {20}
