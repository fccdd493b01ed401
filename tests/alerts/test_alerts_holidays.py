"""Business-day rules: a due date on a weekend or a Korean public holiday moves to the previous
working day; the workflow file's ``extra_holidays``, ``working_days`` and ``roll`` change that."""

from __future__ import annotations

import datetime as dt

import pytest
from alertkit import SEOUL

from engine.deadlines import DeadlinePlanner
from engine.definition import Calendar
from engine.errors import WorkflowDefinitionError
from engine.loader import load_text
from engine.workdays import WorkCalendar

D = dt.date


def workflow_text(due: str, calendar: str = "  country: KR\n  roll: previous\n") -> str:
    return f"""\
id: holiday-test
version: 1
title: {{ko: 휴일 시험, en: Holiday test}}
target:
  state: done
  due: "12-31"
calendar:
{calendar}states:
  - id: start
    initial: true
    expected_days: 1
  - id: done
    final: true
transitions:
  - trigger: finish
    source: start
    dest: done
milestones:
  - id: m
    state: done
    due: "{due}"
"""


def due_date(due: str, year: int, calendar: str = "  country: KR\n  roll: previous\n") -> dt.date:
    workflow = load_text(workflow_text(due, calendar), "holiday-test.yaml")
    planner = DeadlinePlanner(workflow, SEOUL)
    [(_milestone, day)] = planner.dues(D(year, 12, 31), year)
    return day


@pytest.mark.parametrize(
    ("year", "due", "expected", "why"),
    [
        (2016, "02-11", D(2016, 2, 11), "an ordinary Thursday stays"),
        (2016, "05-01", D(2016, 4, 29), "Sunday -> Friday"),
        (2016, "04-30", D(2016, 4, 29), "Saturday -> Friday"),
        (2016, "02-10", D(2016, 2, 5), "substitute holiday for 설날 (10 Feb), then 설날 7-9 Feb and the weekend"),
        (2016, "02-08", D(2016, 2, 5), "설날 itself"),
        (2016, "05-06", D(2016, 5, 4), "temporary holiday 6 May, then Children's Day 5 May"),
        (2016, "09-16", D(2016, 9, 13), "추석 block 14-16 Sep"),
        (2016, "04-13", D(2016, 4, 12), "National Assembly election day"),
        (2016, "06-06", D(2016, 6, 3), "Memorial Day (Monday) and the weekend before it"),
        (2017, "10-06", D(2017, 9, 29), "추석 2017: 2-6 Oct (temporary, foundation day, 추석, substitute) and a weekend"),
        (2017, "01-30", D(2017, 1, 26), "substitute holiday for 설날 2017, 27-29 Jan"),
        (2017, "05-09", D(2017, 5, 8), "presidential election day 2017"),
    ],
)
def test_a_due_date_on_a_day_off_moves_to_the_previous_working_day(year, due, expected, why) -> None:
    assert due_date(due, year) == expected, why


def test_roll_none_keeps_the_date() -> None:
    assert due_date("02-10", 2016, "  country: KR\n  roll: none\n") == D(2016, 2, 10)
    assert due_date("05-01", 2016, "  country: KR\n  roll: none\n") == D(2016, 5, 1)


def test_without_a_country_only_weekends_are_days_off() -> None:
    assert due_date("02-10", 2016, "  roll: previous\n") == D(2016, 2, 10)
    assert due_date("02-07", 2016, "  roll: previous\n") == D(2016, 2, 5)


def test_extra_holidays_in_the_workflow_file_are_days_off() -> None:
    calendar = '  country: KR\n  roll: previous\n  extra_holidays: ["2016-02-05", "2016-02-04"]\n'
    assert due_date("02-10", 2016, calendar) == D(2016, 2, 3)
    assert due_date("02-11", 2016, '  country: KR\n  extra_holidays: ["2016-02-11"]\n') == D(2016, 2, 5)


def test_working_days_in_the_workflow_file_override_the_holiday_list() -> None:
    calendar = '  country: KR\n  roll: previous\n  working_days: ["2016-02-10"]\n'
    assert due_date("02-10", 2016, calendar) == D(2016, 2, 10)
    # A Saturday declared a working day is one too.
    assert due_date("02-06", 2016, '  country: KR\n  working_days: ["2016-02-06"]\n') == D(2016, 2, 6)


def test_the_shipped_calendar_rules_are_applied_to_relative_milestones() -> None:
    """-61d from 1 July 2016 is Sunday 1 May: the shipped workflow's works_started is due 29 April."""
    from workflows import SHIPPED_DIR

    text = (SHIPPED_DIR / "space-improvement.yaml").read_text(encoding="utf-8")
    shipped = DeadlinePlanner(load_text(text, "shipped.yaml"), SEOUL)
    assert dict((m.id, d) for m, d in shipped.dues(D(2016, 7, 1), 2016))["works_started"] == D(2016, 4, 29)
    kept = DeadlinePlanner(load_text(text.replace("roll: previous", "roll: none"), "none.yaml"), SEOUL)
    assert dict((m.id, d) for m, d in kept.dues(D(2016, 7, 1), 2016))["works_started"] == D(2016, 5, 1)


def test_holiday_names_and_working_days() -> None:
    cal = WorkCalendar(Calendar(country="KR", roll="previous", extra_holidays=(D(2016, 3, 2),)))
    assert not cal.is_working_day(D(2016, 2, 10))
    assert cal.holiday_name(D(2016, 2, 10))  # the package's name for it (its language depends on the version)
    assert cal.holiday_name(D(2016, 3, 2)) == "holiday (workflow calendar)"
    assert cal.is_working_day(D(2016, 2, 11))
    assert cal.holiday_name(D(2016, 2, 11)) is None


def test_an_unknown_roll_rule_is_refused_with_its_line() -> None:
    with pytest.raises(WorkflowDefinitionError) as info:
        load_text(workflow_text("02-10", "  country: KR\n  roll: sideways\n"), "bad.yaml")
    assert "bad.yaml:9" in str(info.value) and "roll" in str(info.value)
