"""The alert lifecycle in SQL: what the nightly check does after recording new alerts, and the
writes behind ``alerts ack``, ``alerts snooze`` and the reads behind ``alerts show``.

The nightly part (:func:`make_sweep`) runs inside the check's transaction, fenced by its lease:

1. an active alert whose (project, milestone) the check no longer finds is **resolved** (its
   milestone was met, the project closed, or it is no longer at risk); with ``resolved_notice``
   its recipients get a "resolved" notice. One that a more severe alert of the same milestone
   replaced is **superseded** (overdue replaces due soon, escalated replaces overdue). A resolved
   alert found again later (at risk again) is **reopened**, with a reminder;
2. snoozes that end, **reminders** and the **escalation** to the programme office, as decided by
   the pure :func:`engine.alerting.sweep`;
3. a destination (channel, recipient) seen for the first time gets a **digest** of the open alerts
   it would have received, once -- not the whole past.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from engine.alerting import (
    ACKNOWLEDGED,
    ACTIVE,
    CLOSED_RESOLVED,
    DIGEST,
    ESCALATION,
    OPEN,
    REMINDER,
    RESOLVED,
    SNOOZED,
    SUPERSEDED,
    AlertState,
    Lifecycle,
    Route,
    destinations,
    sweep,
)
from engine.deadlines import SEVERITY, Finding
from engine.errors import ConflictError, NotFound
from storage.alerts import FACT_COLUMNS, AlertFacts
from storage.repository import P
from storage.tables import AlertEventRow, AlertRow, DeliveryRow, DestinationRow
from storage.tracking import TrackedRow

A = AlertRow.__table__  # type: ignore[attr-defined]
D = DeliveryRow.__table__  # type: ignore[attr-defined]
E = AlertEventRow.__table__  # type: ignore[attr-defined]
DEST = DestinationRow.__table__  # type: ignore[attr-defined]

SYSTEM = "dongflow"
"""The actor of what the nightly check does by itself."""


def make_sweep(
    routes: Sequence[Route], rules: Lifecycle, is_working_day: Callable[[dt.date], bool]
) -> Callable[[Connection, list[tuple[TrackedRow, Finding]], dt.date, dt.datetime, frozenset[int] | None],
              dict[str, int]]:
    """The nightly lifecycle step (storage.alerts.Sweep): ``scope`` names the projects whose alerts the
    findings speak for (an incremental check's, storage/check_marks.py); None: every project."""

    def run(conn: Connection, found: list[tuple[TrackedRow, Finding]], as_of: dt.date, now: dt.datetime,
            scope: frozenset[int] | None = None) -> dict[str, int]:
        done = _resolve(conn, found, routes, rules, as_of, now, scope)
        done.update(_remind_and_escalate(conn, routes, rules, is_working_day, as_of, now))
        done["digests"] = _digests(conn, routes, now)
        return done

    return run


def _event(alert_id: int, kind: str, now: dt.datetime, as_of: dt.date | None, note: str | None = None,
           actor: str = SYSTEM) -> dict[str, Any]:
    return {"alert_id": alert_id, "kind": kind, "actor": actor, "at": now, "as_of": as_of, "note": note}


def _delivery(alert_id: int, channel: str, recipient: str, kind: str, round_: int, now: dt.datetime) -> dict[str, Any]:
    return {"alert_id": alert_id, "channel": channel, "recipient": recipient, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "kind": kind, "round": round_}


def _set_state(conn: Connection, ids: list[int], state: str, now: dt.datetime) -> None:
    if ids:
        conn.execute(update(A).where(A.c.id == bindparam("aid")).values(state=state, state_at=now),
                     [{"aid": i} for i in ids])


def _scoped(conn: Connection, stmt: Any, scope: frozenset[int] | None) -> list[Any]:
    """Rows of ``stmt`` (over alerts), only those of the projects in ``scope`` unless it is None: an
    incremental check (storage/check_marks.py) speaks only for the projects it assessed."""
    if scope is None:
        return conn.execute(stmt).all()
    ids = sorted(scope)
    out: list[Any] = []
    for start in range(0, len(ids), 900):
        out.extend(conn.execute(stmt.where(A.c.project_id.in_(ids[start:start + 900]))).all())
    return out


def _resolve(conn: Connection, found: list[tuple[TrackedRow, Finding]], routes: Sequence[Route], rules: Lifecycle,
             as_of: dt.date, now: dt.datetime, scope: frozenset[int] | None = None) -> dict[str, int]:
    worst: dict[tuple[int, str], int] = {}
    for row, f in found:
        ident = (row.id, f.milestone)
        worst[ident] = max(worst.get(ident, 0), SEVERITY[f.level])
    active = _scoped(conn, select(A.c.id, A.c.project_id, A.c.milestone, A.c.level)
                     .where(A.c.state.in_(ACTIVE), A.c.as_of <= as_of), scope)
    resolved, superseded = [], []
    for alert_id, project_id, milestone, level in active:
        severity = worst.get((project_id, milestone))
        if severity is None:
            resolved.append(alert_id)
        elif severity > SEVERITY[level]:
            superseded.append(alert_id)
    reopened = _reopen(conn, found, routes, as_of, now, scope)
    _set_state(conn, resolved, CLOSED_RESOLVED, now)
    _set_state(conn, superseded, SUPERSEDED, now)
    events = [_event(i, "resolved", now, as_of, "milestone met, project closed or no longer at risk") for i in resolved]
    events += [_event(i, "superseded", now, as_of, "a more severe alert of the same milestone replaces it") for i in superseded]
    if events:
        conn.execute(insert(E), events)
    notices = 0
    if rules.resolved_notice and resolved:
        got = set()
        # An alert resolved, reopened and resolved again gets a notice each time: round 0, 1, ... (the
        # times it was resolved before), each a message of its own.
        times: dict[int, int] = {}
        for start in range(0, len(resolved), 900):
            chunk = resolved[start:start + 900]
            got.update(conn.execute(
                select(D.c.alert_id, D.c.channel, D.c.recipient).distinct()
                .where(D.c.alert_id.in_(chunk), D.c.status == "sent", D.c.kind != RESOLVED)
            ).all())
            times.update(conn.execute(select(E.c.alert_id, func.count())
                                      .where(E.c.alert_id.in_(chunk), E.c.kind == "resolved")
                                      .group_by(E.c.alert_id)).all())
        wanted = {(r.channel, r.recipient) for r in routes}
        rows = [_delivery(a, c, r, RESOLVED, times.get(a, 1) - 1, now) for a, c, r in sorted(got) if (c, r) in wanted]
        if rows:
            conn.execute(insert(D), rows)
        notices = len(rows)
    return {"resolved": len(resolved), "superseded": len(superseded), "resolved_notices": notices, "reopened": reopened}


def _reopen(conn: Connection, found: list[tuple[TrackedRow, Finding]], routes: Sequence[Route], as_of: dt.date,
            now: dt.datetime, scope: frozenset[int] | None = None) -> int:
    """A resolved alert found again on a later as-of date (a project at risk, back on track after a
    step, then at risk again as time passes) is open again, and its recipients are reminded of it.
    A check for a day before it was resolved changes nothing."""
    idents = {(row.id, f.milestone, f.level): row.gu for row, f in found}
    last = (select(E.c.alert_id, func.max(E.c.as_of).label("day")).where(E.c.kind == "resolved")
            .group_by(E.c.alert_id).subquery())
    rows = _scoped(conn, select(A.c.id, A.c.project_id, A.c.milestone, A.c.level, A.c.reminders, last.c.day)
                   .select_from(A.join(last, last.c.alert_id == A.c.id))
                   .where(A.c.state == CLOSED_RESOLVED, last.c.day < as_of), scope)
    count = 0
    for alert_id, project_id, milestone, level, reminders, _day in rows:
        gu = idents.get((project_id, milestone, level))
        if gu is None:
            continue
        count += 1
        conn.execute(update(A).where(A.c.id == alert_id).values(
            state=OPEN, state_at=now, open_since=as_of, last_notified_on=as_of, reminders=reminders + 1,
            escalated_on=None))
        conn.execute(insert(E).values(**_event(alert_id, "reopened", now, as_of, "found again")))
        targets = destinations(routes, gu, level)
        if targets:
            conn.execute(insert(D), [_delivery(alert_id, c, r, REMINDER, reminders + 1, now) for c, r in targets])
    return count


def _office(routes: Sequence[Route], rules: Lifecycle, level: str) -> list[tuple[str, str]]:
    if rules.office:
        return list(rules.office)
    return [(r.channel, r.recipient) for r in routes if not r.districts and (not r.levels or level in r.levels)]


def _remind_and_escalate(conn: Connection, routes: Sequence[Route], rules: Lifecycle,
                         is_working_day: Callable[[dt.date], bool], as_of: dt.date, now: dt.datetime) -> dict[str, int]:
    rows = conn.execute(
        select(A.c.id, A.c.level, A.c.state, A.c.as_of, A.c.snoozed_until, A.c.open_since, A.c.last_notified_on,
               A.c.reminders, A.c.escalated_on, P.c.gu)
        .select_from(A.join(P, A.c.project_id == P.c.id))
        .where(A.c.state.in_((OPEN, SNOOZED)), P.c.retired_at.is_(None))
    ).all()
    states = {r[0]: AlertState(*r[:9]) for r in rows}
    gu = {r[0]: r[9] for r in rows}
    steps = sweep(list(states.values()), as_of, rules, is_working_day)
    events, deliveries = [], []
    counts = {"snooze_ended": 0, "reminded": 0, "escalated": 0}
    for step in steps:
        a = states[step.alert_id]
        counts[step.kind] += 1
        if step.kind == "snooze_ended":
            conn.execute(update(A).where(A.c.id == a.id).values(
                state=OPEN, state_at=now, open_since=a.snoozed_until, last_notified_on=a.snoozed_until, snoozed_until=None))
            events.append(_event(a.id, "snooze_ended", now, as_of, f"snoozed until {a.snoozed_until}"))
        elif step.kind == "reminded":
            round_ = a.reminders + 1
            conn.execute(update(A).where(A.c.id == a.id).values(reminders=round_, last_notified_on=as_of))
            targets = destinations(routes, gu[a.id], a.level)
            deliveries += [_delivery(a.id, c, r, REMINDER, round_, now) for c, r in targets]
            events.append(_event(a.id, "reminded", now, as_of, f"reminder {round_} to {len(targets)} destination(s)"))
        else:
            conn.execute(update(A).where(A.c.id == a.id).values(escalated_on=as_of))
            targets = _office(routes, rules, a.level)
            deliveries += [_delivery(a.id, c, r, ESCALATION, 0, now) for c, r in targets]
            events.append(_event(a.id, "escalated", now, as_of,
                                 f"not acknowledged within {rules.escalate_after} business days; "
                                 f"to the programme office ({len(targets)} destination(s))"))
    if events:
        conn.execute(insert(E), events)
    if deliveries:
        conn.execute(insert(D), deliveries)
    return counts


def _digests(conn: Connection, routes: Sequence[Route], now: dt.datetime) -> int:
    """A destination seen for the first time gets the open alerts it would receive, once."""
    known = {(c, r) for c, r in conn.execute(select(DEST.c.channel, DEST.c.recipient))}
    current: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        current.setdefault((route.channel, route.recipient), []).append(route)
    fresh = [d for d in current if d not in known]
    if not fresh:
        return 0
    conn.execute(insert(DEST), [{"channel": c, "recipient": r, "added_at": now} for c, r in fresh])
    if not known:
        return 0  # the very first run: nothing was routed anywhere before, there is no past to catch up on
    open_alerts = conn.execute(
        select(A.c.id, A.c.level, P.c.gu).select_from(A.join(P, A.c.project_id == P.c.id)).where(A.c.state == OPEN)
    ).all()
    rows = []
    for channel, recipient in fresh:
        had = {i for (i,) in conn.execute(
            select(D.c.alert_id).where(D.c.channel == channel, D.c.recipient == recipient).distinct())}
        for alert_id, level, gu in open_alerts:
            if alert_id not in had and any(r.wants(gu, level) for r in current[(channel, recipient)]):
                rows.append(_delivery(alert_id, channel, recipient, DIGEST, 0, now))
    if rows:
        conn.execute(insert(D), rows)
    return len(rows)


# -- what people do with an alert -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRecord(AlertFacts):
    """An alert and where it stands in its lifecycle (open, acknowledged, snoozed, resolved ...)."""

    id: int
    state: str
    state_at: dt.datetime | None
    snoozed_until: dt.date | None
    reminders: int
    escalated_on: dt.date | None


@dataclass(frozen=True)
class TimelineEvent:
    kind: str
    actor: str
    at: dt.datetime
    as_of: dt.date | None
    note: str | None


_RECORD = (*FACT_COLUMNS, A.c.id, A.c.state, A.c.state_at, A.c.snoozed_until, A.c.reminders, A.c.escalated_on)


def get_alert(conn: Connection, alert_id: int) -> AlertRecord:
    row = conn.execute(select(*_RECORD).select_from(A.join(P, A.c.project_id == P.c.id)).where(A.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"no alert #{alert_id} (see dongflow alerts list)")
    return AlertRecord(*row)


def list_alerts(conn: Connection, states: Sequence[str] = (), limit: int | None = None,
                districts: frozenset[str] | None = None) -> list[AlertRecord]:
    """Alerts, newest first; ``districts``: only those of projects in these districts (a caller's scope)."""
    stmt = select(*_RECORD).select_from(A.join(P, A.c.project_id == P.c.id)).where(P.c.retired_at.is_(None))
    if states:
        stmt = stmt.where(A.c.state.in_(list(states)))
    if districts is not None:
        stmt = stmt.where(P.c.gu.in_(sorted(districts)))
    stmt = stmt.order_by(A.c.id.desc())
    if limit:
        stmt = stmt.limit(limit)
    return [AlertRecord(*r) for r in conn.execute(stmt)]


def events_of(conn: Connection, alert_id: int) -> list[TimelineEvent]:
    rows = conn.execute(select(E.c.kind, E.c.actor, E.c.at, E.c.as_of, E.c.note).where(E.c.alert_id == alert_id)
                        .order_by(E.c.at, E.c.id))
    return [TimelineEvent(*r) for r in rows]


def change_state(conn: Connection, alert_id: int, *, expect: str, state: str, actor: str, note: str | None,
                 now: dt.datetime, snoozed_until: dt.date | None = None) -> None:
    """Move an alert from ``expect`` to ``state`` (a conditional UPDATE: a concurrent change loses)."""
    values: dict[str, Any] = {"state": state, "state_at": now, "snoozed_until": snoozed_until}
    done = conn.execute(update(A).where(A.c.id == alert_id, A.c.state == expect).values(**values)).rowcount
    if not done:
        raise ConflictError(f"alert #{alert_id} was changed by someone else meanwhile; look again (dongflow alerts show {alert_id})")
    kind = {ACKNOWLEDGED: "acknowledged", SNOOZED: "snoozed"}[state]
    conn.execute(insert(E).values(**_event(alert_id, kind, now, None, note, actor)))
