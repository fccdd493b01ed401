"""The user's caches (storage/cache.py): atomic entries, a read-only home works, and the workflow
cache re-checks a cached workflow when the loader changes (a new validation rule)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage import cache, workflow_cache
from storage.holiday_cache import CachedHolidays
from storage.workflow_cache import CachedLoader
from workflows import SHIPPED_DIR


def test_entries_are_written_whole_and_a_failed_write_is_ignored(tmp_path: Path) -> None:
    path = cache.entry(tmp_path / "kind", "some key", ".json")
    cache.write(path, b"[1]")
    assert cache.read(path) == b"[1]" and [p.name for p in path.parent.iterdir()] == [path.name]
    blocked = tmp_path / "file"
    blocked.write_text("x")
    cache.write(blocked / "sub" / "e.json", b"{}")  # its folder cannot be made: nothing raised
    assert cache.read(blocked / "sub" / "e.json") is None


def test_code_stamp_changes_with_the_module_file_without_importing_it(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    module = tmp_path / "stamped_mod_xyz.py"
    module.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = cache.code_stamp("stamped_mod_xyz")
    module.write_text("X = 22\n")
    assert cache.code_stamp("stamped_mod_xyz") != first
    import sys

    assert "stamped_mod_xyz" not in sys.modules
    assert cache.code_stamp("no_such_module_here") == "no_such_module_here:-"


def test_a_changed_loader_rechecks_cached_workflows(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "wf.yaml"
    shutil.copy(SHIPPED_DIR / "space-improvement.yaml", source)
    calls: list[Path] = []
    real = workflow_cache._load

    def counting(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path)

    monkeypatch.setattr(workflow_cache, "_load", counting)
    folder = tmp_path / "cache"
    first = CachedLoader(folder)(source)
    again = CachedLoader(folder)(source)
    assert len(calls) == 1 and first == again  # the second came from the cache
    # A new loader (its file changed: e.g. a new validation rule) must parse and validate again.
    monkeypatch.setattr(cache, "code_stamp", lambda *modules: "a new loader")
    CachedLoader(folder)(source)
    assert len(calls) == 2
    assert "engine.loader" in workflow_cache.LOADER_MODULES


def test_holidays_come_from_the_cache_once_stored(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import storage.holiday_cache as hc

    days = CachedHolidays(tmp_path)("KR", 2016)
    assert len(days) > 10
    monkeypatch.setattr(hc, "package_holidays", lambda *a: pytest.fail("the package was asked again"))
    assert CachedHolidays(tmp_path)("KR", 2016) == days
