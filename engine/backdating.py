"""The rules for dating an event: one place, for every command that records something.

Every event has two times: when it took effect (``at``: the meeting was held, the tender was
announced) and when it was entered (``recorded_at``: the clock at the keyboard). ``--at`` sets the
first; the second is always now. The rules for ``at``:

1. not in the future (a few minutes of clock skew are tolerated);
2. not before the project was created (the ``at`` of its creation event);
3. an event that changes the state (a transition) not before the latest one that did (a
   transition or a migration; an undone transition does not count: it and its undo cancel out),
   so the states of a history follow each other in date order;
4. a transition is checked against the facts as they stood at its ``at``: it cannot be dated
   before the meeting its guard needs;
5. a fact set by hand not before the latest time the same fact was set (by hand, or counted by a
   transition such as ``tender_failed``), so its value now is the value the dated history ends
   with; likewise a transition that counts a fact is not dated before that fact was last set.
   (Counts raised by participation add up in any order.)
6. a fact set by hand not before the project's latest change of state: the transitions recorded
   so far fired on the facts as they stood, and a value dated before one of them would rewrite
   what its guards read.

Pure: the time is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from engine.display import show_time
from engine.errors import InvalidInput

if TYPE_CHECKING:
    from engine.project import Event, Project

CLOCK_SKEW = dt.timedelta(minutes=5)
"""How far ahead of the server's clock an ``at`` may be (another machine's clock a little ahead)."""

STATE_CHANGING: set[str] = {"transition", "migrated"}
"""Kinds of event that change a project's state (others add theirs)."""


def check_at(
    project: Project | None, at: dt.datetime, now: dt.datetime, *, kind: str | None = None, field: str = "at"
) -> None:
    """Refuse an effective time ``at`` that breaks rules 1-3 for an event of ``kind`` on ``project``
    (None: the project's own creation)."""
    if at > now + CLOCK_SKEW:
        raise InvalidInput(f"{show_time(at)} is in the future", field=field)
    if project is None:
        return
    if kind in STATE_CHANGING and at < project.entered_at:
        raise InvalidInput(
            f"{show_time(at)} is before the project entered its current state ({show_time(project.entered_at)})",
            field=field,
        )
    created = project.created_at or project.entered_at
    if at < created:
        raise InvalidInput(f"{show_time(at)} is before the project was created ({show_time(created)})", field=field)


def state_changes(events: Iterable[Event]) -> list[Event]:
    """The events that changed the project's state and still stand: an undone transition (``dongflow
    undo``) does not, so a move recorded at the wrong date can be undone and recorded again earlier."""
    from engine.project import undone_transitions

    events = list(events)
    void = undone_transitions(events)
    return [e for e in events if e.kind in STATE_CHANGING and e.seq not in void]


def check_state_order(events: Iterable[Event], at: dt.datetime, field: str = "at") -> None:
    """Rule 3 against every state-changing event (a migration keeps the entry time of the state, so
    ``entered_at`` alone does not show it)."""
    latest = max((e.at for e in state_changes(events)), default=None)
    if latest is not None and at < latest:
        raise InvalidInput(
            f"{show_time(at)} is before the project's latest change of state ({show_time(latest)})", field=field
        )


def check_fact_order(events: Iterable[Event], name: str, at: dt.datetime, field: str = "at") -> None:
    """Rule 5: a hand-set fact may not be dated before the latest time the same fact was set."""
    latest: dt.datetime | None = None
    for e in events:
        by_hand = e.kind == "fact" and e.data.get("name") == name and e.data.get("delta") is None
        counted = e.kind in STATE_CHANGING and name in (e.data.get("facts") or {})  # e.g. failed_tenders
        if by_hand or counted:
            latest = e.at if latest is None else max(latest, e.at)
    if latest is not None and at < latest:
        raise InvalidInput(
            f"{show_time(at)} is before {name} was last set ({show_time(latest)}); "
            f"a value dated earlier would not be its value now",
            field=field,
        )


def check_fact_dating(events: Iterable[Event], name: str, at: dt.datetime, field: str = "at") -> None:
    """Rules 5 and 6 for a fact set by hand at ``at``."""
    events = list(events)
    check_fact_order(events, name, at, field)
    latest = max((e.at for e in state_changes(events)), default=None)
    if latest is not None and at < latest:
        raise InvalidInput(
            f"{show_time(at)} is before the project's latest change of state ({show_time(latest)}); the guards "
            f"of that change read {name} as it stood then",
            field=field,
        )


def is_backdated(at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether ``at`` lies clearly before ``now`` (only then can later-dated events exist)."""
    return at is not None and at < now - CLOCK_SKEW
