"""The planning use cases -- risk, backtest, delays, baselines, blackouts, calendar events -- as one
principal may call them.

Reads go through the scoped service's own read functions (``status`` with the caller's district
scope, ``project`` that hides another district's project), so the same rules hold at every door and
the rows come from the one place reads are made. Writes (blackouts, baselines) check the caller's
right here, validate everything, then write once. Time comes in as ``now`` and ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine import baseline as bl
from engine.backward import START_PREFIX, topic
from engine.blackouts import DISTRICT, PROGRAMME, PROJECT, Blackout, new_blackout
from engine.corrections import check_live
from engine.deadlines import DeadlinePlanner, declared_durations
from engine.errors import Forbidden, InvalidInput
from engine.ports import ProjectQuery

MAX_BACKTEST_DATES = 400


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    """Stable across exports: the project's id (not its key, which ``project edit --key`` changes) and
    what the event marks, so a re-import or a refreshed feed updates the event (:func:`event_uid`)."""
    key: str
    gu: str
    dong: str
    day: dt.date
    kind: str
    """``milestone`` (an open milestone's due date) or ``latest_start`` (the backward pass)."""
    ident: str
    summary: str
    description: str


def event_uid(project: Any, what: str) -> str:
    """The UID of a calendar event of ``project``: ``project-ID/WHAT@dongflow`` (``what``: e.g.
    ``milestone/completed`` or ``start/tender``, unique per deadline of a project). Made of the
    project's id, which never changes; a store without ids (tests in memory) falls back to the key."""
    who = f"project-{project.id}" if getattr(project, "id", None) is not None else project.key
    return f"{who}/{what}@dongflow"


class PlanningService:
    def __init__(self, scoped: Any, book: Any, store: Any = None, lang: str = "ko", cutoff: dt.datetime | None = None) -> None:
        self.scoped = scoped
        self.principal = scoped.principal
        self.book = book
        self.store = store
        self.lang = lang
        self.cutoff = cutoff
        """Reads see the record as it stood before this moment (engine.asof); None: as it stands."""

    # -- reads ---------------------------------------------------------------------------------------
    def projects(self, gu: str | None = None, year: int | None = None) -> list[Any]:
        """The caller's projects, through the scoped service's one read (as of ``cutoff``)."""
        if self.cutoff is None:
            return self.scoped.status(ProjectQuery(gu=gu, year=year))
        return self.scoped.status(ProjectQuery(gu=gu, year=year), self.cutoff)

    def project(self, key: str) -> Any:
        """One project the caller may read (as it stood before ``cutoff``; not found if added later)."""
        if self.cutoff is None:
            return self.scoped.project(key)
        found = self.scoped.status(ProjectQuery(key=key), self.cutoff)
        if not found:
            from engine.errors import ProjectNotFound

            raise ProjectNotFound(key)
        return found[0]

    def risk(self, gu: str | None, year: int | None, as_of: dt.date, simulate: int = 0, seed: int = 0) -> list[Any]:
        """(project, ProjectRisk) of every open project, most likely to miss first."""
        from engine.risk import RiskEstimator, duration_model

        estimators: dict[tuple[str, int], RiskEstimator] = {}
        out = []
        for p in self.projects(gu, year):
            ref = (p.workflow_id, p.workflow_version)
            estimator = estimators.get(ref)
            if estimator is None:
                wf = self.book.catalog.get(*ref)
                completed = self.book.completed(p.workflow_id)
                model = duration_model(wf.ref, declared_durations(wf).days, completed, wf.target.state)
                estimator = estimators[ref] = RiskEstimator(self.book.planner(*ref), model)
            found = estimator.assess(p, as_of, self.book.off(p), simulate, seed)
            if found is not None:
                out.append((p, found))
        out.sort(key=lambda pr: (-pr[1].probability, pr[0].key))
        return out

    def backtest(self, gu: str | None, year: int | None, start: dt.date, end: dt.date, step: int,
                 data_end: dt.date) -> Any:
        from engine.risk import backtest

        if end < start:
            raise InvalidInput(f"--to {end} is before --from {start}", field="--to")
        if step < 1:
            raise InvalidInput("must be at least 1 day", field="--every")
        step = min(step, (end - start).days + 1)  # one date past --to is enough (and no date overflow)
        if end > data_end:
            raise InvalidInput(f"--to {end} is after the record's last day {data_end}: nothing to compare with yet",
                               field="--to")
        dates = []
        day = start
        while day <= end:
            dates.append(day)
            day += dt.timedelta(days=step)
        if len(dates) > MAX_BACKTEST_DATES:
            raise InvalidInput(f"{len(dates)} as-of dates; at most {MAX_BACKTEST_DATES} (use a larger --every)",
                               field="--every")
        book = self.book

        def make_planner(wf: Any, durations: Any) -> DeadlinePlanner:
            return DeadlinePlanner(wf, book.tz, durations, book.holidays)

        return backtest(self.projects(gu, year), dates, data_end, book.catalog.get, make_planner, book.off)

    def delays(self, gu: str | None, year: int | None, as_of: dt.date) -> list[Any]:
        from engine.ledger import ledger

        planner_tz = self.book.tz
        projects = self.projects(gu, year)
        return ledger(((p, p.gu) for p in projects), self.book.catalog.get, as_of,
                      lambda at: at.astimezone(planner_tz).date())

    def baseline_of(self, p: Any, stored: dict[str, Any] | None = None) -> bl.Baseline | None:
        """The project's baseline: the one set by ``baseline set``, else the one taken on entering the
        workflow's baseline state."""
        stored = stored if stored is not None else (self.store.baselines([p.key]) if self.store else {})
        found = stored.get(p.key)
        if found is not None:
            taken_on, planned = found
            return bl.Baseline(taken_on, planned, bl.SET)
        wf = self.book.catalog.get(p.workflow_id, p.workflow_version)
        planner = DeadlinePlanner(wf, self.book.tz, declared_durations(wf), self.book.holidays)
        return bl.auto_baseline(planner, p)

    def variances(self, projects: Sequence[Any], as_of: dt.date) -> dict[str, tuple[bl.Baseline, tuple[bl.Variance, ...]]]:
        stored = self.store.baselines([p.key for p in projects]) if self.store else {}
        out = {}
        for p in projects:
            base = self.baseline_of(p, stored)
            if base is not None:
                planner = self.book.planner(p.workflow_id, p.workflow_version)
                out[p.key] = (base, bl.variances(base, planner, p, as_of, self.book.off(p)))
        return out

    # -- baselines -----------------------------------------------------------------------------------
    def set_baseline(self, key: str, as_of: dt.date, *, now: dt.datetime, actor: str | None = None) -> bl.Baseline:
        """Re-baseline a project: the plan as of ``as_of`` replaces its baseline."""
        p = self.scoped.project(key)
        if not self.principal.can_write(p.gu):
            raise Forbidden(self.principal.describe(), f"set the baseline of {p.key}")
        check_live(p, "set its baseline")
        planner = self.book.planner(p.workflow_id, p.workflow_version)
        created = p.created_at or min(p.reached.values(), default=p.entered_at)
        if as_of < planner.local_date(created):
            raise InvalidInput(f"{p.key} did not exist yet on {as_of} (created {planner.local_date(created)})",
                               field="--as-of")
        state, _ = planner.state_on(p, as_of)
        if state in planner.finals:
            raise InvalidInput(f"{p.key} is {state} on {as_of}: nothing left to plan", field="KEY")
        plan = bl.plan_as_of(planner, p, as_of, self.book.off(p))
        if not plan.planned:
            raise InvalidInput(f"{p.key} is off its workflow's course on {as_of}: no plan to take", field="KEY")
        self.store.set_baseline(p.key, sorted(plan.planned.items()), as_of, self.principal.actor(actor), now)
        return plan

    # -- blackouts -----------------------------------------------------------------------------------
    def _may_change(self, b: Blackout, action: str) -> None:
        who = self.principal
        if b.scope == PROJECT:
            project = self.scoped.project(b.target)  # another district's project: not found
            if not who.can_write(project.gu):
                raise Forbidden(who.describe(), f"{action} a blackout of {project.key}")
        elif b.scope == DISTRICT:
            if not who.can_write(b.target or ""):
                raise Forbidden(who.describe(), f"{action} a blackout of {b.target}")
        elif not (who.is_operator or (who.writes and who.districts is None)):
            raise Forbidden(who.describe(), f"{action} a programme-wide blackout")

    def add_blackout(self, scope: str, target: str | None, start: dt.date, end: dt.date, reason: str, *,
                     now: dt.datetime, actor: str | None = None) -> Blackout:
        b = new_blackout(scope, target, start, end, reason)
        project = None
        if b.scope == PROJECT:
            project = self.scoped.project(b.target)
            b = Blackout(b.scope, project.key, b.start, b.end, b.reason)
        self._may_change(b, "add")
        if project is not None:
            check_live(project, "add a blackout")
        new_id = self.store.add_blackout(b, self.principal.actor(actor), now)
        return Blackout(b.scope, b.target, b.start, b.end, b.reason, new_id)

    def blackouts(self) -> list[Blackout]:
        """The windows the caller may see: the programme's, their districts' and their projects'."""
        scope = self.principal.read_scope
        out = []
        keys: dict[str, str] = {}
        for b in self.store.blackouts():
            if scope is None or b.scope == PROGRAMME or (b.scope == DISTRICT and b.target in scope):
                out.append(b)
            elif b.scope == PROJECT:
                if b.target not in keys:
                    try:
                        keys[b.target or ""] = self.scoped.project(b.target).gu
                    except LookupError:
                        keys[b.target or ""] = ""
                if keys[b.target or ""] in scope:
                    out.append(b)
        return out

    def remove_blackout(self, blackout_id: int) -> Blackout:
        b = self.store.blackout(blackout_id)
        self._may_change(b, "remove")
        self.store.remove_blackout(blackout_id)
        return b

    # -- calendar ------------------------------------------------------------------------------------
    def feed_events(self, gu: str, year: int | None, as_of: dt.date) -> tuple[str, list[CalendarEvent]]:
        """A district's feed for a calendar app. Its token sits in a URL (logs, the app's settings), so
        only a read-only principal -- a viewer -- may use one, and only for a district it reads."""
        from engine.roles import VIEWER
        from engine.values import clean_text

        district = clean_text(gu, "gu")
        who = self.principal
        if who.role != VIEWER:
            raise Forbidden(who.describe(), "use a feed URL: a feed takes a read-only (viewer) token, "
                                            "dongflow token create NAME --role viewer --gu GU")
        if not who.can_read(district):
            raise Forbidden(who.describe(), f"read the feed of {district}")
        return district, self.calendar_events(district, year, as_of)


    def calendar_events(self, gu: str | None, year: int | None, as_of: dt.date) -> list[CalendarEvent]:
        """One event per open milestone (its due date) and per latest start still ahead, per project."""
        lang = self.lang
        out: list[CalendarEvent] = []
        projects = self.projects(gu, year)
        for p, a in self.book.assess(projects, as_of):
            if a.closed:
                continue
            wf = self.book.catalog.get(p.workflow_id, p.workflow_version)
            where = f"{p.gu} {p.dong}"
            for s in a.milestones:
                if s.level in ("met", "met_late"):
                    continue
                label = s.milestone.label.get(lang)
                out.append(CalendarEvent(
                    event_uid(p, f"milestone/{s.milestone.id}"), p.key, p.gu, p.dong, s.due, "milestone",
                    s.milestone.id, f"[{where}] {label} 기한" if lang == "ko" else f"[{where}] {label} due",
                    f"{p.key}: {wf.state_label(s.milestone.state, lang)} ({s.milestone.state}) "
                    + (f"도달 기한 {s.due}" if lang == "ko" else f"must be reached by {s.due}")))
            for ls in a.latest_starts:
                if ls.entered is not None:
                    continue
                label = wf.state_label(ls.state, lang)
                out.append(CalendarEvent(
                    event_uid(p, f"{START_PREFIX[:-1]}/{ls.state}"), p.key, p.gu, p.dong, ls.latest,
                    "latest_start", ls.state,
                    f"[{where}] {label} 착수 시한" if lang == "ko" else f"[{where}] {label}: latest start",
                    f"{p.key}: " + (f"{topic(label)} 늦어도 {ls.latest} 시작 (목표일 {p.target})" if lang == "ko"
                                    else f"{label} must start by {ls.latest} for the target {p.target}")))
        out.sort(key=lambda e: (e.day, e.key, e.uid))
        return out
