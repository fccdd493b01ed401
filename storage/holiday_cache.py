"""Public holidays cached on disk: the ``holidays`` package takes about 0.1 s to import, which would
double the start-up of a one-project ``dongflow status``. The cache is keyed by the package's
location and modification time, so upgrading the package refreshes it; any problem with the cache
falls back to the package itself.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from engine.workdays import package_holidays
from storage import cache


def cache_dir() -> Path:
    return cache.cache_dir("holidays")


def _package_stamp() -> str:
    return cache.code_stamp("holidays")


class CachedHolidays:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()
        self._stamp: str | None = None

    def __call__(self, country: str, year: int) -> frozenset[dt.date]:
        if self._stamp is None:
            self._stamp = _package_stamp()
        path = cache.entry(self.folder, f"{country}|{year}|{self._stamp}", ".json")
        raw = cache.read(path)
        if raw is not None:
            try:
                return frozenset(dt.date.fromisoformat(d) for d in json.loads(raw))
            except (ValueError, TypeError):
                pass
        days = package_holidays(country, year)
        cache.write(path, json.dumps(sorted(d.isoformat() for d in days)).encode("utf-8"))
        return days
