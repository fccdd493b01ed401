"""Corrections as events: undo the last transition, edit a project's identity or target, retire it.

Nothing is rewritten or deleted. Each correction is one more event in the project's history, with
who, when (recorded) and why (a note is required), so an auditor sees the mistake and its correction.
Pure domain: time comes in as ``now``; the use cases that read and write are in engine/amend.py.

Effective time (``Event.at``): a correction says that something was wrong from the start, so

* ``undone`` takes effect when the transition it undoes did (as of any later date the project is
  back where it was; as of an earlier date the move never happened);
* ``edited`` and ``retired`` take effect when the project was created (a rebuilt past shows the
  corrected district, dong, year, key and target; a retired project is in no rebuilt view).

The recorded time (``Event.recorded_at``) is when the correction was made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.errors import ChangeRefused, InvalidInput
from engine.project import CREATED, TRANSITION, Event, Project, replay

UNDONE = "undone"
EDITED = "edited"
RETIRED = "retired"
KINDS = (UNDONE, EDITED, RETIRED)
EDITABLE = ("key", "gu", "dong", "year", "target")
"""What ``project edit`` may change (``target`` is the project's completion target date)."""


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat()


def _moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def require_note(note: str | None) -> str:
    if note is None or not note.strip():
        raise InvalidInput("a correction needs a note saying why (--note)", field="note")
    return note.strip()


def check_live(project: Project, action: str) -> None:
    """Refuse any change to a retired project (it was entered by mistake; its record is closed)."""
    if project.retired_at is not None:
        raise ChangeRefused(project.key, f"cannot {action}: the project was retired on {project.retired_at.date()}")


# -- undo ------------------------------------------------------------------------------------------
def undo(project: Project, events: Sequence[Event], *, actor: str, now: dt.datetime, note: str) -> tuple[Project, Event]:
    """The project with its last transition reverted, and the ``undone`` event that records it.

    Refused when there is nothing to undo, when anything was recorded after the transition (a fact,
    a person, a budget line, another correction), or when the transition itself set facts (a counted
    tender failure): those depend on it. Entries recorded before it stay as they are.
    """
    check_live(project, "undo")
    if len(events) != project.version:
        raise ValueError(f"{project.key}: {len(events)} events for version {project.version}")
    last = events[-1]
    if last.kind != TRANSITION:
        transitions = [e for e in events if e.kind == TRANSITION]
        if not transitions:
            raise ChangeRefused(project.key, "nothing to undo: no transition has been recorded")
        if last.kind == UNDONE:
            raise ChangeRefused(project.key, f"nothing to undo: the last transition was undone already (event {last.seq})")
        what = last.data.get("name") if last.kind == "fact" else last.kind
        raise ChangeRefused(
            project.key,
            f"cannot undo transition {transitions[-1].seq} ({transitions[-1].trigger}): event {last.seq} "
            f"({what}) was recorded after it and depends on it",
        )
    if last.data.get("facts"):
        changed = ", ".join(f"{k}={v}" for k, v in last.data["facts"].items())
        raise ChangeRefused(
            project.key, f"cannot undo transition {last.seq} ({last.trigger}): it set facts ({changed})"
        )
    before = replay(events[:-1])
    event = Event(
        key=project.key,
        seq=project.version + 1,
        kind=UNDONE,
        from_state=project.state,
        to_state=before.state,
        actor=actor,
        at=last.at,
        note=note,
        data={
            "undoes": last.seq,
            "trigger": last.trigger,
            "previous_state": before.previous_state,
            "entered_at": _iso(before.entered_at),
            "reached": {state: _iso(at) for state, at in before.reached.items()},
        },
        recorded_at=now,
    )
    updated = replace(
        project,
        state=before.state,
        previous_state=before.previous_state,
        entered_at=before.entered_at,
        reached=dict(before.reached),
        version=project.version + 1,
    )
    return updated, event


def undone_snapshot(event: Event) -> tuple[str, str | None, dt.datetime, dict[str, dt.datetime]]:
    """What an ``undone`` event restores: state, previous state, when it was entered, first entries."""
    data = event.data
    reached = {state: _moment(at) for state, at in data.get("reached", {}).items()}
    return event.to_state, data.get("previous_state"), _moment(data["entered_at"]), reached


# -- edit ------------------------------------------------------------------------------------------
def _stored(name: str, value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def edit(
    project: Project, changes: Mapping[str, Any], *, actor: str, now: dt.datetime, note: str
) -> tuple[Project, Event]:
    """The project with ``changes`` (typed values of :data:`EDITABLE`) applied, and its ``edited``
    event (old and new values in its data). Values equal to the current ones are not changes."""
    check_live(project, "edit it")
    current = {"key": project.key, "gu": project.gu, "dong": project.dong, "year": project.year,
               "target": project.target}
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    real = {name: value for name, value in changes.items() if value is not None and value != current[name]}
    if not real:
        raise InvalidInput("nothing to change: give at least one new value (--gu, --dong, --year, --target, --key)")
    year = real.get("year", project.year)
    target = real.get("target", project.target)
    if target.year < year:
        raise InvalidInput(f"target {target} is before the cohort year {year}", field="target")
    created = project.created_at or project.entered_at
    event = Event(
        key=real.get("key", project.key),
        seq=project.version + 1,
        kind=EDITED,
        from_state=project.state,
        to_state=project.state,
        actor=actor,
        at=created,
        note=note,
        data={
            "old": {name: _stored(name, current[name]) for name in real},
            "new": {name: _stored(name, value) for name, value in real.items()},
        },
        recorded_at=now,
    )
    return replace(project, **real, version=project.version + 1), event


def edited_values(event: Event) -> dict[str, Any]:
    """The new values of an ``edited`` event, typed as on :class:`Project` (``target`` a date)."""
    out = dict(event.data.get("new", {}))
    if "target" in out:
        out["target"] = dt.date.fromisoformat(out["target"])
    return out


# -- retire ----------------------------------------------------------------------------------------
def retire(project: Project, *, actor: str, now: dt.datetime, note: str) -> tuple[Project, Event]:
    """The project retired (entered by mistake) and its ``retired`` event."""
    check_live(project, "retire it again")
    created = project.created_at or project.entered_at
    event = Event(
        key=project.key,
        seq=project.version + 1,
        kind=RETIRED,
        from_state=project.state,
        to_state=project.state,
        actor=actor,
        at=created,
        note=note,
        data={"state": project.state},
        recorded_at=now,
    )
    return replace(project, retired_at=now, version=project.version + 1), event


def describe(event: Event) -> str | None:
    """A correction in words for ``history`` (None: not a correction)."""
    if event.kind == UNDONE:
        return f"undo #{event.data.get('undoes')} ({event.data.get('trigger')}): {event.from_state} -> {event.to_state}"
    if event.kind == EDITED:
        old, new = event.data.get("old", {}), event.data.get("new", {})
        return ", ".join(f"{name}: {old.get(name)} -> {new.get(name)}" for name in new)
    if event.kind == RETIRED:
        return f"retired (was in {event.data.get('state')})"
    return None


__all__ = ["CREATED", "EDITABLE", "EDITED", "KINDS", "RETIRED", "UNDONE", "check_live", "describe", "edit",
           "edited_values", "require_note", "retire", "undo", "undone_snapshot"]
