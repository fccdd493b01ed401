"""The report's planning sections: baseline variance, the delay ledger, fiscal cut-offs (carry-over).

* ``baseline`` -- per milestone: projects with a baseline, how many are (or are forecast) later than
  planned, the mean and the largest variance in days (actual or forecast date minus planned date;
  the baseline is the one set with ``baseline set``, else the one taken on entering the baseline state);
* ``delays``   -- the delay ledger summed per owner: days lost, days made up, projects, share of all
                  days lost (engine/ledger.py; each late project's lines add up to its lateness);
* ``cutoffs``  -- per cut-off and cohort: open projects forecast to reach the cut-off's state after it
                  (or past it without reaching it), and the budget allocated to them (the amount that
                  would be carried over, 이월, or lapse); the budget section gets a note with the total.

The rows come from the report's source (the same tracked rows as the other sections); the rules from
the engine (the planners of the deadline book, so durations and blackouts are those of ``status``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from engine.baseline import Baseline, SET, auto_baseline, variances
from engine.deadlines import DeadlinePlanner, declared_durations
from engine.definition import Label
from engine.ledger import START, ledger, totals

PLANNING_SECTIONS: dict[str, Label] = {
    "baseline": Label("기준선 대비 편차 (일)", "Variance from the baseline (days)"),
    "delays": Label("지연 원인 (담당별 지연 일수)", "Where the days were lost (by owner)"),
    "cutoffs": Label("회계 기한 (이월 위험)", "Fiscal cut-offs (carry-over risk)"),
}


def all_states(catalog: Any) -> dict[tuple[str, int], list[str]]:
    return {(wf.id, wf.version): [s.id for s in wf.states] for wf in catalog.all()}


def baseline_section(rows: Sequence[Any], book: Any, stored: Mapping[str, tuple[dt.date, dict[str, dt.date]]],
                     as_of: dt.date, section: Any, column: Any) -> Any:
    per: dict[str, list[int]] = {}
    order: dict[str, tuple[int, Label]] = {}
    declared: dict[tuple[str, int], DeadlinePlanner] = {}
    for r in rows:
        ref = (r.workflow_id, r.workflow_version)
        wf = book.catalog.get(*ref)
        found = stored.get(r.key)
        if found is not None:
            base: Baseline | None = Baseline(found[0], found[1], SET)
        else:
            if ref not in declared:
                declared[ref] = DeadlinePlanner(wf, book.tz, declared_durations(wf), book.holidays)
            base = auto_baseline(declared[ref], r)
        if base is None:
            continue
        for i, m in enumerate(wf.milestones):
            order.setdefault(m.id, (i, m.label))
        for v in variances(base, book.planner(*ref), r, as_of, book.off(r)):
            if v.days is not None:
                per.setdefault(v.milestone, []).append(v.days)
    out_rows = []
    for mid in sorted(per, key=lambda m: order[m][0]):
        values = per[mid]
        out_rows.append((order[mid][1], len(values), sum(1 for v in values if v > 0),
                         round(statistics.mean(values), 1), round(statistics.median(values), 1), max(values)))
    columns = (column("milestone", Label("마일스톤", "Milestone")),
               column("projects", Label("사업 수", "Projects"), "int"),
               column("later", Label("계획보다 늦음", "Later than planned"), "int"),
               column("mean", Label("평균 편차", "Mean variance"), "text"),
               column("median", Label("중앙값", "Median"), "text"),
               column("max", Label("최대", "Largest"), "int"))
    notes = (Label("편차 = 실적일(미도달이면 전망일) - 기준선 계획일; 양수는 늦음. 기준선: 협약 시 자동, 또는 baseline set",
                   "Variance = actual date (forecast when not reached) - planned date; positive is late. Baseline: "
                   "taken on entering agreement, or set with baseline set"),)
    return section("baseline", PLANNING_SECTIONS["baseline"], columns, tuple(out_rows), None, notes)


def delays_section(rows: Sequence[Any], book: Any, as_of: dt.date, section: Any, column: Any) -> Any:
    found = ledger(((r, r.gu) for r in rows), book.catalog.get, as_of, lambda t: t.astimezone(book.tz).date())
    summed = totals(found, "owner")
    lost_all = sum(lost for _n, lost, _g, _c in summed) or 1
    wf = book.catalog.latest(book.catalog.default_id())

    def name(owner: str | None) -> Label:
        if owner == START:
            return Label("착수 지연", "Late start")
        if owner is None:
            return Label("(담당 없음)", "(no owner)")
        found_label = wf.owners.get(owner)
        return found_label if found_label is not None else Label(owner, owner)

    out_rows = tuple((name(n), lost, gained, count, lost / lost_all) for n, lost, gained, count in summed)
    columns = (column("owner", Label("담당", "Owner")), column("lost", Label("잃은 일수", "Days lost"), "int"),
               column("made_up", Label("만회 일수", "Days made up"), "int"),
               column("projects", Label("지연 사업 수", "Projects losing days"), "int"),
               column("share", Label("지연 비중", "Share of days lost"), "rate"))
    late = sum(d.lateness for d in found)
    total = (Label("계", "Total"), sum(x[1] for x in out_rows), sum(x[2] for x in out_rows), len(found), None)
    notes = (Label(f"늦은 사업 {len(found)}건 (준공 지연 또는 준공 전망 지연), 지연 합계 {late}일: 단계별 (소요 - 계획) 일수의 합",
                   f"{len(found)} late projects (completed late, or projected late), {late} days late in all: "
                   "per state, days spent minus days planned"),)
    return section("delays", PLANNING_SECTIONS["delays"], columns, out_rows, total, notes)


def cutoff_findings(rows: Sequence[Any], book: Any, as_of: dt.date) -> list[tuple[Any, Any]]:
    """(row, CutoffStatus) for every open project at risk of a cut-off on ``as_of``."""
    out = []
    for r in rows:
        planner = book.planner(r.workflow_id, r.workflow_version)
        if not planner.workflow.cutoffs:
            continue
        if r.state in planner.finals and planner.local_date(r.entered_at) <= as_of:
            continue  # closed by then: nothing more to contract
        state, entered = planner.state_on(r, as_of)
        if state in planner.finals:
            continue
        course = planner.course(r, state, entered, as_of)
        for c in planner.cutoff_statuses(r, as_of, course, book.off(r)):
            if c.at_risk:
                out.append((r, c))
    return out


def cutoffs_section(at_risk: Sequence[tuple[Any, Any]], allocated: Mapping[str, int], book: Any,
                    section: Any, column: Any) -> Any:
    groups: dict[tuple[str, int], list[Any]] = {}
    labels: dict[str, Label] = {}
    for r, c in at_risk:
        groups.setdefault((c.cutoff_id, c.date.year), []).append((r, c))
        wf = book.catalog.get(r.workflow_id, r.workflow_version)
        cut = next((x for x in wf.cutoffs if x.id == c.cutoff_id), None)
        labels.setdefault(c.cutoff_id, cut.label if cut else Label(c.cutoff_id, c.cutoff_id))
    out_rows = []
    for (cid, year), items in sorted(groups.items()):
        out_rows.append((labels[cid], year, items[0][1].date, len(items),
                         sum(allocated.get(r.key, 0) for r, _ in items)))
    columns = (column("cutoff", Label("기한", "Cut-off")), column("year", Label("연도", "Year"), "int"),
               column("date", Label("기한일", "Date"), "date"),
               column("projects", Label("위험 사업 수", "Projects at risk"), "int"),
               column("allocated", Label("해당 배정액", "Allocated to them"), "money"))
    total = (Label("계", "Total"), None, None, sum(x[3] for x in out_rows), sum(x[4] for x in out_rows)) \
        if out_rows else None
    notes = (Label("기한 안에 해당 단계에 도달하지 못할 것으로 전망되는 진행 중 사업 (이월·불용 위험)",
                   "Open projects forecast to reach the cut-off's state after it (carry-over or lapse risk)"),)
    return section("cutoffs", PLANNING_SECTIONS["cutoffs"], columns, tuple(out_rows), total, notes)


def budget_note(budget: Any, at_risk: Sequence[tuple[Any, Any]], allocated: Mapping[str, int]) -> Any:
    """The budget section with a note on the amount at risk of carry-over (이월) at the cut-offs."""
    keys = {r.key for r, _ in at_risk}
    amount = sum(allocated.get(k, 0) for k in keys)
    note = Label(f"이월 위험: 회계 기한을 넘길 것으로 전망되는 사업 {len(keys)}건, 배정액 {amount / 1_000_000:,.0f}백만원",
                 f"Carry-over risk: {len(keys)} projects forecast past a fiscal cut-off, "
                 f"{amount / 1_000_000:,.0f} million won allocated to them")
    return dataclasses.replace(budget, notes=(*budget.notes, note))
