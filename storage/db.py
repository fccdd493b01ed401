"""Connecting to the database, and turning driver errors into dongflow errors.

SQLite is the embedded default; PostgreSQL is the multi-user store. Every SQLite connection runs in
WAL mode with ``synchronous=NORMAL`` and a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so two writers queue on the lock (and wait up to the timeout) instead of one
failing half-way when it upgrades a read lock. A database still locked after the timeout is a clear
"busy" error, not a hang.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from engine.errors import DatabaseError, InvalidInput, SchemaOutdated
from engine.values import ascii_digits

SCHEMA_REVISION = "0014_check_marks"
"""The Alembic revision this code expects (the head of storage/migrations; a test checks it)."""

DEFAULT_BUSY_TIMEOUT_S = 5.0
ENV_URL = "DONGFLOW_DATABASE_URL"


def default_url() -> str:
    """``$XDG_DATA_HOME/dongflow/dongflow.db`` (``~/.local/share/dongflow/dongflow.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'dongflow' / 'dongflow.db'}"


def normalize_url(url: str) -> str:
    """Accept the URL forms people paste; PostgreSQL goes through psycopg 3."""
    url = url.strip()
    if re.match(r"^postgres(ql)?://", url):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        # A bare path means a SQLite file.
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def busy_timeout_s() -> float:
    raw = os.environ.get("DONGFLOW_BUSY_TIMEOUT")
    if raw is None:
        return DEFAULT_BUSY_TIMEOUT_S
    ascii_digits(raw.strip(), "DONGFLOW_BUSY_TIMEOUT")  # float() reads '３'
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a number of seconds", field="DONGFLOW_BUSY_TIMEOUT") from None
    if value < 0:
        raise InvalidInput("must not be negative", field="DONGFLOW_BUSY_TIMEOUT")
    return value


