"""Working days: weekends, public holidays, and the workflow's own additions and removals.

Korean public holidays come from the ``holidays`` package (country KR: 설날 and 추석 as three-day
blocks, substitute holidays, one-off temporary holidays and election days). A workflow file can add
dates (a city's own closure) and remove dates the package lists but offices keep open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache

from engine.definition import Calendar
from engine.errors import InvalidInput


HolidaySource = Callable[[str, int], frozenset[dt.date]]
"""Public holidays of a country in a year (the CLI passes a cached one: the package takes 0.1 s to import)."""


@lru_cache(maxsize=64)
def package_holidays(country: str, year: int) -> frozenset[dt.date]:
    import holidays

    try:
        return frozenset(holidays.country_holidays(country, years=year).keys())
    except NotImplementedError:
        raise InvalidInput(f"the holidays package does not know country {country!r}", field="calendar country") from None


class WorkCalendar:
    def __init__(self, calendar: Calendar, holidays: HolidaySource | None = None) -> None:
        self.calendar = calendar
        self._extra = frozenset(calendar.extra_holidays)
        self._open = frozenset(calendar.working_days)
        self._holidays = holidays or package_holidays
        self._years: dict[int, frozenset[dt.date]] = {}

    def _public_holidays(self, year: int) -> frozenset[dt.date]:
        found = self._years.get(year)
        if found is None:
            assert self.calendar.country is not None
            found = self._years[year] = self._holidays(self.calendar.country, year)
        return found

    def holiday_name(self, day: dt.date) -> str | None:
        if day in self._open:
            return None
        if day in self._extra:
            return "holiday (workflow calendar)"
        if self.calendar.country is None:
            return None
        if day not in self._public_holidays(day.year):
            return None
        import holidays

        return str(holidays.country_holidays(self.calendar.country, years=day.year).get(day))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self._open:
            return True
        if day.weekday() >= 5 or day in self._extra:
            return False
        if self.calendar.country is None:
            return True
        return day not in self._public_holidays(day.year)

    def roll(self, day: dt.date, off: frozenset[dt.date] = frozenset()) -> dt.date:
        """Move a due date that falls on a day off (or a blackout day in ``off``), as the workflow's
        ``roll`` rule says."""
        if self.calendar.roll == "none":
            return day
        step = dt.timedelta(days=-1 if self.calendar.roll == "previous" else 1)
        for _ in range(60 + len(off)):
            if self.is_working_day(day) and day not in off:
                return day
            day += step
        return day
