"""Workflow versions as data: the validated source text of a version, its content hash, and whether
(and when, by whom) it is published in the database.

A workflow version is identified by (id, version) and its content by the SHA-256 of its source text
(UTF-8, without a byte-order mark, line endings as ``\\n``): the same file saved on Windows and on
Linux has one hash. Once a version is stored, that content *is* the version: a file with the same id
and version but other content is refused (publish) or is an error (a local ``--workflows`` folder).

Pure: nothing here reads files or the database (storage/workflow_store.py does).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from engine.errors import ConflictError

SHIPPED = "shipped"
LOCAL = "local"
STORED = "stored"


def normalise_text(raw: bytes | str) -> str:
    """The text that is hashed and stored: UTF-8 without BOM, ``\\n`` line endings."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def content_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class WorkflowSource:
    """The content of one workflow version and where it came from."""

    workflow_id: str
    version: int
    text: str
    content_hash: str
    origin: str = LOCAL
    """``shipped`` (dongflow's own folder), ``local`` (a ``--workflows`` folder) or ``stored`` (the database)."""
    file: str | None = None
    published_at: dt.datetime | None = None
    published_by: str | None = None

    @property
    def ref(self) -> tuple[str, int]:
        return (self.workflow_id, self.version)

    @property
    def published(self) -> bool:
        return self.published_at is not None

    @classmethod
    def of(cls, workflow_id: str, version: int, raw: bytes | str, *, origin: str = LOCAL,
           file: str | None = None) -> WorkflowSource:
        text = normalise_text(raw)
        return cls(workflow_id, version, text, content_hash(text), origin, file)

    def publication(self) -> dict[str, Any]:
        """What ``workflow show --json`` and the API add to a workflow's JSON."""
        return {
            "published": self.published,
            "published_at": None if self.published_at is None else self.published_at.isoformat(),
            "published_by": self.published_by,
            "content_hash": self.content_hash,
        }


class WorkflowVersionConflict(ConflictError):
    """The same workflow id and version with other content than the one stored (exit 6)."""

    def __init__(self, workflow_id: str, version: int, where: str, stored_hash: str, other_hash: str,
                 advice: str = "give your file a higher version") -> None:
        self.workflow_id = workflow_id
        self.version = version
        self.stored_hash = stored_hash
        self.other_hash = other_hash
        super().__init__(
            f"{where}: workflow {workflow_id} version {version} differs from the version stored in the "
            f"database (content {other_hash[:12]} vs stored {stored_hash[:12]}); {advice}"
        )


def workflow_json(workflow: Any, source: WorkflowSource | None) -> dict[str, Any]:
    """A workflow's JSON (``workflow show --json``, ``GET /api/workflows/{id}``) with its publication."""
    data = workflow.as_dict()
    if source is None:
        data.update({"published": False, "published_at": None, "published_by": None, "content_hash": None})
    else:
        data.update(source.publication())
    return data
