"""The user's cache folder and its one way of writing: what the workflow, durations and holiday caches
share. A cache entry is written to a temporary file beside it and renamed into place, so a reader never
sees half an entry; any problem reading or writing just means "compute it" (a read-only home works).

The cache lives in the user's own folder (``$XDG_CACHE_HOME/dongflow/KIND``): whoever can write there
can already change the user's installed code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """``$XDG_CACHE_HOME/dongflow/KIND`` (``~/.cache/dongflow/KIND``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dongflow" / kind


def entry(folder: Path, ident: str, suffix: str) -> Path:
    """The file of the entry keyed by ``ident`` (hashed: keys hold paths and other long text)."""
    return folder / (hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32] + suffix)


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; failures are ignored (the cache is only a cache)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass


def code_stamp(*modules: str) -> str:
    """Size and modification time of these modules' files, found without importing them: part of a
    key whenever the cached value depends on that code (a changed loader must re-check its input)."""
    parts = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        try:
            st = os.stat(origin) if origin else None
        except OSError:
            st = None
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}" if st else f"{name}:-")
    return "|".join(parts)
