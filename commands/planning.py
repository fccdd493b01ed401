"""Planning: `risk`, `risk backtest`, `delays`, `baseline set|show`, `blackout add|list|remove`, `calendar`.

Thin: each command parses its options, calls engine/planning_service.py (which applies the caller's
rights and reads through the scoped service) and prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from commands.common import (
    App,
    WholeNumber,
    _actor_default,
    _as_of,
    _date,
    _deadline_book,
    _gu_filter,
    _h,
    app_options,
    pass_app,
    year_filter,
)
from engine.errors import InvalidInput
from render.output import Listing, listing_options, project_fields


@contextmanager
def _planning(app: App, day: dt.date | None = None) -> Iterator[Any]:
    """The planning use cases over the record as it stood on ``day`` (None: as it stands, the whole
    record -- what the backtest replays)."""
    from commands.common import _cutoff
    from engine.planning_service import PlanningService
    from storage.planning import SqlPlanningStore

    app.db.require_schema()
    cutoff = _cutoff(app, day) if day is not None else None
    with app.db.read() as conn:
        yield PlanningService(app.service, _deadline_book(app, conn, cutoff), SqlPlanningStore(app.db), app.lang,
                              cutoff)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _filters(func: Any) -> Any:
    func = click.option("--year", callback=year_filter, help="Only this cohort year.")(func)
    return click.option("--gu", help="Only this district (구).")(func)


def _data_end(app: App, given: str | None) -> dt.date:
    """The last day the record covers: --as-of, else the demo's day (a demo database), else today."""
    if given is not None:
        return _as_of(app, given)
    from storage.demo_mark import demo_as_of

    return demo_as_of(app.db) or app.today()


# ------------------------------------------------------------------------------------------------
# risk


@click.group(invoke_without_command=True)
@_filters
@click.option("--as-of", "as_of", metavar="DATE", help="Risk as of this day (default: today, or the demo's day).")
@click.option("--simulate", type=WholeNumber(100, 1_000_000), metavar="N",
              help="Estimate by N seeded simulation runs instead of the exact convolution.")
@click.option("--seed", type=WholeNumber(), default=0, show_default=True, help="Seed of --simulate (same seed, same figures).")
@listing_options
@app_options
@pass_app
@click.pass_context
def risk(ctx: click.Context, app: App, gu: str | None, year: int | None, as_of: str | None, simulate: int | None,
         seed: int, listing: Listing) -> None:
    """Probability that each open project misses its target, from the observed duration distributions.

    Ranks projects by it (most likely to miss first); the basis says how many completed projects and
    which workflow version the distributions come from. `dongflow risk backtest` checks the figures.
    """
    if ctx.invoked_subcommand is not None:
        return
    gu = _gu_filter(app, gu)
    day = _data_end(app, as_of)
    with _planning(app, day) as svc:
        ranked = svc.risk(gu, year, day, simulate or 0, seed)
    if listing.machine:
        listing.write({**project_fields(p, app.tz), "probability": r.probability, "median_forecast_late": r.median_late,
                       "earliest_median": r.earliest_median.isoformat() if r.earliest_median else None,
                       "target": p.target.isoformat(), "basis": r.basis, "method": r.method,
                       "as_of": day.isoformat()} for p, r in ranked)
        return
    if not ranked:
        click.echo(_h(app, "진행 중인 사업이 없습니다.", "No open projects."))
        return
    from render.table import table

    headers = [_h(app, "키", "key"), _h(app, "구", "gu"), _h(app, "동", "dong"), _h(app, "단계", "state"),
               _h(app, "목표일", "target"), _h(app, "미달 확률", "P(miss)"), _h(app, "중앙값 전망", "median forecast")]
    rows = [[p.key, p.gu, p.dong, app.catalog.get(p.workflow_id, p.workflow_version).state_label(r.state, app.lang),
             p.target.isoformat(), _pct(r.probability),
             f"{r.earliest_median}" + (_h(app, " (지연)", " (late)") if r.median_late else "")] for p, r in ranked]
    click.echo(table(headers, rows, align="<<<<<><"))
    bases = sorted({_h(app, f"{r.basis_ko}; {r.method_ko}", f"{r.basis}; {r.method}") for _, r in ranked})
    expected = sum(r.probability for _, r in ranked)
    click.echo(_h(app, f"{day} 기준 {len(ranked)}건, 예상 미달 {expected:.1f}건", f"{len(ranked)} open projects as of {day}; "
                  f"{expected:.1f} expected to miss"))
    for basis in bases:
        click.echo(f"{_h(app, '근거', 'basis')}: {basis}")


