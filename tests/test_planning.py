"""Planning, pure: the backward pass (hand-worked over holidays and blackouts), blackout-aware due dates
and forecasts, late-start and cut-off findings, calibrated risk and its backtest, the delay ledger,
baselines, and the loader's owner / cut-off / baseline validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import pytest

from engine.backward import finish_for, latest_starts, start_for, topic
from engine.baseline import auto_baseline, plan_as_of, variances
from engine.blackouts import Blackout, BlackoutIndex, new_blackout
from engine.deadlines import (
    CUTOFF_RISK,
    LATE_START,
    DeadlinePlanner,
    Durations,
    declared_durations,
    findings_of,
)
from engine.errors import InvalidInput, WorkflowDefinitionError, WorkflowDefinitionErrors
from engine.ledger import START, ledger, project_delays, planned_course
from engine.loader import load_text
from engine.risk import RiskEstimator, backtest, convolve, duration_model
from engine.workdays import WorkCalendar

SEOUL = ZoneInfo("Asia/Seoul")
D = dt.date

SMALL = """
id: small
version: 1
target: {state: done, due: "05-16"}
calendar: {country: KR, roll: previous}
owners:
  office: {ko: 구청, en: Office}
  builder: {ko: 시공사, en: Builder}
baseline: {state: b}
states:
  - {id: a, initial: true, expected_days: 5, owner: office}
  - {id: b, expected_days: 10, owner: builder}
  - {id: done, final: true}
transitions:
  - {trigger: go, source: a, dest: b}
  - {trigger: finish, source: b, dest: done}
milestones:
  - {id: b_started, state: b, due: "-7d"}
  - {id: finished, state: done, due: "+0d"}
cutoffs:
  - {id: contract, state: b, by: "05-01", consequence: carry_over, label: {ko: 계약, en: Contract}}
