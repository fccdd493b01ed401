"""Alerts, their deliveries (the outbox) and the job lease, in SQL.

* A check and the alerts it finds are one transaction; the unique (project, milestone, level) makes
  a second alert for the same thing impossible even if two checks ever raced.
* A delivery becomes ``sent`` only after its channel accepted it; each send is committed on its own,
  so a process killed while sending repeats at most the one message that was in flight -- and that
  repeat carries the same message key (Message-ID, Idempotency-Key), fixed when it was claimed.
* The lease row in ``jobs`` lets one process at a time run the alert job. Its expiry is judged by the
  database's clock (never a runner's), counted from when it was taken or last renewed, and every
  take-over increases its epoch. Every write of a run (the check, a claim, marking sent or failed)
  first locks the lease row and checks that the run still holds the current epoch (fencing): a run
  that stalled past its lease cannot record anything, and stops before its next send.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.alerting import ALERT, Route, destinations, next_attempt
from engine.deadlines import Finding
from engine.errors import ConflictError, LeaseLost
from storage.db import Database
from storage.repository import P
from storage.tables import AlertRow, DeliveryRow, JobRow
from storage.tracking import TrackedRow, TrackingReader

if TYPE_CHECKING:
    from storage.check_marks import Scan  # noqa: F401 - the check's result; importing it loads the deadline rules

A = AlertRow.__table__  # type: ignore[attr-defined]
D = DeliveryRow.__table__  # type: ignore[attr-defined]
J = JobRow.__table__  # type: ignore[attr-defined]

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


def db_now(conn: Connection, plus: dt.timedelta = dt.timedelta(0)) -> Any:
    """The database's clock (plus ``plus``) as a SQL expression: leases never trust a runner's clock.

    SQLite: ``strftime('%Y-%m-%d %H:%M:%f', 'now', '+N seconds')`` (UTC), padded to the microseconds
    of the stored format so it compares as stored values do; PostgreSQL: ``clock_timestamp()``.
    """
    if conn.dialect.name == "sqlite":
        expr = func.strftime("%Y-%m-%d %H:%M:%f", "now", f"{plus.total_seconds():+.3f} seconds")
        return expr.op("||")(literal("000"))
    now = func.clock_timestamp()
    return now + plus if plus else now


@dataclass(frozen=True)
class Lease:
    """A run's hold on a job: the epoch it took, and how long each renewal lasts."""

    job: str
    owner: str
    epoch: int
    ttl: dt.timedelta


@dataclass(frozen=True)
class CheckResult:
    scanned: int
    found: list[tuple[TrackedRow, Finding]]
    new: list[tuple[TrackedRow, Finding]]
    deliveries: int
    lifecycle: dict[str, int] = field(default_factory=dict)
    """What the lifecycle sweep did: resolved, superseded, reminded, escalated, digests, snooze_ended."""
    total: int = 0
    """Findings of every open project (``found`` holds those of the projects assessed this time)."""
    assessed: int = 0


@dataclass(frozen=True)
class AlertFacts:
    """An alert as its check found it: the project and the finding (what every view of an alert shows,
    read with :data:`FACT_COLUMNS`)."""

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


FACT_COLUMNS = (P.c.key, P.c.gu, P.c.dong, P.c.workflow_id, P.c.workflow_version, A.c.milestone, A.c.level,
                A.c.due_date, A.c.days, A.c.reason, A.c.as_of, A.c.created_at)
"""The columns of :class:`AlertFacts`, in its field order (alerts joined with their projects)."""


@dataclass(frozen=True)
class StoredDelivery(AlertFacts):
    """One delivery of an alert to one recipient over one channel (the outbox row), with the alert."""

    id: int
    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    alert_id: int
    kind: str = ALERT
    round: int = 0
    message_key: str | None = None
    state: str = "open"


Compute = Callable[[TrackingReader], "Scan"]
Sweep = Callable[[Connection, list[tuple[TrackedRow, Finding]], dt.date, dt.datetime, "frozenset[int] | None"],
                 dict[str, int]]
"""The lifecycle step of a check (storage.alert_lifecycle), run in the check's transaction; its last
argument names the projects the findings speak for (None: every project)."""


class SqlAlertStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- fencing -----------------------------------------------------------------------------
    @staticmethod
    def fence(conn: Connection, lease: Lease) -> None:
        """Lock the lease row and check this run still holds the current epoch, else LeaseLost.

        PostgreSQL: ``SELECT ... FOR UPDATE`` keeps a take-over from committing in between;
        SQLite: a write transaction already excludes every other writer.
        """
        stmt = select(J.c.lease_epoch, J.c.lease_owner).where(J.c.name == lease.job)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None or row[0] != lease.epoch or row[1] != lease.owner:
            raise LeaseLost(lease.job, lease.epoch)
        conn.execute(update(J).where(J.c.name == lease.job).values(lease_expires_at=db_now(conn, lease.ttl)))

    # -- the check -------------------------------------------------------------------------
    def check(
        self,
        compute: Compute,
        routes: Sequence[Route],
        *,
        as_of: dt.date,
        now: dt.datetime,
        dry_run: bool = False,
        lease: Lease | None = None,
        sweep: Sweep | None = None,
    ) -> CheckResult:
        """Run ``compute`` and record what it found as new alerts with their deliveries, then the
        lifecycle ``sweep`` (resolve, remind, escalate, digests), atomically and fenced by ``lease``."""
        for attempt in (1, 2):
            try:
                opener = self.db.read if dry_run else self.db.write
                with opener() as conn:
                    result = compute(TrackingReader(conn))
                    found = result.found
                    if lease is not None and not dry_run:
                        self.fence(conn, lease)
                    new = self._new_only(conn, found)
                    deliveries = 0 if dry_run else self._insert(conn, new, routes, as_of, now)
                    if dry_run:
                        deliveries = sum(len(destinations(routes, r.gu, f.level)) for r, f in new)
                    done = sweep(conn, found, as_of, now, result.scope) if sweep is not None and not dry_run else {}
                return CheckResult(result.scanned, found, new, deliveries, done, result.total, result.assessed)
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
                    "state": "open",
                    "open_since": as_of,
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
                "kind": ALERT,
                "round": 0,
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
                *FACT_COLUMNS, D.c.id, D.c.channel, D.c.recipient, D.c.status, D.c.attempts, D.c.last_error,
                D.c.next_attempt_at, D.c.sent_at, A.c.id, D.c.kind, D.c.round, D.c.message_key, A.c.state,
            )
            .select_from(D.join(A, D.c.alert_id == A.c.id).join(P, A.c.project_id == P.c.id))
        )

    def due(self, now: dt.datetime, channels: Iterable[str] | None = None) -> list[StoredDelivery]:
        """Deliveries to attempt now: pending ones, and failed ones whose backoff has passed; those
        claimed for one message before come together, in the order of that message."""
        # A retired project's alerts go out no more, but the notice that they are over still does.
        stmt = self._delivery_query().where(D.c.status != SENT, D.c.next_attempt_at <= now,
                                            or_(P.c.retired_at.is_(None), D.c.kind == "resolved"))
        if channels is not None:
            stmt = stmt.where(D.c.channel.in_(list(channels)))
        stmt = stmt.order_by(D.c.channel, D.c.recipient, D.c.kind, D.c.message_key, A.c.id, D.c.id)
        with self.db.read() as conn:
            return [StoredDelivery(*r) for r in conn.execute(stmt)]

    def listing(
        self, status: str | None = None, limit: int | None = None, *, alert_id: int | None = None,
        states: Sequence[str] = (),
    ) -> list[StoredDelivery]:
        stmt = self._delivery_query()
        if status is not None:
            stmt = stmt.where(D.c.status == status)
        if alert_id is not None:
            stmt = stmt.where(A.c.id == alert_id)
        else:  # a retired project's alerts are in no listing (`alerts show ID` still finds them)
            stmt = stmt.where(P.c.retired_at.is_(None))
        if states:
            stmt = stmt.where(A.c.state.in_(list(states)))
        stmt = stmt.order_by(A.c.id.desc(), D.c.channel, D.c.recipient, D.c.id)
        if limit:
            stmt = stmt.limit(limit)
        with self.db.read() as conn:
            return [StoredDelivery(*r) for r in conn.execute(stmt)]

    def undelivered_alerts(self) -> int:
        """Alerts that no configured channel took (e.g. filtered out): shown so none goes unnoticed."""
        with self.db.read() as conn:
            stmt = select(func.count()).select_from(A).where(~select(D.c.id).where(D.c.alert_id == A.c.id).exists())
            return int(conn.execute(stmt).scalar() or 0)

    def claim(self, lease: Lease, items: Sequence[StoredDelivery], now: dt.datetime) -> str:
        """Fix the message these deliveries go out in, before sending it (fenced; renews the lease).

        Deliveries claimed before (a message that was in flight when its run died, or that failed)
        keep their key, so the repeat is the same message with the same id; new ones get a new key.
        """
        keys = {d.message_key for d in items if d.message_key}
        key = next(iter(keys)) if len(keys) == 1 else f"{min(d.id for d in items)}.{uuid.uuid4().hex[:16]}"
        with self.db.write() as conn:
            self.fence(conn, lease)
            conn.execute(
                update(D)
                .where(D.c.id.in_([d.id for d in items]), D.c.status != SENT)
                .values(message_key=key, claimed_epoch=lease.epoch, claimed_at=now)
            )
        return key

    def mark_sent(self, ids: Sequence[int], now: dt.datetime, lease: Lease | None = None) -> int:
        """Record that a channel accepted these deliveries (never called before it did); fenced."""
        with self.db.write() as conn:
            if lease is not None:
                self.fence(conn, lease)
            stmt = (
                update(D)
                .where(D.c.id.in_(list(ids)), D.c.status != SENT)
                .values(status=SENT, sent_at=now, attempts=D.c.attempts + 1, last_error=None)
            )
            return int(conn.execute(stmt).rowcount or 0)

    def mark_failed(
        self, items: Sequence[StoredDelivery], error: str, now: dt.datetime, lease: Lease | None = None
    ) -> None:
        with self.db.write() as conn:
            if lease is not None:
                self.fence(conn, lease)
            for item in items:
                attempts = min(item.attempts, 1_000_000_000) + 1  # the column is 32-bit
                conn.execute(
                    update(D)
                    .where(D.c.id == item.id, D.c.status != SENT)
                    .values(
                        status=FAILED,
                        attempts=attempts,
                        last_error=error[:2000],
                        next_attempt_at=next_attempt(attempts, now),
                    )
                )

    def counts(self) -> dict[str, int]:
        with self.db.read() as conn:
            return {s: int(n) for s, n in conn.execute(select(D.c.status, func.count()).group_by(D.c.status))}

    # -- job lease and last success --------------------------------------------------------
    def acquire(self, job: str, owner: str, ttl: dt.timedelta) -> tuple[Lease | None, str | None, dt.datetime | None]:
        """Take the job's lease if it is free or expired by the database's clock; a take-over
        increases the epoch. Returns (the lease or None, the holder, the holder's expiry)."""
        with self.db.write() as conn:
            if conn.execute(select(J.c.name).where(J.c.name == job)).first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(J).values(name=job))
                except IntegrityError:
                    pass
            taken = conn.execute(
                update(J)
                .where(J.c.name == job, or_(J.c.lease_owner.is_(None), J.c.lease_expires_at < db_now(conn)))
                .values(
                    lease_owner=owner,
                    lease_epoch=J.c.lease_epoch + 1,
                    lease_taken_at=db_now(conn),
                    lease_expires_at=db_now(conn, ttl),
                )
            ).rowcount
            holder = conn.execute(select(J.c.lease_owner, J.c.lease_expires_at, J.c.lease_epoch).where(J.c.name == job)).first()
        assert holder is not None
        lease = Lease(job, owner, int(holder[2]), ttl) if taken else None
        return lease, holder[0], holder[1]

    def renew(self, lease: Lease) -> bool:
        """Extend the lease from the database's now, if this run still holds its epoch."""
        try:
            with self.db.write() as conn:
                self.fence(conn, lease)
        except LeaseLost:
            return False
        return True

    def release(self, lease: Lease) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(J)
                .where(J.c.name == lease.job, J.c.lease_owner == lease.owner, J.c.lease_epoch == lease.epoch)
                .values(lease_owner=None, lease_expires_at=None)
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
