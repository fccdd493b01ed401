"""Who may do what: the principal behind a request, the role rules, and the scoped service.

Every door (the CLI, the web pages, the HTTP API) calls the use cases through :class:`ScopedService`,
which knows the caller (:class:`Principal`) and applies the rules once, here:

* a project the caller may not read does not exist for them: any lookup by key raises
  :class:`ProjectNotFound`, exactly as for a key that is not there (a 404, never a 403 that would
  confirm the key);
* listings are restricted *in the query* (``ProjectQuery.districts``), so totals and pages are right;
* a write without the right raises :class:`Forbidden` before anything is written;
* the deadline check (``overdue``), the dashboard and the report apply the caller's districts here
  too: a door hands over its reader (rows from a connection, a report builder) and the service adds
  the scope, so no route, page or command decides which districts a caller reaches;
* the actor recorded in the history is the principal's name (the CLI's operator keeps ``--actor``).

Roles (``ROLES``):

============  ==============================================================================
admin         manages users and tokens; reads every district's projects, writes none
officer       the programme office: reads and writes every district
coordinator   reads and writes the projects of their districts (at least one)
viewer        reads only: their districts, or every district when none are given
============  ==============================================================================

The CLI runs as the *operator* (:meth:`Principal.operator`): the person at the server's terminal, who
already holds the database's credentials, has every right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from engine.corrections import check_live
from engine.errors import Forbidden, InvalidInput, ProjectNotFound, ProjectRenamed
from engine.ports import ProjectQuery
from engine.project import Event, Project
from engine.values import clean_text, lookup_text
from engine.roles import ADMIN, COORDINATOR, OFFICER, OPERATOR, ROLE_HELP, ROLES, VIEWER

__all__ = ["ROLES", "ROLE_HELP", "Principal", "ScopedService", "check_role_districts", "scoped_query"]

ALL_DISTRICTS_ROLES = (ADMIN, OFFICER, VIEWER)
"""Roles that may have no districts (meaning: every district)."""


def check_role_districts(role: str, districts: Iterable[str], known: Collection[str] | None = None) -> tuple[str, ...]:
    """Validate a role with its districts; returns the districts cleaned, sorted, without repeats.

    ``known``: the districts there are (the programme's list, programme.places.seoul_districts); a
    district not among them is refused, naming the valid ones. None: any name is taken."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r} (roles: {', '.join(ROLES)})", field="role")
    cleaned = tuple(sorted({clean_text(d, "gu", max_len=200) for d in districts}))
    if known is not None:
        unknown = [d for d in cleaned if d not in known]
        if unknown:
            raise InvalidInput(f"unknown district {unknown[0]!r} (valid: {', '.join(known)})", field="gu")
    if role == COORDINATOR and not cleaned:
        raise InvalidInput("a coordinator needs at least one district (--gu)", field="gu")
    if role in (ADMIN, OFFICER) and cleaned:
        raise InvalidInput(f"an {role} works on every district; give no --gu", field="gu")
    return cleaned


@dataclass(frozen=True)
class Principal:
    """The caller: a name (what the history records), a role, and the districts it is limited to."""

    name: str
    role: str
    districts: frozenset[str] | None = None
    """None: every district. Otherwise only these (a coordinator's, or a limited viewer's)."""
    display_name: str | None = None
    via: str = "cli"
    """How the caller proved who they are: ``cli`` (the operator), ``password`` or ``token``."""

    @classmethod
    def operator(cls, name: str = "operator") -> Principal:
        return cls(name=name, role=OPERATOR, districts=None, via="cli")

    @classmethod
    def of(cls, name: str, role: str, districts: Sequence[str] = (), *, display_name: str | None = None,
           via: str = "password") -> Principal:
        # No districts means every district only for the roles that may have none; a coordinator stored
        # without any (a row edited by hand) reaches nothing rather than everything.
        scope = frozenset(districts) if districts or role not in ALL_DISTRICTS_ROLES else None
        return cls(name=name, role=role, districts=scope, display_name=display_name, via=via)

    # -- the rules ----------------------------------------------------------------------------
    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    @property
    def can_admin(self) -> bool:
        """May manage users and tokens."""
        return self.role in (OPERATOR, ADMIN)

    @property
    def writes(self) -> bool:
        """May write to projects at all (in some district)."""
        return self.role in (OPERATOR, OFFICER, COORDINATOR)

    def _in_scope(self, gu: str) -> bool:
        return self.districts is None or gu in self.districts

    def can_read(self, gu: str) -> bool:
        return self.role in (OPERATOR, ADMIN, OFFICER, COORDINATOR, VIEWER) and self._in_scope(gu)

    def can_write(self, gu: str) -> bool:
        return self.writes and self._in_scope(gu)

    @property
    def read_scope(self) -> frozenset[str] | None:
        """The districts to restrict every read to (None: no restriction)."""
        return self.districts

    def actor(self, given: str | None = None) -> str:
        """The name the history records. The operator names themselves (``--actor``); everyone else
        is recorded as who they signed in as, whatever they pass."""
        if self.is_operator:
            return clean_text(given if given is not None else self.name, "actor")
        return self.name

    def describe(self) -> str:
        return f"{self.name} ({self.role})"


