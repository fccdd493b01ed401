"""What the web application holds between requests: configuration and shared, stateless services.

Nothing about a caller is kept here (no sessions in memory): every request carries its credentials,
so several server processes can run against one database. The database engine's connection pool,
the workflow catalog and the password hasher are shared by the requests of one process.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from engine.access import Principal, ScopedService

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class WebSettings:
    """How the server runs (read once, at start-up, from the command line and the environment)."""

    db_url: str | None = None
    workflow_dirs: tuple[str, ...] = ()
    tz_name: str = "Asia/Seoul"
    lang: str = "ko"
    root_path: str = ""
    """The path prefix when served behind a reverse proxy under a sub-path (e.g. ``/dongflow``)."""
    secret_key: str | None = None
    """Unused by the pages: their sessions are random ids kept (as SHA-256 hashes) in the database, so
    processes share them without a shared secret (web/sessions.py). Kept for compatibility."""
    max_body: int = 1024 * 1024
    """Largest request body accepted, in bytes (413 beyond)."""
    cookie_secure: str = "auto"
    """The session cookie's Secure flag: ``auto`` (when the request came over https, as the proxy's
    X-Forwarded-Proto says), ``always`` or ``never``."""
    session_hours: float = 8.0
    """A web session ends after this long without a request (and a day after sign-in at most)."""
    signin_limit_account: int = 5
    """Failed sign-ins per account within ``signin_window_minutes`` before it is refused for a while."""
    signin_limit_address: int = 20
    """Failed sign-ins from one address within the window before that address is refused for a while."""
    signin_window_minutes: int = 15
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> WebSettings:
        env = os.environ
        values: dict[str, Any] = {
            "db_url": env.get("DONGFLOW_DATABASE_URL"),
            "workflow_dirs": tuple(p for p in env.get("DONGFLOW_WORKFLOWS", "").split(os.pathsep) if p),
            "tz_name": env.get("DONGFLOW_TIMEZONE") or "Asia/Seoul",
            "lang": env.get("DONGFLOW_LANG") or "ko",
            "root_path": env.get("DONGFLOW_ROOT_PATH", ""),
            "secret_key": env.get("DONGFLOW_SECRET_KEY"),
            "cookie_secure": env.get("DONGFLOW_COOKIE_SECURE") or "auto",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class WebContext:
    """The services one server process shares between requests."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.tz_name)

    @cached_property
    def db(self) -> Any:
        from storage.db import Database, default_url

        db = Database(self.settings.db_url or default_url())
        db.require_schema()
        return db

    @cached_property
    def catalog(self) -> Any:
        """The shipped workflows merged with the database's stored versions (one published after the
        server started is fetched when a project first needs it; see refresh_catalog)."""
        from storage.workflow_store import load_catalog

        return load_catalog(self.db, self.settings.workflow_dirs)

    def refresh_catalog(self) -> Any:
        """The catalog with the versions stored since it was loaded (for the workflow listings)."""
        self.catalog.refresh()
        return self.catalog

    @cached_property
    def service(self) -> Any:
        from engine.service import Service
        from storage.repository import SqlProjectStore

        from programme.places import identity_rules

        return Service(SqlProjectStore(self.db), self.catalog, identity_rules())

    @cached_property
    def accounts(self) -> Any:
        from engine.accounts import AccountService
        from programme.places import seoul_districts
        from storage.accounts import SqlAccountStore

        return AccountService(SqlAccountStore(self.db), districts=seoul_districts())

    def scoped(self, principal: Principal) -> ScopedService:
        """The use cases as ``principal`` may call them (every route goes through this)."""
        return ScopedService(self.service, principal, self.programme, self.alerts)

    @cached_property
    def alerts(self) -> Any:
        from notify.service import AlertService

        return AlertService(self.db, self.now)

    @cached_property
    def programme(self) -> Any:
        from programme.records import ProgrammeService
        from programme.repository import SqlProgrammeStore

        return ProgrammeService(SqlProgrammeStore(self.db), self.catalog)

    def authenticate(self, name: str, password: str) -> Principal:
        """Sign in with a password: the principal, or NotAuthenticated (same for every cause)."""
        return self.accounts.authenticate(name, password, now=self.now())

    def principal_for(self, name: str, signed_in_at: dt.datetime | None = None) -> Principal:
        """The principal of a user a session names (NotAuthenticated if gone or disabled, or if the
        password changed after ``signed_in_at``)."""
        return self.accounts.principal_for(name, signed_in_at=signed_in_at)

    def authenticate_token(self, token: str) -> Principal:
        return self.accounts.authenticate_token(token, now=self.now())

    def now(self) -> dt.datetime:
        """The one place the web side reads the clock."""
        return dt.datetime.now(dt.timezone.utc)

    def today(self) -> dt.date:
        return self.now().astimezone(self.tz).date()

    def deadline_book(self, conn: Any, cutoff: dt.datetime | None = None) -> Any:
        """The deadline rules; for a past as-of date (``cutoff``), forecasts count the completions by then."""
        from engine.monitor import DeadlineBook
        from storage.durations_cache import CachedDurations
        from storage.holiday_cache import CachedHolidays
        from storage.tracking import TrackingReader

        if cutoff is not None:
            from storage.asof import completed_since

            if completed_since(conn, cutoff, {(wf.id, wf.target.state) for wf in self.catalog.all()}):
                return DeadlineBook(self.catalog, self.tz, TrackingReader(conn, before=cutoff), CachedHolidays())
        return DeadlineBook(self.catalog, self.tz, TrackingReader(conn), CachedHolidays(),
                            CachedDurations(conn, self.db.url))

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