"""


@dataclasses.dataclass
class Row:
    """A project as the deadline rules read it (engine.deadlines.Tracked)."""

    key: str
    state: str
    entered_at: dt.datetime
    reached: Mapping[str, dt.datetime]
    target: dt.date
    year: int = 2016
    workflow_id: str = "small"
    workflow_version: int = 1
    previous_state: str | None = None
    gu: str = "성동구"


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), SEOUL)


def row(key: str = "k", **entries: dt.date) -> Row:
    reached = {s: at(d) for s, d in entries.items()}
    state = max(entries, key=lambda s: entries[s])
    return Row(key, state, reached[state], reached, D(2016, 5, 16))


@pytest.fixture(scope="module")
def demo_items(catalog) -> list:
    """The demo portfolio as of 2016-05-20 (pure data)."""
    from importlib.resources import files

    from programme import demo

    dongs = demo.read_dongs(files("programme").joinpath("data/seoul-dongs-2016.csv").read_bytes())
    return demo.build(catalog, dongs, as_of=D(2016, 5, 20), tz=SEOUL)


@pytest.fixture(scope="module")
def small():
    return load_text(SMALL, "small.yaml")


@pytest.fixture(scope="module")
def planner(small) -> DeadlinePlanner:
    return DeadlinePlanner(small, SEOUL, declared_durations(small))


# -- the backward pass, worked by hand -------------------------------------------------------------
# 2016 in Korea: 5 May (Thu) Children's Day, 6 May (Fri) a temporary public holiday.
# Target Monday 16 May. b takes 10 days: 16 May - 10 = 6 May, a holiday; the day before is 5 May,
# another; so b must start by Wednesday 4 May. a takes 5 days: 4 May - 5 = 29 April (Friday, working).


def test_backward_pass_over_holidays(small, planner) -> None:
    working = WorkCalendar(small.calendar).is_working_day
    assert not working(D(2016, 5, 6)) and not working(D(2016, 5, 5))
    assert latest_starts(("a", "b"), {"a": 5, "b": 10}, D(2016, 5, 16), working) == (
        ("a", D(2016, 4, 29)), ("b", D(2016, 5, 4)))
    a = planner.assess(row(a=D(2016, 4, 1)), D(2016, 4, 20))
    assert [(x.state, x.latest, x.entered) for x in a.latest_starts] == [
        ("a", D(2016, 4, 29), D(2016, 4, 1)), ("b", D(2016, 5, 4), None)]


def test_backward_pass_over_a_blackout(small, planner) -> None:
    # Blackout Monday 2 - Tuesday 3 May (working days): b still starts by 4 May (the window is
    # before it), but a, counted back 5 days from 4 May, skips both: 1 May, 30, 29, 28, 27 April.
    off = frozenset({D(2016, 5, 2), D(2016, 5, 3)})
    working = WorkCalendar(small.calendar).is_working_day
    assert start_for(D(2016, 5, 4), 5, working, off) == D(2016, 4, 27)
    a = planner.assess(row(a=D(2016, 4, 1)), D(2016, 4, 20), off)
    assert [(x.state, x.latest) for x in a.latest_starts] == [("a", D(2016, 4, 27)), ("b", D(2016, 5, 4))]
    # A blackout on a weekend takes no working day: nothing moves.
    weekend = frozenset({D(2016, 4, 30), D(2016, 5, 1)})
    assert start_for(D(2016, 5, 4), 5, working, weekend) == D(2016, 4, 29)
    # A blackout on the day reached moves the start to the working day before, like a holiday.
    assert start_for(D(2016, 5, 4), 5, working, frozenset({D(2016, 4, 29)})) == D(2016, 4, 28)


def test_forecast_and_due_dates_skip_blackouts(small, planner) -> None:
    working = WorkCalendar(small.calendar).is_working_day
    assert finish_for(D(2016, 5, 2), 3, working) == D(2016, 5, 5)
    assert finish_for(D(2016, 5, 2), 3, working, frozenset({D(2016, 5, 3)})) == D(2016, 5, 6)
    p = row(a=D(2016, 4, 1), b=D(2016, 5, 9))  # in b since 9 May: 10 days -> 19 May without blackouts
    assert planner.assess(p, D(2016, 5, 9)).risk.earliest == D(2016, 5, 19)
    off = frozenset({D(2016, 5, 10), D(2016, 5, 11)})
    assert planner.assess(p, D(2016, 5, 9), off).risk.earliest == D(2016, 5, 21)
    # b_started is due 16 May - 7 days = Monday 9 May; a blackout that day rolls it back past the
    # weekend and the two holidays to Wednesday 4 May.
    dues = dict((m.id, d) for m, d in planner.dues(p.target, 2016, frozenset({D(2016, 5, 9)})))
    assert dues["b_started"] == D(2016, 5, 4)
    assert dict((m.id, d) for m, d in planner.dues(p.target, 2016))["b_started"] == D(2016, 5, 9)


def test_late_start_is_reported_before_any_milestone_is_missed(small, planner) -> None:
    p = row(a=D(2016, 4, 1))
    assert not [f for f in planner.findings(p, D(2016, 5, 4)) if f.level == LATE_START]
    # 5 May: b's latest start (4 May) has passed. b_started is due only on 9 May, and the median
    # forecast (10 days from today: 15 May) still holds the target -- only the backward pass, which
    # knows b cannot start on the holidays of 5-8 May, sees it.
    found = planner.findings(p, D(2016, 5, 5))
    late = [f for f in found if f.level == LATE_START]
    assert [(f.milestone, f.due, f.days) for f in late] == [("start:b", D(2016, 5, 4), 1)]
    assert {f.level for f in found} - {LATE_START} <= {"due_soon", CUTOFF_RISK}  # nothing missed, not at risk
    assert "b should have started by 2016-05-04" in late[0].reason
    assert found == findings_of(planner, p, D(2016, 5, 5))
    assert planner.assess(p, D(2016, 5, 5)).level == LATE_START
    [ko] = [f for f in planner.findings(p, D(2016, 5, 5), "ko") if f.level == LATE_START]
    assert ko.reason.startswith("b는 늦어도 2016-05-04 시작해야 목표일 2016-05-16")


def test_fast_path_equals_assessment_with_blackouts(small, planner) -> None:
    rng = random.Random(3)
    for i in range(60):
        start = D(2016, 3, 1) + dt.timedelta(days=rng.randint(0, 60))
        entries = {"a": start}
        if rng.random() < 0.6:
            entries["b"] = start + dt.timedelta(days=rng.randint(1, 30))
        p = dataclasses.replace(row(f"k{i}", **entries), target=D(2016, 5, rng.randint(5, 31)))
        first = D(2016, 4, 1) + dt.timedelta(days=rng.randint(0, 40))
        off = frozenset(first + dt.timedelta(days=j) for j in range(rng.randint(0, 5)))
        for day in (D(2016, 4, 10), D(2016, 4, 28), D(2016, 5, 3), D(2016, 5, 20)):
            for lang in ("en", "ko"):
                assert planner.findings(p, day, lang, off) == findings_of(planner, p, day, lang, off)


def test_cutoff_at_risk(small, planner) -> None:
    p = row(a=D(2016, 4, 1))
    ok = planner.assess(p, D(2016, 4, 28))
    assert [(c.cutoff_id, c.expected, c.at_risk) for c in ok.cutoffs] == [("contract", D(2016, 4, 28), False)]
    late = planner.assess(p, D(2016, 5, 2))
    [c] = late.cutoffs
    assert (c.date, c.expected, c.at_risk, c.days) == (D(2016, 5, 1), D(2016, 5, 2), True, 1)
    [f] = [f for f in planner.findings(p, D(2016, 5, 2)) if f.level == CUTOFF_RISK]
    assert f.milestone == "cutoff:contract" and "carry-over cut-off 2016-05-01" in f.reason
    reached = planner.assess(row(a=D(2016, 4, 1), b=D(2016, 4, 20)), D(2016, 5, 2))
    assert [(c.reached_on, c.at_risk) for c in reached.cutoffs] == [(D(2016, 4, 20), False)]


# -- blackouts -----------------------------------------------------------------------------------------


def test_blackout_index_and_validation() -> None:
    index = BlackoutIndex([
        Blackout("all", None, D(2016, 6, 1), D(2016, 6, 1), "festival"),
        Blackout("gu", "성동구", D(2016, 4, 13), D(2016, 4, 14), "election"),
        Blackout("project", "k1", D(2016, 5, 9), D(2016, 5, 9), "works next door"),
    ])
    assert index.days_for("k1", "성동구") == {D(2016, 6, 1), D(2016, 4, 13), D(2016, 4, 14), D(2016, 5, 9)}
    assert index.days_for("k2", "종로구") == {D(2016, 6, 1)}
    assert index.days_for("k3", "성동구") is index.days_for("k4", "성동구")
    with pytest.raises(InvalidInput, match="before --from"):
        new_blackout("all", None, D(2016, 5, 2), D(2016, 5, 1), "x")
    with pytest.raises(InvalidInput, match="longer than"):
        new_blackout("all", None, D(2016, 1, 1), D(2017, 6, 1), "x")
    with pytest.raises(InvalidInput):
        new_blackout("gu", "", D(2016, 1, 1), D(2016, 1, 2), "x")


def test_korean_topic_particle() -> None:
    assert (topic("시공"), topic("발주"), topic("설계(안) 보고회"), topic("survey")) == (
        "시공은", "발주는", "설계(안) 보고회는", "survey는")


# -- calibrated risk -------------------------------------------------------------------------------------

THREE = """
id: three
version: 1
target: {state: done, due: "07-01"}
states:
  - {id: a, initial: true, expected_days: 15}
  - {id: b, expected_days: 25}
  - {id: c, expected_days: 20}
  - {id: done, final: true}
