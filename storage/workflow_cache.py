"""Parsed workflow files kept in the user's cache folder, so a command does not parse YAML each time.

Parsing and validating the shipped workflow (and importing PyYAML) costs about 30 ms, a tenth of a
one-project ``dongflow status``. A parsed file is stored as a pickle keyed by the file's path, size
and modification time and by the definition module's own modification time (a new dongflow with a
changed data model never reads an old pickle). Only files that loaded without error are cached.
The cache lives in the user's own folder (``$XDG_CACHE_HOME/dongflow/workflows``): whoever can write
there can already change the user's installed code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import engine.definition
from engine.definition import Workflow


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dongflow" / "workflows"


class CachedLoader:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()
        self._model_stamp = os.stat(engine.definition.__file__).st_mtime_ns

    def __call__(self, path: Path) -> Workflow:
        try:
            st = path.stat()
        except OSError:
            return _load(path)  # reports the problem
        ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self._model_stamp}"
        cached = self.folder / (hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32] + ".pickle")
        try:
            workflow = pickle.loads(cached.read_bytes())  # noqa: S301 - the user's own cache, see above
            if isinstance(workflow, Workflow):
                return workflow
        except Exception:  # noqa: BLE001 - a missing or unreadable cache entry just means: parse
            pass
        workflow = _load(path)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps(workflow, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, cached)
        except OSError:
            pass
        return workflow


def _load(path: Path) -> Workflow:
    """Parse the file: the loader (and PyYAML, ~20 ms) is imported only on a cache miss."""
    from engine.loader import load_file

    return load_file(path)
