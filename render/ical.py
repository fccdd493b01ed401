"""Calendar feeds (iCalendar, RFC 5545) written with the maintained ``icalendar`` library.

One all-day event per open milestone (its due date) and per latest start still ahead; UIDs are made
of the project's id (never its key, which can be edited) and what the event marks
(engine.planning_service.event_uid), so importing a newer feed updates the events instead of
duplicating them. The calendar says it is Asia/Seoul's (``X-WR-TIMEZONE`` and a ``VTIMEZONE``), and
the dates are Seoul dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

PRODID = "-//dongflow//planning calendar//KO"


def calendar_bytes(events: Iterable[Any], *, name: str, now: dt.datetime, tz_name: str = "Asia/Seoul") -> bytes:
    """The .ics file of ``events`` (engine.planning_service.CalendarEvent)."""
    from icalendar import Calendar, Event, Timezone

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", tz_name)
    cal.add_component(Timezone.from_tzid(tz_name))
    stamp = now.astimezone(dt.timezone.utc).replace(microsecond=0)
    for e in events:
        ev = Event()
        ev.add("uid", e.uid)
        ev.add("dtstamp", stamp)
        ev.add("dtstart", e.day)
        ev.add("dtend", e.day + dt.timedelta(days=1))
        ev.add("summary", e.summary)
        ev.add("description", e.description)
        ev.add("categories", [e.kind])
        ev.add("transp", "TRANSPARENT")
        cal.add_component(ev)
    return cal.to_ical()