transitions:
  - {trigger: go, source: a, dest: b}
  - {trigger: next, source: b, dest: c}
  - {trigger: finish, source: c, dest: done}
"""
TRUE = {"a": (5, 25), "b": (10, 40), "c": (10, 30)}
"""The synthetic portfolio's true durations: uniform whole days in each range."""


def synthetic(rng: random.Random, n: int, year: int, key: str) -> list[Row]:
    out = []
    for i in range(n):
        start = D(year, 3, 1) + dt.timedelta(days=rng.randint(0, 30))
        day, reached = start, {}
        for state in ("a", "b", "c"):
            reached[state] = at(day)
            day += dt.timedelta(days=rng.randint(*TRUE[state]))
        reached["done"] = at(day)
        out.append(Row(f"{key}{i}", "done", reached["done"], reached, D(year, 7, 1), year, "three"))
    return out


def true_miss(elapsed_state: str, elapsed: int, allowance: int) -> float:
    """P(remaining > allowance) under the true distributions (exact)."""
    states = ("a", "b", "c")
    hist: dict[int, float] = {0: 1.0}
    for i, s in enumerate(states[states.index(elapsed_state):]):
        lo, hi = TRUE[s]
        values = [v - (elapsed if i == 0 else 0) for v in range(lo, hi + 1) if i > 0 or v > elapsed]
        values = values or [0]
        hist = convolve(hist, {v: 1 / len(values) for v in values})
    return sum(p for d, p in hist.items() if d > allowance)


@pytest.fixture(scope="module")
def three():
    return load_text(THREE, "three.yaml")


