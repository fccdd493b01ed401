"""The alert use cases people call: list, show (the timeline), acknowledge, snooze.

One service for the CLI (``dongflow alerts ...``) and the web app / API: each use case takes the
``actor`` who asks, validates everything before it writes, and writes once, so a refused request
leaves the database exactly as it was. Authorisation (who may acknowledge which district's alerts)
belongs here too; today every actor may, as on the CLI. Nothing here reads the clock: ``now`` is
passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.alerting import (
    ACKNOWLEDGED,
    LEVEL_LABELS,
    OPEN,
    SNOOZED,
    STATES,
    delivery_detail,
    label,
    system_note,
)
from engine.errors import ConflictError, InvalidInput
from engine.values import clean_note, clean_text, parse_date
from storage.alert_lifecycle import (
    SYSTEM,
    AlertRecord,
    TimelineEvent,
    change_state,
    events_of,
    get_alert,
    list_alerts,
)
from storage.alerts import SqlAlertStore, StoredDelivery
from storage.db import Database

MAX_SNOOZE_DAYS = 366


@dataclass(frozen=True)
class Timeline:
    """An alert, what happened to it, and every delivery of it (with its message id)."""

    alert: AlertRecord
    events: list[TimelineEvent]
    deliveries: list[StoredDelivery]

    def entries(self, lang: str = "en") -> list[tuple[dt.datetime, str, str, str | None]]:
        """(when, what, who, detail) in time order: found, deliveries, acknowledgements ... The
        details of what dongflow did itself are in ``lang``; what people wrote stays as written."""
        a = self.alert
        found = (f"{a.level} as of {a.as_of}: {a.reason}" if lang == "en"
                 else f"{a.as_of} 기준 {label(LEVEL_LABELS, a.level, lang)}: {a.reason}")
        out: list[tuple[dt.datetime, str, str, str | None]] = [(a.created_at, "found", SYSTEM, found)]
        for e in self.events:
            note = e.note
            if e.actor == SYSTEM:
                note = system_note(e.kind, e.note, lang)
                if e.as_of is not None:
                    note = (f"as of {e.as_of}: " if lang == "en" else f"{e.as_of} 기준: ") + (note or "")
            out.append((e.at, e.kind, e.actor, note))
        for d in self.deliveries:
            detail = delivery_detail(d.channel, d.recipient, d.attempts, d.message_key,
                                     d.last_error if d.status != "sent" else None, d.round, lang)
            out.append((d.sent_at or d.next_attempt_at, f"{d.kind} {d.status}", SYSTEM, detail))
        return sorted(out, key=lambda e: e[0])


class AlertService:
    def __init__(self, db: Database, now: Callable[[], dt.datetime]) -> None:
        self.db = db
        self.now = now

    @staticmethod
    def _actor(actor: str) -> str:
        return clean_text(actor, "actor", max_len=200)

    def list(self, actor: str, states: Sequence[str] = (), limit: int | None = None,
             districts: frozenset[str] | None = None) -> list[AlertRecord]:
        """Alerts, newest first; ``districts`` limits them to a caller's scope (engine.access)."""
        self._actor(actor)
        bad = sorted(set(states) - set(STATES))
        if bad:
            raise InvalidInput(f"unknown state {bad[0]!r} (expected: {', '.join(STATES)})", field="state")
        if limit is not None and limit < 1:
            raise InvalidInput("must be 1 or more", field="limit")
        with self.db.read() as conn:
            return list_alerts(conn, states, limit, districts)

    def get(self, alert_id: int) -> AlertRecord:
        """One alert (NotFound if there is none): the scoped service checks its district first."""
        with self.db.read() as conn:
            return get_alert(conn, alert_id)

    def show(self, actor: str, alert_id: int) -> Timeline:
        self._actor(actor)
        with self.db.read() as conn:
            alert = get_alert(conn, alert_id)
            events = events_of(conn, alert_id)
        return Timeline(alert, events, SqlAlertStore(self.db).listing(alert_id=alert_id))

    def acknowledge(self, actor: str, alert_id: int, note: str | None) -> AlertRecord:
        """Someone has seen it and deals with it: no more reminders, no escalation. It still
        resolves by itself when its milestone is met."""
        who = self._actor(actor)
        why = clean_note(note, "note")
        if not why:
            raise InvalidInput("say why (what is being done about it)", field="--note")
        with self.db.write() as conn:
            alert = get_alert(conn, alert_id)
            if alert.state not in (OPEN, SNOOZED):
                raise ConflictError(f"alert #{alert_id} is {alert.state}; only an open or snoozed alert can be acknowledged")
            change_state(conn, alert_id, expect=alert.state, state=ACKNOWLEDGED, actor=who, note=why, now=self.now())
            return get_alert(conn, alert_id)

    def snooze(self, actor: str, alert_id: int, until: Any, note: str | None) -> AlertRecord:
        """No reminders or escalation until ``until``; then it is open again and its clocks start
        from that day."""
        who = self._actor(actor)
        day = parse_date(until, "--until")
        why = clean_note(note, "note")
        if not why:
            raise InvalidInput("say why it can wait", field="--note")
        with self.db.write() as conn:
            alert = get_alert(conn, alert_id)
            if alert.state not in (OPEN, SNOOZED):
                raise ConflictError(f"alert #{alert_id} is {alert.state}; only an open or snoozed alert can be snoozed")
            if day <= alert.as_of:
                raise InvalidInput(f"must be after {alert.as_of} (the day the alert was found)", field="--until")
            if (day - alert.as_of).days > MAX_SNOOZE_DAYS:
                raise InvalidInput(f"must be within {MAX_SNOOZE_DAYS} days of {alert.as_of}", field="--until")
            change_state(conn, alert_id, expect=alert.state, state=SNOOZED, actor=who, note=why, now=self.now(),
                         snoozed_until=day)
            return get_alert(conn, alert_id)
