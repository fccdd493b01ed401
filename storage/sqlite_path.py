"""Whether a database URL names a SQLite file that is not there, decided without importing SQLAlchemy:
commands that can run without a database (``workflow list``, ``workflow show``) then start fast and
read only the workflow files. Mirrors storage.db's ``default_url`` and ``normalize_url`` (a test
compares them)."""

from __future__ import annotations

import os
from pathlib import Path


def default_sqlite_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dongflow" / "dongflow.db"


def absent_sqlite_file(url: str | None) -> bool:
    """True when ``url`` (None: the default database) is a SQLite file that does not exist."""
    if url is None:
        return not default_sqlite_file().exists()
    url = url.strip()
    if "://" not in url:
        return not Path(url).expanduser().exists()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        return bool(path) and path != ":memory:" and not Path(path).exists()
    return False