def estimator(wf, history) -> RiskEstimator:
    model = duration_model(wf.ref, declared_durations(wf).days, [r.reached for r in history], "done")
    return RiskEstimator(DeadlinePlanner(wf, SEOUL, declared_durations(wf)), model)


def open_at(p: Row, day: dt.date) -> Row:
    reached = {s: t for s, t in p.reached.items() if t.astimezone(SEOUL).date() <= day}
    state = max(reached, key=lambda s: reached[s])
    return dataclasses.replace(p, state=state, entered_at=reached[state], reached=reached)


def test_risk_is_a_probability_deterministic_for_a_seed_and_the_simulation_agrees(three) -> None:
    rng = random.Random(11)
    est = estimator(three, synthetic(rng, 300, 2015, "h"))
    assert est.model.completed == 300 and set(est.model.samples) == {"a", "b", "c"}
    day = D(2016, 4, 10)
    projects = [open_at(p, day) for p in synthetic(rng, 40, 2016, "p")]
    exact = [est.assess(p, day) for p in projects]
    assert all(r is not None and 0.0 <= r.probability <= 1.0 for r in exact)
    once = [est.assess(p, day, simulate=4000, seed=7).probability for p in projects]
    again = [est.assess(p, day, simulate=4000, seed=7).probability for p in projects]
    assert once == again
    assert [est.assess(p, day, simulate=4000, seed=8).probability for p in projects] != once
    assert max(abs(a.probability - b) for a, b in zip(exact, once)) < 0.04
    assert "300 completed three@1" in exact[0].basis and exact[0].method == "exact convolution"


def test_exact_risk_by_hand(three) -> None:
    # Five completed projects: a took 10 days in each; b 20, 20, 30, 30, 40; c 10 in each.
    history = []
    for i, b in enumerate((20, 20, 30, 30, 40)):
        s = D(2015, 3, 2)
        history.append(Row(f"h{i}", "done", at(s), {"a": at(s), "b": at(s + dt.timedelta(10)),
                                                     "c": at(s + dt.timedelta(10 + b)),
                                                     "done": at(s + dt.timedelta(20 + b))}, D(2015, 7, 1), 2015, "three"))
    est = estimator(three, history)
    # In b since 12 May, target 30 June. Only b = 40 days ends late (12 May + 40 + 10 = 1 July).
    # On 22 May (10 days in b) all five samples are longer: P = 1/5. On 6 June (25 days in b): 30, 30
    # and 40 remain: P = 1/3. On 12 June (31 days): only 40: P = 1. With the target 1 July: never.
    p = Row("x", "b", at(D(2016, 5, 12)), {"a": at(D(2016, 5, 1)), "b": at(D(2016, 5, 12))}, D(2016, 6, 30), 2016,
            "three")
    assert est.assess(p, D(2016, 5, 22)).probability == pytest.approx(1 / 5)
    assert est.assess(p, D(2016, 6, 6)).probability == pytest.approx(1 / 3)
    assert est.assess(p, D(2016, 6, 12)).probability == 1.0
    assert est.assess(dataclasses.replace(p, target=D(2016, 7, 1)), D(2016, 6, 6)).probability == 0.0
    # Fewer than five completed projects: the declared days, certain, and the basis says so.
    few = estimator(three, history[:4])
    assert few.model.samples == {} and "declared durations" in few.model.basis()
    assert few.assess(p, D(2016, 6, 12)).probability in (0.0, 1.0)


def test_backtest_is_calibrated_on_a_synthetic_portfolio(three) -> None:
    """Durations drawn from known distributions: the predicted and the true miss probabilities agree,
    and so do the predicted and the observed miss rates (tolerance: 0.05 overall, 0.12 per decile
    with at least 40 predictions)."""
    rng = random.Random(2024)
    history = synthetic(rng, 400, 2015, "h")
    cohort = synthetic(rng, 400, 2016, "p")
    rows = history + cohort
    dates = [D(2016, 3, 20) + dt.timedelta(days=7 * i) for i in range(10)]

    def make_planner(wf, durations: Durations) -> DeadlinePlanner:
        return DeadlinePlanner(wf, SEOUL, durations)

    result = backtest(rows, dates, D(2016, 12, 31), lambda i, v: three, make_planner)
    assert len(result.predictions) > 2000 and result.excluded == 0
    assert abs(result.mean_probability - result.miss_rate) < 0.05
    for _decile, count, predicted, observed in result.calibration():
        if count >= 40:
            assert abs(predicted - observed) < 0.12, (_decile, count, predicted, observed)
    # Against the truth itself: the distributions are those the cohort was drawn from.
    by_key = {r.key: r for r in cohort}
    diffs = []
    for x in result.predictions[::25]:
        p = open_at(by_key[x.key], x.as_of)
        start = p.reached[p.state].astimezone(SEOUL).date()
        diffs.append(abs(x.probability - true_miss(p.state, (x.as_of - start).days, (p.target - x.as_of).days)))
    assert sum(diffs) / len(diffs) < 0.05
    # The calibrated probabilities beat a coin and the median-only forecast is scored too.
    assert result.brier < 0.2 and 0.0 <= result.median_accuracy <= 1.0


