"""The one light view of a stored project: what the deadline rules, the nightly check, the report and
the listings read, without building whole Project objects (storage.tracking reads it, with one
column list, ``TRACKED_COLUMNS``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class TrackedRow:
    """A project as the deadline rules see it (satisfies engine.deadlines.Tracked).

    First-entry times stay as stored (ISO text, or datetimes from PostgreSQL) until something needs
    them as times: the report decides most projects from the state names alone (``reached_text``),
    and ``reached`` is parsed once, on first use.
    """

    id: int | None
    key: str
    gu: str
    dong: str
    year: int
    workflow_id: str
    workflow_version: int
    state: str
    previous_state: str | None
    target: dt.date
    entered_at: dt.datetime
    reached_text: Mapping[str, Any]
    _reached: dict[str, dt.datetime] | None = field(default=None, repr=False)
    replayed: bool = False
    """Rebuilt from its events for a past date (storage.asof): state, entry and ``reached`` are those
    it had then, not the stored row's."""

    @property
    def reached(self) -> Mapping[str, dt.datetime]:
        found = self._reached
        if found is None:
            found = self._reached = {state: _moment(at) for state, at in self.reached_text.items()}
        return found


def _moment(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
