"""Blackout windows: dates when a site cannot work (a polling station on election day, a festival).

A window applies to one project, one district or the whole programme. Due dates, latest starts and
forecasts treat its days like holidays: a due date on one rolls as it would off a holiday, and a
blackout day that would otherwise be a working day does not count towards a state's duration
(durations are calendar days observed with the ordinary weekends and holidays inside them, so only
the working days a blackout takes away stretch them). Pure: no storage, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from engine.errors import InvalidInput
from engine.values import clean_text

PROJECT = "project"
DISTRICT = "gu"
PROGRAMME = "all"
SCOPES = (PROJECT, DISTRICT, PROGRAMME)
MAX_DAYS = 366
"""A longer window is surely a typing mistake (a year typed wrong): refused."""

NO_DAYS: frozenset[dt.date] = frozenset()


@dataclass(frozen=True)
class Blackout:
    scope: str
    """``project`` (``target`` is its key), ``gu`` (``target`` is the district) or ``all``."""
    target: str | None
    start: dt.date
    end: dt.date
    """Inclusive."""
    reason: str
    id: int | None = None

    def days(self) -> Iterable[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    def describe(self) -> str:
        where = {PROJECT: f"project {self.target}", DISTRICT: f"district {self.target}", PROGRAMME: "every project"}
        span = self.start.isoformat() if self.start == self.end else f"{self.start} to {self.end}"
        return f"{span} for {where[self.scope]}: {self.reason}"


def new_blackout(scope: str, target: str | None, start: dt.date, end: dt.date, reason: str) -> Blackout:
    """A validated window (InvalidInput naming the option at fault otherwise)."""
    if scope not in SCOPES:
        raise InvalidInput(f"unknown blackout scope {scope!r} (one of {', '.join(SCOPES)})", field="scope")
    if scope != PROGRAMME:
        target = clean_text(target, "KEY" if scope == PROJECT else "--gu")
    else:
        target = None
    if end < start:
        raise InvalidInput(f"--to {end} is before --from {start}", field="--to")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a blackout of {(end - start).days + 1} days is longer than {MAX_DAYS}", field="--to")
    return Blackout(scope, target, start, end, clean_text(reason, "--reason", max_len=500))


class BlackoutIndex:
    """Which blackout days apply to a project: its own, its district's and the programme's.

    The same frozenset object is returned for every project with the same windows (most have none,
    or only their district's), so planners can key their caches on it cheaply.
    """

    def __init__(self, windows: Iterable[Blackout] = ()) -> None:
        self.windows = tuple(windows)
        self._programme: set[dt.date] = set()
        self._gu: dict[str, set[dt.date]] = {}
        self._key: dict[str, set[dt.date]] = {}
        for w in self.windows:
            if w.scope == PROGRAMME:
                self._programme.update(w.days())
            elif w.scope == DISTRICT:
                self._gu.setdefault(w.target or "", set()).update(w.days())
            else:
                self._key.setdefault(w.target or "", set()).update(w.days())
        self._memo: dict[tuple[str | None, str | None], frozenset[dt.date]] = {}

    def __bool__(self) -> bool:
        return bool(self.windows)

    def days_for(self, key: str, gu: str) -> frozenset[dt.date]:
        own = key if key in self._key else None
        ident = (own, gu if gu in self._gu else None)
        found = self._memo.get(ident)
        if found is None:
            days = set(self._programme)
            if ident[1] is not None:
                days |= self._gu[gu]
            if own is not None:
                days |= self._key[key]
            found = self._memo[ident] = frozenset(days) if days else NO_DAYS
        return found

    def windows_for(self, key: str, gu: str) -> list[Blackout]:
        return [w for w in self.windows if w.scope == PROGRAMME or (w.scope == DISTRICT and w.target == gu)
                or (w.scope == PROJECT and w.target == key)]