# -- the delay ledger -----------------------------------------------------------------------------------


def test_ledger_by_hand(small) -> None:
    course = planned_course(small)
    assert course == ("a", "b")
    # Plan: 15 days ending 16 May, so start 1 May. Started 3 May (+2), a took 9 days (+4),
    # b 12 (+2): completed 24 May, 8 days late.
    p = row(a=D(2016, 5, 3), b=D(2016, 5, 12), done=D(2016, 5, 24))
    d = project_delays(p, "성동구", small, course, D(2016, 6, 1), lambda t: t.astimezone(SEOUL).date())
    assert d.lateness == 8 and d.completed
    assert [(x.state, x.owner, x.days) for x in d.lines] == [(START, None, 2), ("a", "office", 4), ("b", "builder", 2)]
    # Open, in b since 12 May with 10 planned days: projected 22 May, 6 days late; on 25 May (13 days
    # in b): projected 25 May, 9 days late -- b's line counts what is already lost.
    open_ = row(a=D(2016, 5, 3), b=D(2016, 5, 12))
    for day, late in ((D(2016, 5, 20), 6), (D(2016, 5, 25), 9)):
        d = project_delays(open_, "성동구", small, course, day, lambda t: t.astimezone(SEOUL).date())
        assert d.lateness == late and sum(x.days for x in d.lines) == late


def test_ledger_days_add_up_to_each_projects_lateness(catalog, demo_items) -> None:
    local = lambda t: t.astimezone(SEOUL).date()  # noqa: E731
    for day in (D(2015, 8, 1), D(2016, 5, 20)):
        found = ledger(((p, p.gu) for p, _ in demo_items), catalog.get, day, local)
        assert found, day
        for d in found:
            assert d.lateness > 0
            assert sum(x.days for x in d.lines) == d.lateness, d


def test_ledger_adds_up_on_random_histories(small) -> None:
    rng = random.Random(5)
    course = planned_course(small)
    for i in range(300):
        start = D(2016, 4, 1) + dt.timedelta(days=rng.randint(0, 40))
        a_days, b_days = rng.randint(0, 30), rng.randint(0, 30)
        entries = {"a": start, "b": start + dt.timedelta(a_days)}
        if rng.random() < 0.5:
            entries["done"] = entries["b"] + dt.timedelta(b_days)
        day = max(entries.values()) + dt.timedelta(rng.randint(0, 20))
        d = project_delays(row(f"k{i}", **entries), "g", small, course, day, lambda t: t.astimezone(SEOUL).date())
        assert sum(x.days for x in d.lines) == d.lateness


# -- baselines ------------------------------------------------------------------------------------------


def test_baseline_taken_on_entering_the_baseline_state_and_variance(small, planner) -> None:
    p = row(a=D(2016, 4, 1), b=D(2016, 4, 25))
    base = auto_baseline(planner, p)
    # Taken on 25 April (entering b): b_started reached that day; done planned 10 days later.
    assert (base.taken_on, dict(base.planned)) == (D(2016, 4, 25), {"b_started": D(2016, 4, 25), "finished": D(2016, 5, 5)})
    assert auto_baseline(planner, row(a=D(2016, 4, 1))) is None  # not yet in b
    [started, finished] = variances(base, planner, p, D(2016, 5, 10))
    assert (started.actual, started.days) == (D(2016, 4, 25), 0)
    # On 10 May, 15 days in b (planned 10): the forecast is today, 5 days after the plan.
    assert (finished.forecast, finished.days) == (D(2016, 5, 10), 5)
    replanned = plan_as_of(planner, p, D(2016, 5, 10))
    assert replanned.planned["finished"] == D(2016, 5, 10) and replanned.source == "set"


# -- the loader ------------------------------------------------------------------------------------------


