"""Parsed workflow files kept in the user's cache folder, so a command does not parse YAML each time.

Parsing and validating the shipped workflow (and importing PyYAML) costs about 30 ms, a tenth of a
one-project ``dongflow status``. A parsed file is stored as a pickle keyed by the file's path, size
and modification time and by the code that made it: the definition model (a new data model never
reads an old pickle) and the loader with its YAML reader (a new validation rule re-checks every
cached workflow). Only files that loaded without error are cached. See storage/cache.py.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

from engine.definition import Workflow
from storage import cache

LOADER_MODULES = ("engine.definition", "engine.identity", "engine.loader", "engine.loader_planning",
                  "engine.loader_util", "engine.yaml_reader")
"""The code a cached workflow depends on (found and stamped without importing the loader)."""


def cache_dir() -> Path:
    return cache.cache_dir("workflows")


class CachedLoader:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()
        self._model_stamp = cache.code_stamp(*LOADER_MODULES)

    def __call__(self, path: Path) -> Workflow:
        try:
            st = path.stat()
        except OSError:
            return _load(path)  # reports the problem
        return cached_workflow(
            cache.entry(self.folder, f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self._model_stamp}", ".pickle"),
            lambda: _load(path))


def cached_workflow(entry: Path, build: Callable[[], Workflow]) -> Workflow:
    """The workflow pickled in cache ``entry``, or ``build()``'s, then pickled there. Only workflows
    that built without error are cached; an unreadable entry just means: build."""
    data = cache.read(entry)
    if data is not None:
        try:
            workflow = pickle.loads(data)  # noqa: S301 - the user's own cache, see storage/cache.py
            if isinstance(workflow, Workflow):
                return workflow
        except Exception:  # noqa: BLE001 - an unreadable cache entry just means: parse
            pass
    workflow = build()
    cache.write(entry, pickle.dumps(workflow, protocol=pickle.HIGHEST_PROTOCOL))
    return workflow


def _load(path: Path) -> Workflow:
    """Parse the file: the loader (and PyYAML, ~20 ms) is imported only on a cache miss."""
    from engine.loader import load_file

    return load_file(path)
