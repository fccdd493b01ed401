"""Public holidays cached on disk: the ``holidays`` package takes about 0.1 s to import, which would
double the start-up of a one-project ``dongflow status``. The cache is keyed by the package's
location and modification time, so upgrading the package refreshes it; any problem with the cache
falls back to the package itself.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from pathlib import Path

from engine.workdays import package_holidays


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dongflow" / "holidays"


def _package_stamp() -> str:
    spec = importlib.util.find_spec("holidays")
    if spec is None or spec.origin is None:
        return "none"
    return str(int(os.stat(spec.origin).st_mtime))


class CachedHolidays:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()
        self._stamp: str | None = None

    def __call__(self, country: str, year: int) -> frozenset[dt.date]:
        if self._stamp is None:
            self._stamp = _package_stamp()
        path = self.folder / f"{country}-{year}-{self._stamp}.json"
        try:
            return frozenset(dt.date.fromisoformat(d) for d in json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            pass
        days = package_holidays(country, year)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(sorted(d.isoformat() for d in days)), "utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home is fine: the package answers every time
        return days