def test_loader_reads_owners_cutoffs_and_baseline(small) -> None:
    assert small.state("a").owner == "office" and small.owner_label("builder", "en") == "Builder"
    assert [(c.id, c.state, c.by, c.consequence) for c in small.cutoffs] == [("contract", "b", (5, 1), "carry_over")]
    assert small.baseline_state == "b"
    assert small.as_dict()["cutoffs"][0]["by"] == "05-01"


@pytest.mark.parametrize(("change", "message"), [
    (("owner: office", "owner: nobody"), "owner 'nobody' is not one of owners"),
    (('by: "05-01"', 'by: "13-01"'), "not a month-day"),
    (("consequence: carry_over", "consequence: forgive"), "consequence must be one of"),
    (("state: b, by:", "state: zz, by:"), "unknown state 'zz'"),
    (("baseline: {state: b}", "baseline: {state: done}"), "baseline: state must be a non-final state"),
])
def test_loader_refuses_bad_planning_declarations(change, message) -> None:
    text = SMALL.replace(*change)
    assert text != SMALL
    with pytest.raises((WorkflowDefinitionError, WorkflowDefinitionErrors)) as caught:
        load_text(text, "bad.yaml")
    shown = str(caught.value) + " ".join(str(p) for p in getattr(caught.value, "problems", ()))
    assert message in shown and "bad.yaml" in shown


def test_the_shipped_workflow_declares_owners_a_cutoff_and_the_baseline(catalog) -> None:
    wf = catalog.latest("space-improvement")
    course = [s for s in wf.states if not s.final and s.id != "on_hold"]
    assert all(s.owner for s in course)
    assert [(c.state, c.by, c.consequence) for c in wf.cutoffs] == [("construction", (10, 1), "carry_over")]
    assert wf.baseline_state == "agreement"


# -- who may change blackouts (the service layer) ---------------------------------------------------------


class FakePlanningStore:
    def __init__(self) -> None:
        self.rows: list[Blackout] = []

    def add_blackout(self, b: Blackout, actor: str, now: dt.datetime) -> int:
        self.rows.append(dataclasses.replace(b, id=len(self.rows) + 1))
        return len(self.rows)

    def blackouts(self) -> list[Blackout]:
        return list(self.rows)

    def blackout(self, blackout_id: int) -> Blackout:
        return self.rows[blackout_id - 1]

    def remove_blackout(self, blackout_id: int) -> None:
        self.rows = [b for b in self.rows if b.id != blackout_id]


def test_blackout_rights_live_in_the_service_layer(catalog) -> None:
    from engine.access import Principal, ScopedService
    from engine.errors import Forbidden, ProjectNotFound
    from engine.planning_service import PlanningService
    from engine.service import ProjectSpec, Service
    from support import MemoryStore

    service = Service(MemoryStore(), catalog)
    now = dt.datetime(2016, 3, 2, tzinfo=dt.timezone.utc)
    for key, gu in (("k-own", "성동구"), ("k-other", "종로구")):
        service.add_project(ProjectSpec(key=key, gu=gu, dong="동", year=2016), actor="seed", now=now)
    store = FakePlanningStore()

    def as_(role: str, gus: tuple[str, ...] = ()) -> PlanningService:
        return PlanningService(ScopedService(service, Principal.of(role, role, gus)), None, store)

    day = D(2016, 4, 13)
    coordinator = as_("coordinator", ("성동구",))
    coordinator.add_blackout("gu", "성동구", day, day, "election", now=now)
    coordinator.add_blackout("project", "k-own", day, day, "works", now=now)
    with pytest.raises(Forbidden):
        coordinator.add_blackout("gu", "종로구", day, day, "x", now=now)
    with pytest.raises(ProjectNotFound):
        coordinator.add_blackout("project", "k-other", day, day, "x", now=now)
    with pytest.raises(Forbidden):
        coordinator.add_blackout("all", None, day, day, "x", now=now)
    with pytest.raises(Forbidden):
        as_("viewer").add_blackout("gu", "성동구", day, day, "x", now=now)
    officer = as_("officer")
    officer.add_blackout("all", None, day, day, "festival", now=now)
    officer.add_blackout("project", "k-other", day, day, "works", now=now)
    assert len(store.rows) == 4
    seen = [(b.scope, b.target) for b in as_("viewer", ("성동구",)).blackouts()]
    assert seen == [("gu", "성동구"), ("project", "k-own"), ("all", None)]  # not 종로구's project
    with pytest.raises(Forbidden):
        coordinator.remove_blackout(3)  # the programme's
    coordinator.remove_blackout(2)
    assert [b.id for b in store.rows] == [1, 3, 4]
