"""The one check behind every number and date dongflow reads (engine.values.digits_problem), and the
doors that are files: workflow YAML (due offsets, month-days, guard literals) and the alert config.
The CLI, CSV, form and API doors are in programme_tests/test_ascii_digits_cli.py and
web/test_ascii_digits_web.py."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from engine.errors import InvalidInput, WorkflowDefinitionError
from engine.loader import load_text
from engine.values import (
    digits_problem,
    parse_clock,
    parse_date,
    parse_datetime,
    parse_year,
    whole_number,
)
from support import DATA

DIGITS = ["３", "２０１６", "٣", "²"]
MINI = (DATA / "workflows" / "good" / "mini.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("text", ["３", "２０１６", "٣", "²", "½", "໓", "𝟑", "2016-0３-01", "1²"])
def test_digits_other_than_0_to_9_are_named(text: str) -> None:
    assert digits_problem(text) == f"{text!r} is not written with the digits 0-9"


@pytest.mark.parametrize("text", ["", "2016", "-92d", "2016-03-01T10:00+09:00", "3,000원", "abc", "마장동"])
def test_ascii_digits_and_other_text_pass(text: str) -> None:
    assert digits_problem(text) is None


def test_a_long_value_is_shortened_in_the_message() -> None:
    problem = digits_problem("３" * 500)
    assert problem is not None and len(problem) < 120


@pytest.mark.parametrize("digits", DIGITS)
def test_every_parser_refuses_them_naming_the_field(digits: str) -> None:
    seoul = ZoneInfo("Asia/Seoul")
    for parse, field in (
        (lambda: parse_year(digits, "--year"), "--year"),
        (lambda: parse_year(f"20{digits}", "year"), "year"),
        (lambda: whole_number(digits, "--limit", minimum=1), "--limit"),
        (lambda: parse_date(f"{digits}-03-01", "--as-of"), "--as-of"),
        (lambda: parse_date(f"2016-03-0{digits}", "date"), "date"),
        (lambda: parse_datetime(f"{digits}-03-01T10:00", seoul, "--at"), "--at"),
        (lambda: parse_clock(f"0{digits}:00", "--at"), "--at"),
    ):
        with pytest.raises(InvalidInput) as info:
            parse()
        assert info.value.field == field
        assert str(info.value).startswith(f"{field}: '") and "is not written with the digits 0-9" in str(info.value)


def test_ascii_values_still_parse() -> None:
    assert parse_year(" 2016 ") == 2016 and parse_year(2016) == 2016
    assert whole_number("+7", "n") == 7
    assert parse_date("2016.03.01") == dt.date(2016, 3, 1)
    assert parse_clock("2:05", "--at") == (2, 5)


@pytest.mark.parametrize("digits", DIGITS)
def test_numbers_in_a_workflow_file_take_only_the_digits_0_to_9(digits: str) -> None:
    for old, new, line in (
        ("due: -30d", f"due: -{digits}d", 30),
        ('due: "07-01"', f'due: "0{digits}-01"', 7),
        ("meetings >= 1", f"meetings >= {digits}", 23),
    ):
        text = MINI.replace(old, new)
        assert text != MINI
        with pytest.raises(WorkflowDefinitionError) as info:
            load_text(text, "w.yaml")
        assert info.value.line == line, (new, str(info.value))
        assert "is not written with the digits 0-9" in str(info.value)


@pytest.mark.parametrize("digits", DIGITS)
def test_fact_values_take_only_the_digits_0_to_9(digits: str) -> None:
    from engine.definition import FactSpec, Label

    for kind in ("integer", "number", "date"):
        spec = FactSpec("n", kind, None, Label("n", "n"))
        with pytest.raises(InvalidInput) as info:
            spec.parse(digits if kind != "date" else f"{digits}-01-01")
        assert str(info.value).startswith("fact n: '") and "digits 0-9" in str(info.value)
    assert FactSpec("n", "number", None, Label("n", "n")).parse("3.5") == 3.5
    with pytest.raises(InvalidInput):
        FactSpec("n", "number", None, Label("n", "n")).parse("1_0.5")


@pytest.mark.parametrize("digits", DIGITS)
def test_the_alert_config_time_takes_only_the_digits_0_to_9(digits: str) -> None:
    from notify.config import parse_config

    with pytest.raises(InvalidInput) as info:
        parse_config(f'[scheduler]\ntime = "0{digits}:00"\n[[channels]]\ntype = "console"\n', "c.toml")
    assert str(info.value) == f"c.toml: scheduler.time: '0{digits}:00' is not written with the digits 0-9"


def test_the_busy_timeout_takes_only_the_digits_0_to_9(monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.db import busy_timeout_s

    monkeypatch.setenv("DONGFLOW_BUSY_TIMEOUT", "３")
    with pytest.raises(InvalidInput, match="DONGFLOW_BUSY_TIMEOUT: '３' is not written with the digits 0-9"):
        busy_timeout_s()
