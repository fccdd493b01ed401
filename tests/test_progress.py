"""render/progress.py: a bar on a terminal, nothing at all when stderr is piped."""

from __future__ import annotations

import io

import pytest

from render.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_with_its_label_and_count() -> None:
    out = Terminal()
    with progress(3000, "moving", stream=out) as bar:
        for _ in range(3):
            bar.advance(1000)
    assert bar.shown and bar.done == 3000
    assert "moving" in out.getvalue() and "3000/3000" in out.getvalue()


def test_piped_output_gets_nothing_not_even_the_label() -> None:
    out = io.StringIO()
    with progress(3000, "moving", stream=out) as bar:
        bar.advance(3000)
    assert out.getvalue() == "" and not bar.shown and bar.done == 3000


def test_small_work_shows_no_bar_and_unknown_totals_count_up() -> None:
    out = Terminal()
    with progress(10, "moving", stream=out) as bar:
        bar.advance(10)
    assert out.getvalue() == ""
    with progress(None, "scanning", stream=out) as bar:
        bar.advance(1500)
    assert "scanning" in out.getvalue() and "1500" in out.getvalue()


def test_the_bar_line_is_finished_when_the_block_fails() -> None:
    out = Terminal()
    with pytest.raises(RuntimeError), progress(5000, "moving", stream=out) as bar:
        bar.advance(100)
        raise RuntimeError("boom")
    assert out.getvalue().endswith("\n")


def test_an_unknown_total_shows_nothing_until_there_is_enough_work() -> None:
    out = Terminal()
    with progress(None, "checking", stream=out) as bar:
        bar.advance(999)
        assert out.getvalue() == "" and not bar.shown
        bar.advance(1)
        assert bar.shown
    assert "checking" in out.getvalue() and "1000" in out.getvalue()
