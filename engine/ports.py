"""What the use cases need from storage, as an interface (storage/ implements it).

The engine never imports a database library; tests can run the use cases on any implementation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.project import Event, Project
from engine.workflow_versions import WorkflowSource


@dataclass(frozen=True)
class ProjectQuery:
    key: str | None = None
    gu: str | None = None
    year: int | None = None
    state: str | None = None
    workflow_id: str | None = None
    limit: int | None = None
    offset: int = 0
    districts: frozenset[str] | None = None
    """Only projects in these districts (the caller's read scope); None: no restriction."""


class ProjectStore(Protocol):
    def get(self, key: str) -> Project:
        """The project, or raise ProjectNotFound."""

    def add(
        self,
        items: Sequence[tuple[Project, Sequence[Event]]],
        progress: Callable[[int], None] | None = None,
        workflows: Sequence[WorkflowSource] = (),
    ) -> None:
        """Insert new projects with their events, all or none (AlreadyExists on a taken key), and
        in the same transaction the workflow versions ``workflows`` not stored yet."""

    def save(self, project: Project, event: Event) -> None:
        """Store ``project`` (whose version is one more than the stored one) and its event, in one
        transaction; raise ChangedMeanwhile if the stored version is no longer ``version - 1``."""

    def save_batch(self, items: Sequence[tuple[str, Project, Event]], *, skip_stale: bool = False) -> list[str]:
        """Store several (old key, project, event) in one transaction, each versioned like ``save``
        (a bulk move, or a key that changes); ChangedMeanwhile and nothing stored when one is stale,
        unless ``skip_stale`` (those are left alone and their keys returned)."""

    def events(self, key: str) -> list[Event]:
        """A project's events in order (ProjectNotFound if there is no such project)."""

    def find(self, query: ProjectQuery) -> list[Project]:
        """Projects matching the query, ordered by key (``offset`` and ``limit`` applied last)."""

    def find_as_of(self, query: ProjectQuery, cutoff: dt.datetime) -> list[Project]:
        """Projects matching the query as their record stood just before ``cutoff``: each one created
        before it, rebuilt from its events dated before it (engine.asof.rebuilt); ordered by key,
        ``offset`` and ``limit`` applied last."""

    def count(self, query: ProjectQuery) -> int:
        """How many projects match the query (ignoring its limit and offset)."""

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` are already taken."""

    def renamed_to(self, key: str) -> str | None:
        """The key now of the project that had ``key`` before a ``project edit --key`` (its ``edited``
        events; the most recently recorded rename if several projects had it), or None."""
