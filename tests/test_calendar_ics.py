"""The .ics writer: valid iCalendar (parsed by vobject, an independent parser), icalendar's own
round trip, all-day events on Seoul dates, stable UIDs."""

from __future__ import annotations

import datetime as dt

from engine.planning_service import CalendarEvent
from render.ical import calendar_bytes

NOW = dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc)


def events() -> list[CalendarEvent]:
    return [
        CalendarEvent("2016-성동구-마장동/milestone/completed@dongflow", "2016-성동구-마장동", "성동구", "마장동",
                      dt.date(2016, 7, 1), "milestone", "completed", "[성동구 마장동] 준공 기한", "준공; 쉼표, 세미콜론;"),
        CalendarEvent("2016-성동구-마장동/start/tender@dongflow", "2016-성동구-마장동", "성동구", "마장동",
                      dt.date(2016, 4, 14), "latest_start", "tender", "[성동구 마장동] 발주 착수 시한",
                      "발주는 늦어도 2016-04-14 시작 " + "긴 설명 " * 40),
    ]


def test_the_file_parses_with_an_independent_parser_and_round_trips() -> None:
    import icalendar
    import vobject

    data = calendar_bytes(events(), name="dongflow 성동구", now=NOW)
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded as RFC 5545 says
    cal = vobject.readOne(data.decode("utf-8"))
    parsed = [(e.uid.value, e.dtstart.value, e.dtend.value, e.summary.value, e.description.value)
              for e in cal.contents["vevent"]]
    assert parsed == [(e.uid, e.day, e.day + dt.timedelta(days=1), e.summary, e.description) for e in events()]
    assert cal.contents["x-wr-timezone"][0].value == "Asia/Seoul"
    assert cal.vtimezone.tzid.value == "Asia/Seoul"
    again = icalendar.Calendar.from_ical(data)
    assert again.to_ical() == data
    assert [e.decoded("dtstart") for e in again.walk("VEVENT")] == [dt.date(2016, 7, 1), dt.date(2016, 4, 14)]
    # Made again later: the same UIDs and events; only the stamp moves.
    later = calendar_bytes(events(), name="dongflow 성동구", now=NOW + dt.timedelta(days=1))
    strip = lambda b: [line for line in b.split(b"\r\n") if not line.startswith(b"DTSTAMP")]  # noqa: E731
    assert strip(later) == strip(data)
