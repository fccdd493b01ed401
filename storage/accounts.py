"""Accounts in SQL: the ``users`` and ``api_tokens`` tables (schema 0007) and their store.

The tables are SQLModel classes whose public part (:class:`UserPublic`, :class:`TokenPublic`) is also
the HTTP API's schema: one definition of what a user or a token looks like, without the secrets.
(Plural table names like the others; ``user`` is a reserved word in PostgreSQL.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from engine.errors import AlreadyExists, NotFound
from storage.db import Database
from storage.types import UTCDateTime


class UserPublic(SQLModel):
    """A user as anyone allowed to list users sees them (never the password hash)."""

    name: str = Field(max_length=100)
    display_name: str | None = None
    role: str
    districts: list[str] = Field(default_factory=list)
    """Empty: every district (admins, officers, viewers of all)."""
    disabled: bool = False
    created_at: dt.datetime


class UserRow(UserPublic, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    display_name: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    role: str = Field(sa_column=Column(String(20), nullable=False))
    districts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    disabled: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    password_hash: str = Field(sa_column=Column(String(200), nullable=False))
    password_changed_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class TokenPublic(SQLModel):
    """An API token as ``token list`` shows it: never the token, nor its hash."""

    name: str = Field(max_length=100)
    prefix: str
    """The public part of the token (``dft_PREFIX_...``), to tell tokens apart."""
    owner: str | None = None
    """The user it acts for (their role and districts, their name in the history), or None."""
    role: str | None = None
    districts: list[str] = Field(default_factory=list)
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None


class ApiTokenRow(SQLModel, table=True):
    """A bearer token for API clients: looked up by its public prefix, checked by its SHA-256 hash."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_owner", "owner_id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    prefix: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False))
    owner_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    )
    role: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    districts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    created_by: str = Field(sa_column=Column(String(200), nullable=False))
    expires_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_used_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


U = UserRow.__table__  # type: ignore[attr-defined]
T = ApiTokenRow.__table__  # type: ignore[attr-defined]


def _user(row: Any) -> UserRow:
    return UserRow.model_validate(dict(row._mapping))


class SqlAccountStore:
    """Users and tokens (engine.accounts.AccountStore)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users -------------------------------------------------------------------------------
    def add_user(self, values: dict[str, Any]) -> None:
        try:
            with self.db.write() as conn:
                if conn.execute(select(T.c.id).where(T.c.name == values["name"], T.c.owner_id.is_(None))).first():
                    raise AlreadyExists(f"a token named {values['name']!r}")
                conn.execute(insert(U), values)
        except IntegrityError:
            raise AlreadyExists(f"user {values['name']!r}") from None

    def user(self, name: str) -> UserRow | None:
        with self.db.read() as conn:
            row = conn.execute(select(U).where(U.c.name == name)).first()
        return None if row is None else _user(row)

    def users(self) -> list[UserRow]:
        with self.db.read() as conn:
            return [_user(r) for r in conn.execute(select(U).order_by(U.c.name))]

    def update_user(self, name: str, values: dict[str, Any]) -> None:
        with self.db.write() as conn:
            if conn.execute(update(U).where(U.c.name == name).values(**values)).rowcount != 1:
                raise NotFound(f"no user {name!r}")

    # -- tokens ------------------------------------------------------------------------------
    def add_token(self, values: dict[str, Any], owner: str | None) -> None:
        try:
            with self.db.write() as conn:
                if owner is not None:
                    owner_id = conn.execute(select(U.c.id).where(U.c.name == owner)).scalar()
                    if owner_id is None:
                        raise NotFound(f"no user {owner!r}")
                    values = {**values, "owner_id": owner_id}
                elif conn.execute(select(U.c.id).where(U.c.name == values["name"])).first():
                    raise AlreadyExists(f"a user named {values['name']!r}")
                conn.execute(insert(T), values)
        except IntegrityError:
            raise AlreadyExists(f"token {values['name']!r}") from None

    def token_by_prefix(self, prefix: str) -> tuple[ApiTokenRow, UserRow | None] | None:
        """The token with this public prefix and its owner (if any), or None."""
        with self.db.read() as conn:
            row = conn.execute(select(T).where(T.c.prefix == prefix)).first()
            if row is None:
                return None
            token = ApiTokenRow.model_validate(dict(row._mapping))
            owner = None
            if token.owner_id is not None:
                found = conn.execute(select(U).where(U.c.id == token.owner_id)).first()
                owner = None if found is None else _user(found)
        return token, owner

    def tokens(self) -> list[TokenPublic]:
        stmt = select(T, U.c.name.label("owner_name")).outerjoin(U, U.c.id == T.c.owner_id).order_by(T.c.name)
        with self.db.read() as conn:
            out = []
            for r in conn.execute(stmt):
                m = dict(r._mapping)
                out.append(TokenPublic.model_validate({**m, "owner": m.get("owner_name")}))
            return out

    def update_token(self, name: str, values: dict[str, Any]) -> None:
        with self.db.write() as conn:
            if conn.execute(update(T).where(T.c.name == name).values(**values)).rowcount != 1:
                raise NotFound(f"no token {name!r}")

    def touch_token(self, token_id: int, now: dt.datetime, older_than: dt.datetime) -> None:
        """Record a use, at most once per interval (not a write per request)."""
        with self.db.write() as conn:
            conn.execute(
                update(T)
                .where(T.c.id == token_id, (T.c.last_used_at.is_(None)) | (T.c.last_used_at < older_than))
                .values(last_used_at=now)
            )
