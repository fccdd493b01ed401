"""Alerts, their deliveries (the outbox) and the job lease, in SQL.

* A check and the alerts it finds are one transaction; the unique (project, milestone, level) makes
  a second alert for the same thing impossible even if two checks ever raced.
* A delivery becomes ``sent`` only after its channel accepted it; each send is committed on its own,
  so a process killed while sending repeats at most the one that was in flight.
* The lease row in ``jobs`` lets one process at a time run the alert job, on SQLite and PostgreSQL
  alike (a conditional UPDATE is atomic on both).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.alerting import Route, destinations, next_attempt
from engine.deadlines import Finding
from engine.errors import ConflictError
from storage.db import Database
from storage.repository import P
from storage.tables import AlertRow, DeliveryRow, JobRow
from storage.tracking import TrackedRow, TrackingReader

A = AlertRow.__table__  # type: ignore[attr-defined]
D = DeliveryRow.__table__  # type: ignore[attr-defined]
J = JobRow.__table__  # type: ignore[attr-defined]

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


@dataclass(frozen=True)
class CheckResult:
    scanned: int
    found: list[tuple[TrackedRow, Finding]]
    new: list[tuple[TrackedRow, Finding]]
    deliveries: int


@dataclass(frozen=True)
class StoredDelivery:
    id: int
    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    alert_id: int
    key: str
    gu: str
    dong: str
    workflow_id: str
    workflow_version: int
    milestone: str
    level: str
    due: dt.date
    days: int
    reason: str
    as_of: dt.date
    created_at: dt.datetime


Compute = Callable[[TrackingReader], tuple[int, list[tuple[TrackedRow, Finding]]]]


class SqlAlertStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the check -------------------------------------------------------------------------
    def check(
        self, compute: Compute, routes: Sequence[Route], *, as_of: dt.date, now: dt.datetime, dry_run: bool = False
    ) -> CheckResult:
        """Run ``compute`` and record what it found as new alerts with their deliveries, atomically."""
        for attempt in (1, 2):
            try:
                opener = self.db.read if dry_run else self.db.write
                with opener() as conn:
                    scanned, found = compute(TrackingReader(conn))
                    new = self._new_only(conn, found)
                    deliveries = 0 if dry_run else self._insert(conn, new, routes, as_of, now)
                    if dry_run:
                        deliveries = sum(len(destinations(routes, r.gu, f.level)) for r, f in new)
                return CheckResult(scanned, found, new, deliveries)
            except IntegrityError:
                if attempt == 2:
                    raise ConflictError("another alert check recorded the same alerts at the same time; run again") from None
        raise AssertionError("unreachable")

    @staticmethod
    def _new_only(conn: Connection, found: list[tuple[TrackedRow, Finding]]) -> list[tuple[TrackedRow, Finding]]:
        ids = sorted({row.id for row, _ in found})
        existing: set[tuple[int, str, str]] = set()
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            existing.update(
                (pid, m, lv)
                for pid, m, lv in conn.execute(
                    select(A.c.project_id, A.c.milestone, A.c.level).where(A.c.project_id.in_(chunk))
                )
            )
        seen: set[tuple[int, str, str]] = set()
        new = []
        for row, f in found:
            ident = (row.id, f.milestone, f.level)
            if ident not in existing and ident not in seen:
                seen.add(ident)
                new.append((row, f))
        return new

    @staticmethod
    def _insert(
        conn: Connection,
        new: list[tuple[TrackedRow, Finding]],
        routes: Sequence[Route],
        as_of: dt.date,
        now: dt.datetime,
    ) -> int:
        if not new:
            return 0
        ids = conn.execute(
            insert(A).returning(A.c.id, sort_by_parameter_order=True),
            [
                {
                    "project_id": row.id,
                    "milestone": f.milestone,
                    "level": f.level,
                    "due_date": f.due,
                    "days": f.days,
                    "reason": f.reason,
                    "as_of": as_of,
                    "created_at": now,
                }
                for row, f in new
            ],
        ).scalars().all()
        deliveries = [
            {
                "alert_id": alert_id,
                "channel": channel,
                "recipient": recipient,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for (row, f), alert_id in zip(new, ids)
            for channel, recipient in destinations(routes, row.gu, f.level)
        ]
        if deliveries:
            conn.execute(insert(D), deliveries)
        return len(deliveries)

    # -- deliveries ------------------------------------------------------------------------
    def _delivery_query(self) -> Any:
        return (
            select(
                D.c.id, D.c.channel, D.c.recipient, D.c.status, D.c.attempts, D.c.last_error,
                D.c.next_attempt_at, D.c.sent_at, A.c.id, P.c.key, P.c.gu, P.c.dong, P.c.workflow_id,
                P.c.workflow_version, A.c.milestone, A.c.level, A.c.due_date, A.c.days, A.c.reason,
                A.c.as_of, A.c.created_at,
            )
            .select_from(D.join(A, D.c.alert_id == A.c.id).join(P, A.c.project_id == P.c.id))
        )

    def due(self, now: dt.datetime, channels: Iterable[str] | None = None) -> list[StoredDelivery]:
        """Deliveries to attempt now: pending ones, and failed ones whose backoff has passed."""
        stmt = self._delivery_query().where(D.c.status != SENT, D.c.next_attempt_at <= now)
        if channels is not None:
            stmt = stmt.where(D.c.channel.in_(list(channels)))
        stmt = stmt.order_by(D.c.channel, D.c.recipient, A.c.id)
        with self.db.read() as conn:
            return [StoredDelivery(*r) for r in conn.execute(stmt)]

    def listing(self, status: str | None = None, limit: int | None = None) -> list[StoredDelivery]:
        stmt = self._delivery_query()
        if status is not None:
            stmt = stmt.where(D.c.status == status)
        stmt = stmt.order_by(A.c.id.desc(), D.c.channel, D.c.recipient)
        if limit:
            stmt = stmt.limit(limit)
        with self.db.read() as conn:
            return [StoredDelivery(*r) for r in conn.execute(stmt)]

    def undelivered_alerts(self) -> int:
        """Alerts that no configured channel took (e.g. filtered out): shown so none goes unnoticed."""
        with self.db.read() as conn:
            stmt = select(func.count()).select_from(A).where(~select(D.c.id).where(D.c.alert_id == A.c.id).exists())
            return int(conn.execute(stmt).scalar() or 0)

    def mark_sent(self, ids: Sequence[int], now: dt.datetime) -> int:
        """Record that a channel accepted these deliveries (never called before it did)."""
        with self.db.write() as conn:
            stmt = (
                update(D)
                .where(D.c.id.in_(list(ids)), D.c.status != SENT)
                .values(status=SENT, sent_at=now, attempts=D.c.attempts + 1, last_error=None)
            )
            return int(conn.execute(stmt).rowcount or 0)

    def mark_failed(self, items: Sequence[StoredDelivery], error: str, now: dt.datetime) -> None:
        with self.db.write() as conn:
            for item in items:
                conn.execute(
                    update(D)
                    .where(D.c.id == item.id, D.c.status != SENT)
                    .values(
                        status=FAILED,
                        attempts=item.attempts + 1,
                        last_error=error[:2000],
                        next_attempt_at=next_attempt(item.attempts + 1, now),
                    )
                )

    def counts(self) -> dict[str, int]:
        with self.db.read() as conn:
            return {s: int(n) for s, n in conn.execute(select(D.c.status, func.count()).group_by(D.c.status))}

    # -- job lease and last success --------------------------------------------------------
    def acquire(self, job: str, owner: str, now: dt.datetime, ttl: dt.timedelta) -> tuple[bool, str | None, dt.datetime | None]:
        """Take the job's lease if it is free or expired; returns (taken, holder, holder's expiry)."""
        with self.db.write() as conn:
            if conn.execute(select(J.c.name).where(J.c.name == job)).first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(J).values(name=job))
                except IntegrityError:
                    pass
            taken = conn.execute(
                update(J)
                .where(
                    J.c.name == job,
                    or_(J.c.lease_owner.is_(None), J.c.lease_expires_at < now, J.c.lease_owner == owner),
                )
                .values(lease_owner=owner, lease_expires_at=now + ttl)
            ).rowcount
            holder = conn.execute(select(J.c.lease_owner, J.c.lease_expires_at).where(J.c.name == job)).first()
        return bool(taken), holder[0] if holder else None, holder[1] if holder else None

    def renew(self, job: str, owner: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
        with self.db.write() as conn:
            return bool(
                conn.execute(
                    update(J)
                    .where(J.c.name == job, J.c.lease_owner == owner)
                    .values(lease_expires_at=now + ttl)
                ).rowcount
            )

    def release(self, job: str, owner: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(J).where(J.c.name == job, J.c.lease_owner == owner).values(lease_owner=None, lease_expires_at=None)
            )

    def record_success(self, job: str, as_of: dt.date, now: dt.datetime) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(J)
                .where(J.c.name == job)
                .values(
                    last_success_as_of=case(
                        (or_(J.c.last_success_as_of.is_(None), J.c.last_success_as_of < as_of), as_of),
                        else_=J.c.last_success_as_of,
                    ),
                    last_success_at=now,
                    last_error=None,
                )
            )

    def record_error(self, job: str, error: str) -> None:
        with self.db.write() as conn:
            conn.execute(update(J).where(J.c.name == job).values(last_error=error[:2000]))

    def job(self, job: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(J).where(J.c.name == job)).first()
        return dict(row._mapping) if row else None