class Database:
    """One database: its engine, read and write transactions, and the schema check."""

    def __init__(self, url: str, *, named_as: str = "--db") -> None:
        self.named_as = named_as
        """How the user gave the URL (``--db`` or ``DONGFLOW_DATABASE_URL``), for error messages."""
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise InvalidInput(f"{url!r} is not a database URL", field=self.named_as) from None
        self.dialect = parsed.get_backend_name()
        self.sqlite_path: Path | None = None
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                self.sqlite_path = Path(parsed.database)
        elif self.dialect != "postgresql":
            raise InvalidInput(
                f"unsupported database {self.dialect!r}; use sqlite:///FILE or postgresql://HOST/DB",
                field=self.named_as,
            )
        self.timeout = busy_timeout_s()
        self.engine = self._make_engine()
        self._on_dispose: list[Any] = []

    def on_dispose(self, close: Any) -> None:
        """Call ``close()`` when the database is disposed (a driver connection kept checked out)."""
        self._on_dispose.append(close)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _make_engine(self) -> Engine:
        try:
            if self.is_sqlite:
                engine = create_engine(self.url, connect_args={"timeout": self.timeout})
                _configure_sqlite(engine, self.timeout)
            else:
                engine = create_engine(
                    self.url,
                    connect_args={"connect_timeout": max(1, int(self.timeout))},
                    pool_pre_ping=True,
                )
                _configure_postgresql(engine, self.timeout)
        except NoSuchModuleError:
            raise InvalidInput(f"no driver for {display_url(self.url)}", field=self.named_as) from None
        except (ArgumentError, ImportError) as exc:
            raise InvalidInput(f"cannot use {display_url(self.url)}: {exc}", field=self.named_as) from None
        return engine

    def describe(self) -> str:
        return str(self.sqlite_path) if self.sqlite_path else display_url(self.url)

    def exists(self) -> bool:
        """False for a SQLite file that is not there yet (reads then need no file created)."""
        return self.sqlite_path is None or self.sqlite_path.exists()

    def prepare_file(self) -> None:
        """Make sure the SQLite file's folder is there.

        Only the default location's folder (``~/.local/share/dongflow``) is created, so a first
        ``init`` works on a fresh machine; a folder named with ``--db`` must exist already: a typo
        in a path should be an error, not a new folder tree somewhere.
        """
        if self.sqlite_path is not None:
            blocking = next((p for p in self.sqlite_path.parents if p.exists() and not p.is_dir()), None)
            if blocking is not None:
                raise DatabaseError(f"cannot create {self.sqlite_path}: {blocking} is a file, not a folder")
            if not self.sqlite_path.parent.is_dir() and self.url != normalize_url(default_url()):
                raise InvalidInput(
                    f"the folder {self.sqlite_path.parent} does not exist; create it first "
                    "(dongflow creates only its default folder)",
                    field=self.named_as,
                )
            try:
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create {self.sqlite_path.parent}: {exc.strerror}") from None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        if not self.exists():
            raise SchemaOutdated(None, SCHEMA_REVISION)
        with self.translate_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self, *, create: bool = False) -> Iterator[Connection]:
        """One transaction that commits on success and rolls back on any error. ``create``: a SQLite
        file that is not there yet is made (for a transaction that creates the schema itself)."""
        if create:
            self.prepare_file()
        elif not self.exists():
            raise SchemaOutdated(None, SCHEMA_REVISION)
        with self.translate_errors(), self.engine.connect() as conn:
            conn.execution_options(dongflow_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def translate_errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise  # the repository turns these into AlreadyExists / ChangedMeanwhile
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseError(f"lost the connection to {self.describe()}") from None
            raise self._operational(exc) from None
        except PermissionError as exc:
            raise DatabaseError(f"cannot open {self.describe()}: {exc.strerror}") from None

    def _operational(self, exc: DBAPIError) -> DatabaseError:
        message = str(exc.orig) if exc.orig is not None else str(exc)
        low = message.lower()
        where = self.describe()
        if "locked" in low or "busy" in low or "lock timeout" in low:
            return DatabaseError(
                f"{where} is busy (locked by another process for more than {self.timeout:g} s); "
                "try again, or raise DONGFLOW_BUSY_TIMEOUT"
            )
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return DatabaseError(f"{where} is not a dongflow database or is damaged ({message.strip()})")
        if "readonly" in low or "read-only" in low:
            return DatabaseError(f"{where} cannot be written (read-only file or folder)")
        if "unable to open" in low:
            if self.sqlite_path is not None and self.sqlite_path.is_dir():
                return DatabaseError(f"{where} is a folder, not a database file")
            return DatabaseError(f"cannot open {where} (missing folder or no permission)")
        if "no such table" in low or ("relation" in low and "does not exist" in low):
            return SchemaOutdated(None, SCHEMA_REVISION)
        first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        return DatabaseError(f"cannot use {where}: {first}")

    def current_revision(self) -> str | None:
        """The schema revision recorded in the database, or None for an empty database."""
        if not self.exists():
            return None
        with self.translate_errors(), self.engine.connect() as conn:
            try:
                with conn.begin():
                    rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            except DBAPIError as exc:
                translated = self._operational(exc)
                if isinstance(translated, SchemaOutdated):
                    return None
                raise translated from None
        if not rows:
            return None  # the table without its row: every migration was undone
        if len(rows) > 1 or not isinstance(rows[0][0], str) or not rows[0][0]:
            # Alembic keeps exactly one row; anything else is a damaged page read back as garbage.
            raise DatabaseError(f"{self.describe()} is not a dongflow database or is damaged (its schema revision cannot be read)")
        return rows[0][0]

    def require_schema(self) -> None:
        """Refuse to run against a database made by another schema revision."""
        current = self.current_revision()
        if current != SCHEMA_REVISION:
            raise SchemaOutdated(current, SCHEMA_REVISION)

    def dispose(self) -> None:
        while self._on_dispose:
            try:
                self._on_dispose.pop()()
            except Exception:  # noqa: BLE001 - closing a connection that already failed
                pass
        self.engine.dispose()


def _configure_sqlite(engine: Engine, timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event (below) issue BEGIN itself, so writes can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode and str(mode[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("dongflow_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _configure_postgresql(engine: Engine, timeout: float) -> None:
    # psycopg logs a warning when it abandons a failed pipeline (an executemany that hit a constraint);
    # dongflow reports the error itself, in one line, so without a handler of the application's own
    # that warning must not reach stderr through logging's last-resort handler.
    quiet = logging.getLogger("psycopg")
    if not any(isinstance(h, logging.NullHandler) for h in quiet.handlers):
        quiet.addHandler(logging.NullHandler())

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A writer queued behind a transaction that hangs gives up after the same timeout as on
        # SQLite, with the same clear "busy" error, instead of waiting forever.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {int(timeout * 1000)}")
        dbapi_connection.commit()