@risk.command("backtest")
@_filters
@click.option("--from", "start", required=True, metavar="DATE", help="First as-of date to replay.")
@click.option("--to", "end", required=True, metavar="DATE", help="Last as-of date to replay.")
@click.option("--every", "step", type=WholeNumber(), default=14, show_default=True, metavar="DAYS",
              help="Replay every DAYS days between --from and --to.")
@click.option("--as-of", "as_of", metavar="DATE",
              help="The record's last day: outcomes known by then (default: today, or the demo's day).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@app_options
@pass_app
def risk_backtest(app: App, gu: str | None, year: int | None, start: str, end: str, step: int, as_of: str | None,
                  as_json: bool) -> None:
    """Replay the record as of past dates: predictions vs what happened (Brier score, calibration by decile,
    and how often the earlier median-only at-risk forecast was right)."""
    first, last = _date(start, "--from"), _date(end, "--to")
    assert first is not None and last is not None
    gu = _gu_filter(app, gu)
    data_end = _data_end(app, as_of)
    with _planning(app) as svc:
        result = svc.backtest(gu, year, first, last, step, data_end)
    table_rows = result.calibration()
    if as_json:
        from commands.common import _json

        _json({"from": first.isoformat(), "to": last.isoformat(), "every_days": step, "record_until": data_end.isoformat(),
               "predictions": len(result.predictions), "excluded_unknown_outcome": result.excluded,
               "brier": result.brier, "observed_miss_rate": result.miss_rate, "mean_predicted": result.mean_probability,
               "median_forecast_accuracy": result.median_accuracy,
               "calibration": [{"decile": d, "from": d / 10, "to": (d + 1) / 10, "count": n, "mean_predicted": mp,
                                "observed_share": ob} for d, n, mp, ob in table_rows]})
        return
    n = len(result.predictions)
    click.echo(_h(app, f"재현: {first} ~ {last}, {step}일 간격, 결과 기준일 {data_end}",
                  f"replayed {first} to {last} every {step} days; outcomes as of {data_end}"))
    click.echo(_h(app, f"예측 {n}건 (결과 미확정 제외 {result.excluded}건)",
                  f"{n} predictions ({result.excluded} left out: outcome not known yet)"))
    if not n:
        return
    click.echo(f"Brier score: {result.brier:.4f}  "
               + _h(app, f"(실제 미달 비율 {_pct(result.miss_rate)}, 평균 예측 {_pct(result.mean_probability)})",
                    f"(observed miss rate {_pct(result.miss_rate)}, mean predicted {_pct(result.mean_probability)})"))
    click.echo(_h(app, f"중앙값 전망(지연 우려)의 적중률: {_pct(result.median_accuracy)}",
                  f"median-only forecast (at risk or not) right: {_pct(result.median_accuracy)}"))
    from render.table import table

    click.echo(table([_h(app, "예측 구간", "predicted"), _h(app, "건수", "count"), _h(app, "평균 예측", "mean predicted"),
                      _h(app, "실제 미달", "observed")],
                     [[f"{d * 10}-{d * 10 + 10}%", cnt, _pct(mp), _pct(ob)] for d, cnt, mp, ob in table_rows],
                     align="<>>>"))


# ------------------------------------------------------------------------------------------------
# delays


@click.command()
@_filters
@click.option("--as-of", "as_of", metavar="DATE", help="As of this day (default: today, or the demo's day).")
@click.option("--by", type=click.Choice(["owner", "state"]), default="owner", show_default=True,
              help="Sum the programme's days by the party responsible or by state.")
@listing_options
@app_options
@pass_app
def delays(app: App, gu: str | None, year: int | None, as_of: str | None, by: str, listing: Listing) -> None:
    """The delay ledger: for each late project (completed late, or projected late), the days lost or made up
    per state and the party responsible for it; they add up to the project's lateness."""
    gu = _gu_filter(app, gu)
    day = _data_end(app, as_of)
    with _planning(app, day) as svc:
        found = svc.delays(gu, year, day)
    if listing.machine:
        listing.write({"key": d.key, "gu": d.gu, "year": d.year, "target": d.target.isoformat(),
                       "completion": d.completion.isoformat(), "completed": d.completed, "lateness_days": d.lateness,
                       "lines": [{"state": x.state, "owner": x.owner, "days": x.days, "actual_days": x.actual,
                                  "planned_days": x.planned} for x in d.lines], "as_of": day.isoformat()}
                      for d in found)
        return
    if not found:
        click.echo(_h(app, f"{day} 기준 늦은 사업이 없습니다.", f"No late projects as of {day}."))
        return
    from engine.ledger import START, totals
    from render.table import table

    wf = app.catalog.latest(app.catalog.default_id())

    def name(n: str | None) -> str:
        if n == START:
            return _h(app, "착수 지연", "late start")
        if by == "state":
            return wf.state_label(n or "", app.lang)
        return wf.owner_label(n, app.lang) if n else _h(app, "(담당 없음)", "(no owner)")

    click.echo(table([_h(app, "담당" if by == "owner" else "단계", by), _h(app, "잃은 일수", "days lost"),
                      _h(app, "만회 일수", "days made up"), _h(app, "사업 수", "projects")],
                     [[name(n), lost, gained, count] for n, lost, gained, count in totals(found, by)], align="<>>>"))
    done = sum(1 for d in found if d.completed)
    click.echo(_h(app, f"{day} 기준 늦은 사업 {len(found)}건 (준공 {done}건, 진행 중 전망 {len(found) - done}건), "
                       f"지연 합계 {sum(d.lateness for d in found)}일",
                  f"{len(found)} late projects as of {day} ({done} completed, {len(found) - done} projected), "
                  f"{sum(d.lateness for d in found)} days late in all"))


# ------------------------------------------------------------------------------------------------
# baselines


@click.group()
def baseline() -> None:
    """Baselines: the planned date of each milestone (taken on entering agreement, or set) and the variance."""


@baseline.command("set")
@click.argument("key")
@click.option("--as-of", "as_of", metavar="DATE", help="Plan as of this day (default: today).")
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who re-baselines (default: DONGFLOW_ACTOR or your login).")
@app_options
@pass_app
def baseline_set(app: App, key: str, as_of: str | None, actor: str | None) -> None:
    """Re-baseline KEY: the plan as of the day (durations now in force, its blackouts) replaces its baseline."""
    day = _as_of(app, as_of)
    with _planning(app) as svc:
        plan = svc.set_baseline(key, day, now=app.now(), actor=actor or _actor_default())
    click.echo(_h(app, f"{key} 기준선 설정 ({day} 기준): ", f"{key} baseline set as of {day}: ")
               + ", ".join(f"{m} {d}" for m, d in sorted(plan.planned.items(), key=lambda md: md[1])))


@baseline.command("show")
@click.argument("key")
@click.option("--as-of", "as_of", metavar="DATE", help="Variance as of this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@app_options
@pass_app
def baseline_show(app: App, key: str, as_of: str | None, as_json: bool) -> None:
    """KEY's baseline and each milestone's variance: actual (or forecast) date minus planned date."""
    day = _as_of(app, as_of)
    with _planning(app, day) as svc:
        p = svc.project(key)
        found = svc.variances([p], day).get(p.key)
    if found is None:
        raise InvalidInput(f"{p.key} has no baseline yet (it is taken on entering the baseline state, "
                           f"or set with dongflow baseline set {p.key})", field="KEY")
    base, rows = found
    if as_json:
        from commands.common import _json

        _json({"key": p.key, "taken_on": base.taken_on.isoformat(), "source": base.source, "as_of": day.isoformat(),
               "milestones": [variance_json(v) for v in rows]})
        return
    click.echo(_h(app, f"{p.key} 기준선 ({base.taken_on}, {base.source})", f"{p.key} baseline ({base.taken_on}, {base.source})"))
    _print_variances(app, p, rows)


def variance_json(v: Any) -> dict[str, Any]:
    return {"milestone": v.milestone, "planned": v.planned.isoformat(),
            "actual": v.actual.isoformat() if v.actual else None,
            "forecast": v.forecast.isoformat() if v.forecast else None, "variance_days": v.days}


def _print_variances(app: App, p: Any, rows: Any) -> None:
    from render.table import table

    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    labels = {m.id: m.label.get(app.lang) for m in wf.milestones}
    click.echo(table([_h(app, "마일스톤", "milestone"), _h(app, "계획", "planned"), _h(app, "실적", "actual"),
                      _h(app, "전망", "forecast"), _h(app, "편차(일)", "variance")],
                     [[labels.get(v.milestone, v.milestone), v.planned.isoformat(),
                       v.actual.isoformat() if v.actual else "", v.forecast.isoformat() if v.forecast else "",
                       "" if v.days is None else f"{v.days:+d}"] for v in rows], align="<<<<>"))


# ------------------------------------------------------------------------------------------------
# blackouts


@click.group()
def blackout() -> None:
    """Blackout windows: days a site cannot work; due dates, latest starts and forecasts skip them."""


@blackout.command("add")
@click.argument("key", required=False)
@click.option("--gu", help="A district's window (instead of KEY).")
@click.option("--all", "everywhere", is_flag=True, help="A window for every project (instead of KEY).")
@click.option("--from", "start", required=True, metavar="DATE", help="First day of the window.")
@click.option("--to", "end", metavar="DATE", help="Last day of the window (default: --from).")
@click.option("--reason", required=True, help="Why the site cannot work (e.g. polling station on election day).")
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who adds it (default: DONGFLOW_ACTOR or your login).")
@app_options
@pass_app
def blackout_add(app: App, key: str | None, gu: str | None, everywhere: bool, start: str, end: str | None,
                 reason: str, actor: str | None) -> None:
    """Add a window for one project (KEY), a district (--gu) or the whole programme (--all)."""
    from engine.blackouts import DISTRICT, PROGRAMME, PROJECT

    given = [x for x in (key is not None, gu is not None, everywhere) if x]
    if len(given) != 1:
        raise InvalidInput("name exactly one of KEY, --gu GU or --all", field="blackout add")
    first = _date(start, "--from")
    last = _date(end, "--to") if end is not None else first
    assert first is not None and last is not None
    scope, target = (PROJECT, key) if key is not None else (DISTRICT, _gu_filter(app, gu)) if gu else (PROGRAMME, None)
    with _planning(app) as svc:
        b = svc.add_blackout(scope, target, first, last, reason, now=app.now(), actor=actor or _actor_default())
    click.echo(_h(app, f"블랙아웃 #{b.id} 추가: {b.describe()}", f"blackout #{b.id} added: {b.describe()}"))


@blackout.command("list")
@listing_options
@app_options
@pass_app
def blackout_list(app: App, listing: Listing) -> None:
    """The blackout windows you may see, earliest first."""
    with _planning(app) as svc:
        found = svc.blackouts()
    if listing.machine:
        listing.write({"id": b.id, "scope": b.scope, "target": b.target, "from": b.start.isoformat(),
                       "to": b.end.isoformat(), "reason": b.reason} for b in found)
        return
    if not found:
        click.echo(_h(app, "블랙아웃이 없습니다.", "No blackout windows."))
        return
    from render.table import table

    click.echo(table(["#", _h(app, "범위", "scope"), _h(app, "대상", "target"), _h(app, "시작", "from"),
                      _h(app, "끝", "to"), _h(app, "사유", "reason")],
                     [[b.id, b.scope, b.target or "", b.start.isoformat(), b.end.isoformat(), b.reason] for b in found],
                     align=">" + "<" * 5))


@blackout.command("remove")
@click.argument("blackout_id", metavar="ID", type=WholeNumber(minimum=1))
@app_options
@pass_app
def blackout_remove(app: App, blackout_id: int) -> None:
    """Remove a blackout window by its number (see dongflow blackout list)."""
    with _planning(app) as svc:
        b = svc.remove_blackout(blackout_id)
    click.echo(_h(app, f"블랙아웃 #{blackout_id} 삭제: {b.describe()}", f"blackout #{blackout_id} removed: {b.describe()}"))


# ------------------------------------------------------------------------------------------------
# calendar


@click.command()
@_filters
@click.option("--as-of", "as_of", metavar="DATE", help="Open milestones as of this day (default: today).")
@click.option("-o", "--output", required=True, metavar="FILE.ics", help="The iCalendar file to write.")
@app_options
@pass_app
def calendar(app: App, gu: str | None, year: int | None, as_of: str | None, output: str) -> None:
    """Write an iCalendar file: one event per open milestone and per latest start, stable UIDs, Asia/Seoul."""
    from pathlib import Path

    from commands.programme import _write_atomically
    from render.ical import calendar_bytes

    if Path(output).suffix.lower() != ".ics":
        raise InvalidInput(f"{output}: write an .ics file", field="--output")
    gu = _gu_filter(app, gu)
    day = _as_of(app, as_of)
    with _planning(app, day) as svc:
        events = svc.calendar_events(gu, year, day)
    name = "dongflow" + (f" {gu}" if gu else "") + (f" {year}" if year else "")
    data = calendar_bytes(events, name=name, now=app.now(), tz_name="Asia/Seoul")
    _write_atomically(output, lambda path: path.write_bytes(data))
    click.echo(_h(app, f"저장 {output} (일정 {len(events)}개, 기준일 {day})",
                  f"wrote {output} ({len(events)} events, as of {day})"), err=True)


# ------------------------------------------------------------------------------------------------
# `status KEY`: the backward pass, the cut-offs and the baseline variance under the milestones


def print_plan(app: App, p: Any, wf: Any, a: Any, day: dt.date, book: Any) -> None:
    """The latest start of each remaining state ("설계(안) 보고회는 늦어도 2017-05-03 시작"), the fiscal
    cut-offs and, when the project has a baseline, each milestone's variance from it."""
    from engine.backward import topic

    if a.latest_starts:
        click.echo()
        for ls in a.latest_starts:
            label = wf.state_label(ls.state, app.lang)
            if ls.entered is not None:
                late = (ls.entered - ls.latest).days
                note = _h(app, f" ({ls.entered} 시작, {late}일 늦게)", f" (started {ls.entered}, {late} days late)") \
                    if late > 0 else _h(app, f" ({ls.entered} 시작)", f" (started {ls.entered})")
            else:
                note = _h(app, f" ({(day - ls.latest).days}일 지남)", f" ({(day - ls.latest).days} days ago)") \
                    if ls.passed(day) else ""
            click.echo(_h(app, f"  {topic(label)} 늦어도 {ls.latest} 시작{note}", f"  {label}: start by {ls.latest}{note}"))
    for c in a.cutoffs:
        from engine.backward import consequence_label

        what = consequence_label(c.consequence, app.lang)
        cut = next((x for x in wf.cutoffs if x.id == c.cutoff_id), None)
        name = cut.label.get(app.lang) if cut else c.cutoff_id
        when = (_h(app, f"{c.reached_on} 도달", f"reached {c.reached_on}") if c.reached_on else
                _h(app, f"예상 {c.expected}", f"forecast {c.expected}") if c.expected else "-")
        flag = _h(app, f" → {what} 위험 ({c.days}일)", f" -> {what} risk ({c.days} days)") if c.at_risk else ""
        click.echo(f"  {name}: {c.date} ({when}){flag}")
    from engine.planning_service import PlanningService
    from storage.planning import SqlPlanningStore

    # The status command's deadline book: its planners and blackouts are already read.
    found = PlanningService(app.service, book, SqlPlanningStore(app.db), app.lang).variances([p], day).get(p.key)
    if found is not None:
        base, rows = found
        click.echo()
        click.echo(_h(app, f"기준선 ({base.taken_on}, {base.source}) 대비 편차", f"variance from the baseline ({base.taken_on}, {base.source})"))
        _print_variances(app, p, rows)