def scoped_query(principal: Principal, query: ProjectQuery) -> ProjectQuery:
    """The query restricted to what ``principal`` may read (intersected with any district it names)."""
    scope = principal.read_scope
    if scope is None:
        return query
    districts = scope if query.districts is None else frozenset(query.districts) & scope
    return replace(query, districts=districts)


class ScopedService:
    """The use cases of :class:`engine.service.Service` as one principal may call them.

    Methods mirror the service's; ``actor=`` is honoured only for the operator (see
    :meth:`Principal.actor`). Use cases not wrapped here are available to the operator only: a new
    use case cannot reach the web without someone deciding its rule.
    """

    def __init__(self, service: Any, principal: Principal, programme: Any = None, alerts: Any = None) -> None:
        self._service = service
        self.principal = principal
        self._programme_service = programme
        """The programme's use cases (programme.records.ProgrammeService), when the door offers them."""
        self._alert_service = alerts
        """The alert lifecycle (notify.service.AlertService), when the door offers it."""
        self.catalog = service.catalog

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not defined here: the operator keeps every other use case.
        if name.startswith("_") or not self.__dict__.get("principal", Principal("?", "?")).is_operator:
            raise AttributeError(f"{name} is not available to {self.__dict__.get('principal')}")
        return getattr(self.__dict__["_service"], name)

    # -- reads ---------------------------------------------------------------------------------
    def project(self, key: str) -> Project:
        """One project, or ProjectNotFound -- also when it exists in a district the caller cannot read.
        A key the project had before ``project edit --key`` raises ProjectRenamed (a ProjectNotFound
        naming the new key) when the caller may read it: reads follow it, changes are refused."""
        try:
            project = self._service.project(key)
        except ProjectNotFound as exc:
            new_key = self.renamed_to(key)
            if new_key is None:
                raise
            raise ProjectRenamed(lookup_text(key, "key") or key, new_key) from exc
        if not self.principal.can_read(project.gu):
            raise ProjectNotFound(project.key)
        return project

    def renamed_to(self, key: str) -> str | None:
        """The key now of a project the caller may read that had ``key`` before a rename, or None."""
        new_key = self._service.renamed_to(key)
        if new_key is None:
            return None
        try:
            found = self._service.project(new_key)
        except ProjectNotFound:
            return None
        return found.key if self.principal.can_read(found.gu) else None

    def status(self, query: ProjectQuery, cutoff: dt.datetime | None = None) -> list[Project]:
        """Projects as they stand, or as their record stood before ``cutoff`` (engine.asof)."""
        if query.key is not None:
            project = self.project(query.key)
            if cutoff is None:
                return [project]
        return self._service.status(scoped_query(self.principal, query), cutoff)

    def count(self, query: ProjectQuery, cutoff: dt.datetime | None = None) -> int:
        """How many projects ``status`` would list without limit and offset."""
        return self._service.count(scoped_query(self.principal, query), cutoff)

    def history(self, key: str) -> list[Event]:
        self.project(key)
        return self._service.history(key)

    def workflow_of(self, project: Project) -> Any:
        return self._service.workflow_of(project)

    # -- what the caller may choose among, and may do (for a door's forms and buttons) -----------
    @property
    def limited(self) -> bool:
        """Whether the caller is limited to some districts."""
        return self.principal.read_scope is not None

    def read_districts(self) -> list[str] | None:
        """The districts the caller is limited to, sorted; None: every district."""
        scope = self.principal.read_scope
        return None if scope is None else sorted(scope)

    def districts(self, stored: Callable[[], Iterable[str]]) -> list[str]:
        """The districts the caller may pick from: theirs when limited, else every one ``stored()``
        names (the districts the database holds, read only when needed)."""
        mine = self.read_districts()
        return mine if mine is not None else sorted(set(stored()))

    def may_write(self, project: Project) -> bool:
        """Whether a write to ``project`` would be allowed (a door shows its buttons or not)."""
        return self.principal.can_write(project.gu)

    # -- deadline checks, the dashboard and the report: the door reads, the scope is applied here ---
    def tracked(self, read: Callable[..., Iterable[Any]], **filters: Any) -> Iterable[Any]:
        """The deadline rules' rows of the projects the caller may read. ``read`` is the door's reader
        (``storage.asof.iter_tracked`` or ``storage.tracking.tracked_rows`` bound to a connection), called
        with ``filters`` and the caller's districts, so the query itself is restricted."""
        return read(**filters, districts=self.principal.read_scope)

    def overdue(self, book: Any, read: Callable[..., Iterable[Any]], day: dt.date, lang: str = "en", *,
                gu: str | None = None, year: int | None = None) -> list[tuple[Any, Any]]:
        """Findings (due soon, overdue, escalated, at risk) on ``day`` in the caller's districts: the
        (row, finding) pairs of ``book.scan`` (engine.monitor.DeadlineBook) over :meth:`tracked`."""
        rows = self.tracked(read, skip_states=book.skip_states(), closed_before=book.closed_before(day),
                            gu=gu, year=year)
        _count, found = book.scan(rows, day, lang)
        return found

    def dashboard(self, book: Any, read: Callable[..., Iterable[Any]], day: dt.date) -> list[tuple[Any, Any]]:
        """Every project the caller may read (closed ones too), assessed on ``day``: (row, assessment)."""
        return book.assess(self.tracked(read), day)

    def report_district(self, gu: str | None) -> str | None:
        """The district a report may cover for the caller: any (or all) for a caller without limits;
        otherwise one of theirs (their only one when none is named; Forbidden for another)."""
        scope = self.principal.read_scope
        if scope is None:
            return gu
        if gu is None:
            if len(scope) == 1:
                return next(iter(scope))
            raise InvalidInput(f"name one of your districts: {', '.join(sorted(scope))}", field="gu")
        if gu not in scope:
            raise Forbidden(self.principal.describe(), f"read the report of {gu}")
        return gu

    def report(self, builder: Any, as_of: dt.date, f: Any, sections: Sequence[str] | None = None, *,
               timeline: bool = False, progress: Callable[[int], None] | None = None) -> Any:
        """The programme report (``builder``: programme.report.ReportBuilder) with the filter ``f``
        (a dataclass with ``gu``) narrowed to the district :meth:`report_district` allows."""
        allowed = replace(f, gu=self.report_district(f.gu))
        return builder.build(as_of, allowed, sections, timeline, progress=progress)

    # -- writes --------------------------------------------------------------------------------
    def _writable(self, project: Project, action: str) -> None:
        if not self.principal.can_write(project.gu):
            raise Forbidden(self.principal.describe(), f"{action} {project.key}")
        check_live(project, action)

    # -- corrections and bulk moves (engine/amend.py, engine/bulk.py) --------------------------
    def undo(self, key: str, *, now: dt.datetime, note: str | None, actor: str | None = None,
             expected_version: int | None = None) -> tuple[Project, Event]:
        project = self.project(key)
        self._writable(project, "undo")
        return self._service.undo(project.key, actor=self.principal.actor(actor), now=now, note=note,
                                  expected_version=expected_version)

    def retire_project(self, key: str, *, now: dt.datetime, note: str | None, actor: str | None = None,
                       expected_version: int | None = None) -> tuple[Project, Event]:
        project = self.project(key)
        self._writable(project, "retire")
        return self._service.retire_project(project.key, actor=self.principal.actor(actor), now=now, note=note,
                                            expected_version=expected_version)

    def edit_project(self, key: str, *, now: dt.datetime, note: str | None, actor: str | None = None,
                     gu: str | None = None, **changes: Any) -> tuple[Project, Event]:
        project = self.project(key)
        self._writable(project, "edit")
        if gu is not None and not self.principal.can_write(lookup_text(gu, "gu") or ""):
            raise Forbidden(self.principal.describe(), f"move {project.key} into {gu}")
        return self._service.edit_project(project.key, actor=self.principal.actor(actor), now=now, note=note,
                                          gu=gu, **changes)

    def bulk_advance(self, trigger: str, *, now: dt.datetime, actor: str | None = None,
                     query: ProjectQuery | None = None, keys: Sequence[str] | None = None, **options: Any) -> Any:
        """A bulk move within the caller's districts: a filter is narrowed to them; a listed key
        outside them is refused as not found, exactly like a single advance."""
        if not self.principal.writes:
            raise Forbidden(self.principal.describe(), "move projects")

        def lookup(key: str) -> Project:
            project = self.project(key)
            self._writable(project, trigger)
            return project

        return self._service.bulk_advance(
            trigger, actor=self.principal.actor(actor), now=now,
            query=None if query is None else scoped_query(self.principal, query), keys=keys, lookup=lookup, **options,
        )

    def advance(self, key: str, trigger: str, *, now: dt.datetime, actor: str | None = None,
                at: dt.datetime | None = None, note: str | None = None,
                expected_version: int | None = None) -> tuple[Project, Event]:
        project = self.project(key)
        self._writable(project, "advance")
        return self._service.advance(project.key, trigger, actor=self.principal.actor(actor), now=now, at=at,
                                    note=note, expected_version=expected_version)

    def set_fact(self, key: str, name: str, raw_value: str, *, now: dt.datetime, actor: str | None = None,
                 note: str | None = None, at: dt.datetime | None = None,
                 expected_version: int | None = None) -> tuple[Project, Any]:
        project = self.project(key)
        self._writable(project, "record facts on")
        return self._service.set_fact(project.key, name, raw_value, actor=self.principal.actor(actor), now=now,
                                     note=note, at=at, expected_version=expected_version)

    def add_project(self, spec: Any, *, now: dt.datetime, actor: str | None = None,
                    at: dt.datetime | None = None, allow_duplicate: bool = False) -> Project:
        gu = lookup_text(str(spec.gu), "gu") or ""
        if not self.principal.can_write(gu):
            raise Forbidden(self.principal.describe(), f"add projects in {gu}")
        return self._service.add_project(spec, actor=self.principal.actor(actor), now=now, at=at,
                                         allow_duplicate=allow_duplicate)

    def import_csv(self, stream: BinaryIO, source: str, *, now: dt.datetime, actor: str | None = None,
                   progress: Callable[[int, int], None] | None = None, tz: Any = None,
                   allow_duplicate: bool = False) -> int:
        if not (self.principal.is_operator or (self.principal.writes and self.principal.districts is None)):
            raise Forbidden(self.principal.describe(), "import projects")
        return self._service.import_csv(stream, source, actor=self.principal.actor(actor), now=now,
                                       progress=progress, tz=tz, allow_duplicate=allow_duplicate)

    def add_with_history(self, items: Any) -> None:
        if not self.principal.is_operator:
            raise Forbidden(self.principal.describe(), "load projects with histories")
        self._service.add_with_history(items)


    # -- the programme's records on one project (participation, budget, people) ----------------
    def _programme(self) -> Any:
        if self._programme_service is None:
            raise AttributeError("this scoped service was built without the programme's use cases")
        return self._programme_service

    def add_participation(self, entry: Any, *, now: dt.datetime, actor: str | None = None,
                          at: dt.datetime | None = None, tz: dt.tzinfo = dt.timezone.utc,
                          expected_version: int | None = None) -> Project | None:
        """Record participation on a project the caller may write (programme-wide: officers only);
        ``expected_version`` (the version the caller saw) refuses a stale form."""
        if entry.key is not None:
            self._writable(self.project(entry.key), "record participation on")
        elif not (self.principal.writes and self.principal.districts is None):
            raise Forbidden(self.principal.describe(), "record programme-wide participation")
        return self._programme().add_participation(entry, actor=self.principal.actor(actor), now=now, at=at, tz=tz,
                                                   expected_version=expected_version)

    def participation(self, key: str) -> list[Any]:
        return self._programme().store.participation(self.project(key).key)

    def budgets(self, key: str) -> list[Any]:
        return self._programme().store.budgets(self.project(key).key)

    def people(self, key: str) -> list[Any]:
        return [person for _gu, person in self._programme().store.people(self.project(key).key)]

    # -- alerts (list, show, acknowledge, snooze) ----------------------------------------------------
    def _alerts(self) -> Any:
        if self._alert_service is None:
            raise AttributeError("this scoped service was built without the alert use cases")
        return self._alert_service

    def alerts(self, states: Sequence[str] = (), limit: int | None = None) -> list[Any]:
        """Alerts of the districts the caller may read (filtered in the query), newest first."""
        return self._alerts().list(self.principal.name, states, limit, self.principal.read_scope)

    def alert(self, alert_id: int) -> Any:
        """One alert; another district's is not found, exactly like a missing one."""
        from engine.errors import NotFound

        found = None
        try:
            found = self._alerts().get(alert_id)
        except NotFound:
            pass
        if found is None or not self.principal.can_read(found.gu):
            raise NotFound(f"no alert #{alert_id} (see dongflow alerts list)")
        return found

    def acknowledge_alert(self, alert_id: int, note: str | None, *, actor: str | None = None) -> Any:
        found = self.alert(alert_id)
        if not self.principal.can_write(found.gu):
            raise Forbidden(self.principal.describe(), f"acknowledge alert #{alert_id}")
        return self._alerts().acknowledge(self.principal.actor(actor), alert_id, note)

    def snooze_alert(self, alert_id: int, until: Any, note: str | None, *, actor: str | None = None) -> Any:
        found = self.alert(alert_id)
        if not self.principal.can_write(found.gu):
            raise Forbidden(self.principal.describe(), f"snooze alert #{alert_id}")
        return self._alerts().snooze(self.principal.actor(actor), alert_id, until, note)
