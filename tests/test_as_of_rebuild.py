"""As of any date, one way of rebuilding the past (issue 9): property tests (Hypothesis).

Random portfolios are made by the engine itself (the service, with random triggers, facts and
back-dated entries, refused ones included). Then, for random instants:

* the portfolio rebuilt as of that instant (``find_as_of``: the events dated before it, replayed)
  equals a portfolio built by the engine from only those events, entered on time one after the
  other (each at its own date, guards checked again);
* with no cutoff it equals the stored rows (replay in effective order ends where the record is);
* the SQL reader (SQLite and PostgreSQL) rebuilds exactly what the in-memory one does, and the
  deadline rows of ``overdue``/``report`` carry the same state as the ``status`` projects;
* ``status --as-of`` and ``report --as-of`` agree on every project (state, late, at risk).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.errors import DongflowError
from engine.ports import ProjectQuery
from engine.project import replay_until
from engine.service import ProjectSpec, Service
from support import MemoryStore, without_participation
from workflows import SHIPPED_DIR

CATALOG = without_participation(Catalog.from_dirs([SHIPPED_DIR]))
WORKFLOW = CATALOG.latest("space-improvement")
START = dt.datetime(2016, 1, 4, 0, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)

op = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 10), st.sampled_from([0, 0, 0, 3, 30, 200])),
    st.tuples(st.just("meetings"), st.integers(0, 4), st.sampled_from([0, 0, 5, 50])),
    st.tuples(st.just("revisions"), st.integers(0, 3), st.sampled_from([0, 0, 5, 60, 300])),
)
portfolios = st.lists(
    st.tuples(st.integers(0, 2), st.integers(1, 40), op),  # (project, hours later, what)
    max_size=45,
)
instants = st.lists(st.integers(0, 45 * 40 + 20), min_size=1, max_size=6)  # hours after START


def _state(p):  # type: ignore[no-untyped-def]
    return (p.key, p.state, p.previous_state, dict(p.facts), dict(p.reached), p.entered_at)


def firable(project, pick: int) -> str:  # type: ignore[no-untyped-def]
    unmet = WORKFLOW.unmet_guards(project.state, project.facts)
    ready = [t for t, guards in unmet.items() if not guards]
    onward = [t for t in ready if t not in ("hold", "cancel")]
    if onward and pick < 8:
        return onward[pick % len(onward)]
    return ready[pick % len(ready)] if ready else "bogus"


def make(store, actions, prefix: str = "k") -> list[str]:  # type: ignore[no-untyped-def]
    """A portfolio of three projects made by the service from random actions (refusals skipped)."""
    service = Service(store, CATALOG)
    keys = [f"{prefix}{i}" for i in range(3)]
    for i, key in enumerate(keys):
        service.add_project(ProjectSpec(key, "성동구", f"동{i}", 2016), actor="a", now=START + i * 5 * HOUR)
    now = START + 20 * HOUR
    for index, hours, (kind, arg, back) in actions:
        now += hours * HOUR
        key = keys[index]
        at = now - back * HOUR if back else None
        try:
            if kind == "advance":
                project = store.get(key)
                note = "사유" if arg % 2 else None
                service.advance(key, firable(project, arg), actor="a", now=now, at=at, note=note)
            elif kind == "meetings":
                service.set_fact(key, "resident_meetings", str(arg), actor="a", now=now, at=at)
            else:
                service.set_fact(key, "design_revisions", str(arg), actor="a", now=now, at=at)
        except DongflowError as exc:
            assert exc.exit_code in (3, 4, 5), exc
    return keys


def entered_on_time(store, keys: list[str], cutoff: dt.datetime) -> MemoryStore:  # type: ignore[no-untyped-def]
    """What the portfolio would be had only the events dated before ``cutoff`` been entered, each on
    its own date, in date order, through the engine (guards checked again)."""
    events = sorted((e for k in keys for e in store.events(k) if e.at < cutoff), key=lambda e: (e.at, e.key, e.seq))
    again = MemoryStore()
    service = Service(again, CATALOG)
    for e in events:
        if e.kind == "created":
            p = store.get(e.key)
            service.add_project(ProjectSpec(p.key, p.gu, p.dong, p.year), actor=e.actor, now=e.at)
        elif e.kind == "transition":
            service.advance(e.key, e.trigger or "", actor=e.actor, now=e.at, note=e.note)
        elif e.kind == "fact":
            service.set_fact(e.key, e.data["name"], str(e.data["new"]), actor=e.actor, now=e.at)
    return again


@settings(max_examples=150, deadline=None)
@given(actions=portfolios, hours=instants)
def test_the_past_rebuilt_equals_the_portfolio_entered_only_up_to_then(actions, hours) -> None:  # type: ignore[no-untyped-def]
    store = MemoryStore()
    keys = make(store, actions)
    for h in hours:
        cutoff = START + h * HOUR
        rebuilt = store.find_as_of(ProjectQuery(), cutoff)
        expected = entered_on_time(store, keys, cutoff).find(ProjectQuery())
        assert [_state(p) for p in rebuilt] == [_state(p) for p in expected]
    # Far ahead of every event: the record as it stands, i.e. the stored rows.
    assert [_state(p) for p in store.find_as_of(ProjectQuery(), START + 10_000 * HOUR)] == [
        _state(p) for p in store.find(ProjectQuery())
    ]


@settings(max_examples=150, deadline=None)
@given(actions=portfolios)
def test_replay_in_effective_order_ends_at_the_stored_state(actions) -> None:  # type: ignore[no-untyped-def]
    store = MemoryStore()
    for key in make(store, actions):
        p = store.get(key)
        r = replay_until(store.events(key))
        assert r is not None
        assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
            p.state, p.previous_state, dict(p.facts), dict(p.reached), p.entered_at, p.version)
        events = store.events(key)
        states = [e for e in events if e.kind == "transition"]
        assert [e.at for e in states] == sorted(e.at for e in states), "state changes stay in date order"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=portfolios, hours=instants)
def test_the_sql_reader_rebuilds_what_the_engine_does(store, actions, hours) -> None:  # type: ignore[no-untyped-def]
    from storage.asof import tracked_as_of

    memory = MemoryStore()
    prefix = uuid.uuid4().hex[:8]
    keys = make(memory, actions, prefix)
    store.add([(memory.get(k), memory.events(k)) for k in keys])
    for h in hours:
        cutoff = START + h * HOUR
        mine = [p for p in store.find_as_of(ProjectQuery(), cutoff) if p.key in keys]
        assert [_state(p) for p in mine] == [_state(p) for p in memory.find_as_of(ProjectQuery(), cutoff)]
        with store.db.read() as conn:
            rows = [r for r in tracked_as_of(conn, cutoff) if r.key in keys]
        assert [(r.key, r.state, r.previous_state, r.entered_at, dict(r.reached)) for r in rows] == [
            (p.key, p.state, p.previous_state, p.entered_at, dict(p.reached)) for p in mine]


def test_a_fact_cannot_be_dated_before_a_transition_that_counted_it() -> None:
    """Rule 5 with a counting transition: request_revision sets design_revisions; a hand-set value
    dated before it would leave the stored value and the dated history disagreeing."""
    from engine.errors import InvalidInput

    store = MemoryStore()
    service = Service(store, CATALOG)
    service.add_project(ProjectSpec("k", "성동구", "마장동", 2016), actor="a", now=START)
    service.set_fact("k", "resident_meetings", "1", actor="a", now=START + HOUR)
    for hours, trigger in ((2, "agree"), (3, "present_design"), (10, "request_revision")):
        service.advance("k", trigger, actor="a", now=START + hours * HOUR)
    with pytest.raises(InvalidInput, match="before design_revisions was last set"):
        service.set_fact("k", "design_revisions", "0", actor="a", now=START + 20 * HOUR, at=START + 5 * HOUR)
    service.set_fact("k", "design_revisions", "0", actor="a", now=START + 20 * HOUR, at=START + 11 * HOUR)
    r = replay_until(store.events("k"))
    assert r is not None and r.facts["design_revisions"] == store.get("k").facts["design_revisions"] == 0


def test_a_counting_transition_cannot_be_dated_before_the_fact_it_counts_was_set() -> None:
    from engine.errors import InvalidInput

    store = MemoryStore()
    service = Service(store, CATALOG)
    service.add_project(ProjectSpec("k", "성동구", "마장동", 2016), actor="a", now=START)
    service.set_fact("k", "resident_meetings", "1", actor="a", now=START + HOUR)
    for hours, trigger in ((2, "agree"), (3, "present_design")):
        service.advance("k", trigger, actor="a", now=START + hours * HOUR)
    service.set_fact("k", "design_revisions", "2", actor="a", now=START + 10 * HOUR)
    with pytest.raises(InvalidInput, match="before design_revisions was last set"):
        service.advance("k", "request_revision", actor="a", now=START + 20 * HOUR, at=START + 5 * HOUR)
    service.advance("k", "request_revision", actor="a", now=START + 20 * HOUR, at=START + 11 * HOUR)
    r = replay_until(store.events("k"))
    assert r is not None and r.facts["design_revisions"] == store.get("k").facts["design_revisions"] == 3


def test_a_fact_cannot_be_dated_before_a_transition_whose_guards_read_the_facts() -> None:
    """Rule 6 (found by the property test above): meetings set to 1, agree fired on it, then
    meetings 0 dated back to before the agreement would leave a history in which agree fired with no
    meeting; refused, and the same value without a date before the agreement is taken."""
    from engine.errors import InvalidInput

    store = MemoryStore()
    service = Service(store, CATALOG)
    service.add_project(ProjectSpec("k", "성동구", "마장동", 2016), actor="a", now=START)
    service.set_fact("k", "resident_meetings", "1", actor="a", now=START + HOUR)
    service.advance("k", "agree", actor="a", now=START + 10 * HOUR)
    before = store.events("k")
    with pytest.raises(InvalidInput, match="before the project's latest change of state"):
        service.set_fact("k", "resident_meetings", "0", actor="a", now=START + 20 * HOUR, at=START + HOUR)
    assert store.events("k") == before
    service.set_fact("k", "resident_meetings", "0", actor="a", now=START + 20 * HOUR, at=START + 11 * HOUR)
    assert replay_until(store.events("k")).facts["resident_meetings"] == 0  # type: ignore[union-attr]


def _migrated_portfolio(store, key: str = "k"):  # type: ignore[no-untyped-def]
    """A project agreed on version 1, moved to version 2 (same states) at START + 30h."""
    import dataclasses

    from engine import project as proj

    wf = CATALOG.latest("space-improvement")
    service = Service(store, CATALOG)  # created on version 1, then moved to a version 2
    service.add_project(ProjectSpec(key, "성동구", "마장동", 2016), actor="a", now=START)
    service.set_fact(key, "resident_meetings", "1", actor="a", now=START + HOUR)
    service.advance(key, "agree", actor="a", now=START + 2 * HOUR)
    p = store.get(key)
    moved, event = proj.migrate(p, wf.version + 1, p.state, p.previous_state, {}, {}, actor="a",
                                now=START + 30 * HOUR)
    store.save(moved, event)
    return Service(store, Catalog([wf, dataclasses.replace(wf, version=wf.version + 1)])), wf.version


def test_as_of_before_a_migration_the_project_is_on_the_version_it_left() -> None:
    from engine.errors import InvalidInput

    store = MemoryStore()
    service, v1 = _migrated_portfolio(store)
    (then,) = store.find_as_of(ProjectQuery(), START + 20 * HOUR)
    (later,) = store.find_as_of(ProjectQuery(), START + 40 * HOUR)
    assert (then.workflow_version, later.workflow_version) == (v1, v1 + 1)
    with pytest.raises(InvalidInput, match="latest change of state"):  # rule 3 counts the migration
        service.advance("k", "present_design", actor="a", now=START + 50 * HOUR, at=START + 25 * HOUR)
    service.advance("k", "present_design", actor="a", now=START + 50 * HOUR, at=START + 31 * HOUR)


def test_the_sql_reader_rebuilds_the_version_before_a_migration(store) -> None:  # type: ignore[no-untyped-def]
    from storage.asof import tracked_as_of

    memory = MemoryStore()
    key = f"m{uuid.uuid4().hex[:8]}"
    _migrated_portfolio(memory, key)
    store.add([(memory.get(key), memory.events(key))])
    for hours in (20, 40):
        cutoff = START + hours * HOUR
        (mine,) = store.find_as_of(ProjectQuery(key=key), cutoff)
        (expected,) = memory.find_as_of(ProjectQuery(key=key), cutoff)
        assert (mine.workflow_version, _state(mine)) == (expected.workflow_version, _state(expected))
        with store.db.read() as conn:
            (row,) = tracked_as_of(conn, cutoff, key=key)
        assert (row.workflow_version, row.state) == (expected.workflow_version, expected.state)


days = st.lists(st.integers(-1, 80), min_size=1, max_size=4)  # as-of days after START


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=portfolios, offsets=days)
def test_status_and_report_as_of_agree_on_random_portfolios(store, actions, offsets) -> None:  # type: ignore[no-untyped-def]
    """`status --as-of` (find_as_of + the deadline rules) and `report --as-of` (its own pass over
    rows rebuilt by storage/asof.py) agree on every project's state then, and on which are late and
    at risk, for engine-made histories with back-dated entries."""
    from collections import Counter
    from zoneinfo import ZoneInfo

    from engine.asof import end_of_day
    from engine.monitor import DeadlineBook
    from programme.report import ReportBuilder, ReportFilter
    from programme.report_queries import SqlReportSource
    from storage.tracking import TrackingReader

    tz = ZoneInfo("Asia/Seoul")
    memory = MemoryStore()
    keys = make(memory, actions, uuid.uuid4().hex[:8])
    store.add([(memory.get(k), memory.events(k)) for k in keys])
    for offset in offsets:
        day = START.astimezone(tz).date() + dt.timedelta(days=offset)
        cutoff = end_of_day(day, tz)
        projects = store.find_as_of(ProjectQuery(), cutoff)
        with store.db.read() as conn:
            assessed = DeadlineBook(CATALOG, tz, TrackingReader(conn, before=cutoff)).assess(projects, day)
        report = ReportBuilder(SqlReportSource(store.db), CATALOG, tz).build(day, ReportFilter(), ["districts", "late"])
        districts, late = report.sections
        states = [c.key for c in districts.columns[2:-2]]
        in_report = Counter({(row[0], s): n for row in districts.rows for s, n in zip(states, row[2:-2]) if n})
        assert in_report == Counter((p.gu, p.state) for p, _a in assessed)
        finals = {s.id for s in WORKFLOW.states if s.final}
        open_ = [(p, a) for p, a in assessed if p.state not in finals]
        assert {r[0] for r in late.rows if r[8] is not None} == {
            p.key for p, a in open_ if any(m.level in ("overdue", "escalated") for m in a.milestones)}
        assert {r[0] for r in late.rows if r[9] is not None} == {p.key for p, a in open_ if a.risk and a.risk.at_risk}
