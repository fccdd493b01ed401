"""Web sign-in sessions and sign-in attempts in SQL (schema 0013): shared by every server process.

A session row is found by the SHA-256 of the session id the browser holds (the id itself is never
stored, so a database dump or backup holds no usable session). Failed sign-in attempts are rows too,
counted per account and per address over a window, so the limit holds across server processes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, Index, Integer, String, delete, func, insert, select, update
from sqlmodel import Field, SQLModel

from storage.db import Database
from storage.types import UTCDateTime


class WebSessionRow(SQLModel, table=True):
    """One signed-in browser: whose, since when, until when, and its CSRF token."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_name"), Index("ix_web_sessions_expires", "expires_at"))

    id_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    user_name: str = Field(sa_column=Column(String(100), nullable=False))
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_seen_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    address: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))


class SignInAttemptRow(SQLModel, table=True):
    """One failed sign-in (successful ones are not kept): the account name tried and the address."""

    __tablename__ = "signin_attempts"
    __table_args__ = (Index("ix_signin_attempts_account", "account", "at"),
                      Index("ix_signin_attempts_address", "address", "at"))

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    account: str = Field(sa_column=Column(String(100), nullable=False))
    address: str = Field(sa_column=Column(String(100), nullable=False))
    at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


S = WebSessionRow.__table__  # type: ignore[attr-defined]
A = SignInAttemptRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SessionRecord:
    user_name: str
    csrf_token: str
    created_at: dt.datetime
    expires_at: dt.datetime


class SqlSessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- sessions ----------------------------------------------------------------------------
    def add(self, id_hash: str, user_name: str, csrf_token: str, now: dt.datetime, expires_at: dt.datetime,
            address: str | None) -> None:
        with self.db.write() as conn:
            conn.execute(delete(S).where(S.c.expires_at <= now))  # expired sessions go as new ones come
            conn.execute(insert(S).values(id_hash=id_hash, user_name=user_name, csrf_token=csrf_token,
                                          created_at=now, last_seen_at=now, expires_at=expires_at,
                                          address=(address or "")[:100] or None))

    def get(self, id_hash: str, now: dt.datetime) -> SessionRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(S.c.user_name, S.c.csrf_token, S.c.created_at, S.c.expires_at,
                                      S.c.last_seen_at).where(S.c.id_hash == id_hash)).first()
        if row is None or row.expires_at <= now:
            return None
        return SessionRecord(row.user_name, row.csrf_token, row.created_at, row.expires_at)

    def touch(self, id_hash: str, now: dt.datetime, expires_at: dt.datetime) -> None:
        """Slide the session's expiry (the caller does this at most once a minute, not per request)."""
        with self.db.write() as conn:
            conn.execute(update(S).where(S.c.id_hash == id_hash).values(last_seen_at=now, expires_at=expires_at))

    def delete(self, id_hash: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(S).where(S.c.id_hash == id_hash))

    def delete_user(self, user_name: str) -> int:
        with self.db.write() as conn:
            return int(conn.execute(delete(S).where(S.c.user_name == user_name)).rowcount or 0)

    # -- sign-in attempts --------------------------------------------------------------------
    def add_failure(self, account: str, address: str, now: dt.datetime, forget_before: dt.datetime) -> int:
        """Record a failed (or not yet checked) attempt; returns its id (see forget_attempt)."""
        with self.db.write() as conn:
            conn.execute(delete(A).where(A.c.at < forget_before))
            return int(conn.execute(insert(A).values(account=account[:100], address=address[:100], at=now)
                                    .returning(A.c.id)).scalar_one())

    def forget_attempt(self, attempt_id: int) -> None:
        """Remove one attempt (refused by the limit without its password being checked)."""
        with self.db.write() as conn:
            conn.execute(delete(A).where(A.c.id == attempt_id))

    def failures(self, account: str, address: str, since: dt.datetime) -> tuple[int, int]:
        """Failed attempts since ``since``: (for this account, from this address)."""
        with self.db.read() as conn:
            by_account = conn.execute(select(func.count()).select_from(A).where(
                A.c.account == account[:100], A.c.at >= since)).scalar_one()
            by_address = conn.execute(select(func.count()).select_from(A).where(
                A.c.address == address[:100], A.c.at >= since)).scalar_one()
        return int(by_account), int(by_address)

    def clear_failures(self, account: str) -> None:
        """A successful sign-in forgets the account's failures (not the address's)."""
        with self.db.write() as conn:
            conn.execute(delete(A).where(A.c.account == account[:100]))


__all__ = ["SessionRecord", "SignInAttemptRow", "SqlSessionStore", "WebSessionRow"]
