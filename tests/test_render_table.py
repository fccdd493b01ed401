"""Terminal widths from wcwidth (the same on every supported Python), and the ambiguous-width setting."""

from __future__ import annotations

import pytest

from render.table import table, width


@pytest.mark.parametrize(("text", "columns"), [
    ("abc", 3), ("성동구", 6), ("2016-성동구-마장동", 18), ("e\u0301", 1), ("\u200b", 0),
    ("ｱ", 1), ("Ａ", 2), ("漢字", 4), ("\U0001f600", 2), ("금호2·3가동", 11),
])
def test_widths_of_narrow_wide_combining_and_emoji_text(text: str, columns: int) -> None:
    assert width(text) == columns


def test_ambiguous_characters_are_wide_when_the_terminal_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    assert width("금호2·3가동") == 11
    monkeypatch.setenv("DONGFLOW_AMBIGUOUS_WIDE", "1")
    assert width("금호2·3가동") == 12 and width("성동구") == 6 and width("abc") == 3
    lines = table(["동", "구"], [["금호2·3가동", "성동구"], ["마장동", "성동구"]]).splitlines()
    assert {width(line[: line.rindex("성동구")]) for line in lines[2:]} == {14}
    monkeypatch.setenv("DONGFLOW_AMBIGUOUS_WIDE", "0")
    assert width("금호2·3가동") == 11


def test_korean_text_and_tables_line_up() -> None:
    assert width("2016-성동구-마장동") == len("2016--") + 2 * 6 == 18
    text = table(["키", "구"], [["2016-성동구-마장동", "성동구"], ["k", "영등포구"]], align="<<")
    header, rule, first, second = text.splitlines()
    starts = {width(line[: line.rindex(cell)]) for line, cell in ((header, "구"), (first, "성동구"), (second, "영등포구"))}
    assert starts == {len(rule.split("  ")[0]) + 2} == {20}
