"""The report as one self-contained HTML page: charts (plotly, its JavaScript inlined) and tables.

Charts:

* a Gantt-style timeline per dong: the planned course (pale bars, from the workflow's milestone due
  dates) against the actual one (solid bars, from the dates each stage was first entered), with the
  as-of date marked; late and at-risk dongs are named in red;
* the number of projects at each stage per district (stacked bars);
* budget per year: planned, allocated, executed, with the execution rate on each bar;
* completions per quarter against the plan.

Text is laid out for Korean: the page and the charts ask for a CJK font (Noto Sans CJK KR, Malgun
Gothic, Apple SD Gothic Neo), so Hangul never falls back to boxes when one is installed. plotly is
imported here only, and this module only when ``--format html`` is asked for.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from programme.report import Report, Section, TimelineRow
from programme.report_text import NUMERIC, cell, headers
from render import markup

FONT = "'Noto Sans CJK KR', 'Noto Sans KR', 'Malgun Gothic', 'Apple SD Gothic Neo', 'NanumGothic', sans-serif"
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#EECA3B", "#9D755D", "#FF9DA6", "#BAB0AC")
STATE_COLORS = {"completed": "#2E8B57", "cancelled": "#9E9E9E", "on_hold": "#C9A227"}
LATE_COLOR = "#C0392B"
DAY_MS = 86_400_000


def _t(lang: str, ko: str, en: str) -> str:
    return en if lang == "en" else ko


def stage_colors(report: Report) -> dict[str, str]:
    colors: dict[str, str] = {}
    free = iter(PALETTE * 3)
    for state in report.stage_labels:
        colors[state] = STATE_COLORS.get(state) or next(free)
    return colors


def _layout(fig: go.Figure, title: str, height: int, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 18}},
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 10, "r": 20, "t": 90, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0, "font": {"size": 12}},
        plot_bgcolor="white",
        paper_bgcolor="white",
        **extra,
    )
    fig.update_xaxes(gridcolor="#E5E5E5", zeroline=False, automargin=True)
    fig.update_yaxes(gridcolor="#E5E5E5", automargin=True)
    return fig


def timeline_figure(report: Report, lang: str) -> go.Figure | None:
    rows: Sequence[TimelineRow] = report.timeline
    if not rows:
        return None
    colors = stage_colors(report)
    names = [f"{r.gu} {r.dong}" for r in rows]
    if len(set(names)) < len(names):
        names = [r.key for r in rows]
    ticks = [
        f"<span style='color:{LATE_COLOR}'><b>{html.escape(n)}</b></span>" if (r.late or r.at_risk) else html.escape(n)
        for n, r in zip(names, rows)
    ]
    fig = go.Figure()
    shown: set[str] = set()
    for kind, width, offset, opacity in (("plan", 0.34, 0.04, 0.35), ("actual", 0.46, -0.48, 1.0)):
        by_state: dict[str, list[tuple[str, Any, Any]]] = {}
        for name, r in zip(ticks, rows):
            for seg in getattr(r, kind):
                by_state.setdefault(seg.state, []).append((name, seg, r))
        for state in [s for s in colors if s in by_state] + [s for s in by_state if s not in colors]:
            items = by_state[state]
            label = items[0][1].label.get(lang)
            fig.add_trace(
                go.Bar(
                    orientation="h",
                    y=[name for name, _, _ in items],
                    base=[seg.start.isoformat() for _, seg, _ in items],
                    x=[(seg.end - seg.start).days * DAY_MS for _, seg, _ in items],
                    width=width,
                    offset=offset,
                    marker={
                        "color": colors.get(state, "#888888"),
                        "opacity": opacity,
                        "line": {"width": 0.5, "color": "white"},
                    },
                    name=label,
                    legendgroup=state,
                    showlegend=kind == "actual" and state not in shown,
                    hovertemplate=(
                        f"{_t(lang, '계획', 'plan') if kind == 'plan' else _t(lang, '실적', 'actual')} "
                        f"{html.escape(label)}<br>%{{base|%Y-%m-%d}} ~ " + "%{customdata}<extra></extra>"
                    ),
                    customdata=[seg.end.isoformat() for _, seg, _ in items],
                )
            )
            if kind == "actual":
                shown.add(state)
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=[ticks[0]],
            x=[0],
            base=[rows[0].target.isoformat()],
            marker={"color": "#BBBBBB"},
            name=_t(lang, "계획 (연한 막대, 아래)", "plan (pale bar, below)"),
            showlegend=True,
            hoverinfo="skip",
        )
    )
    as_of = report.as_of.isoformat()
    fig.add_trace(
        go.Scatter(
            x=[as_of, as_of],
            y=[ticks[0], ticks[-1]],
            mode="lines",
            hoverinfo="skip",
            line={"color": LATE_COLOR, "dash": "dot", "width": 2},
            name=_t(lang, f"기준일 {as_of}", f"as of {as_of}"),
        )
    )
    more = ""
    if report.timeline_total > len(rows):
        more = _t(
            lang,
            f" — {report.timeline_total}개 중 {len(rows)}개 (지연·위험 우선; --gu로 좁히세요)",
            f" — {len(rows)} of {report.timeline_total} (late and at risk first; narrow with --gu)",
        )
    year = report.timeline_year
    title = (
        _t(lang, f"동별 계획 대비 실적 일정 ({year}년 사업)", f"Plan against actual, per dong ({year} cohort)") + more
    )
    height = 200 + 30 * len(rows)
    fig = _layout(fig, title, height, barmode="overlay", bargap=0.1)
    # Dates on top (a tall chart is read from the top), so title and legend sit above them, placed
    # in pixels of the whole figure: neither may cover the date labels.
    fig.update_layout(
        margin={"t": 135},
        title={"yref": "container", "y": 1 - 24 / height, "yanchor": "middle"},
        legend={"yref": "container", "y": 1 - 46 / height, "yanchor": "top"},
    )
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=ticks, tickfont={"size": 12})
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d", side="top", dtick="M1", ticks="outside")
    return fig


def districts_figure(report: Report, lang: str) -> go.Figure | None:
    s = report.section("districts")
    if s is None or not s.rows:
        return None
    colors = stage_colors(report)
    state_cols = [(i, c) for i, c in enumerate(s.columns) if c.key in report.stage_labels]
    gus = [r[0] for r in s.rows]
    fig = go.Figure()
    for i, c in state_cols:
        values = [r[i] for r in s.rows]
        if not any(values):
            continue
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=gus,
                x=values,
                name=c.label.get(lang),
                marker={"color": colors.get(c.key, "#888888")},
                hovertemplate="%{y} " + html.escape(c.label.get(lang)) + ": %{x}<extra></extra>",
            )
        )
    late_i = next(i for i, c in enumerate(s.columns) if c.key == "late")
    risk_i = next(i for i, c in enumerate(s.columns) if c.key == "at_risk")
    totals = [r[1] for r in s.rows]
    notes = [
        f"  {_t(lang, '지연', 'late')} {r[late_i]} · {_t(lang, '위험', 'at risk')} {r[risk_i]}"
        if (r[late_i] or r[risk_i])
        else ""
        for r in s.rows
    ]
    fig.add_trace(
        go.Scatter(
            y=gus,
            x=totals,
            mode="text",
            text=notes,
            textposition="middle right",
            textfont={"color": LATE_COLOR, "size": 12},
            showlegend=False,
            hoverinfo="skip",
        )
    )
    title = _t(
        lang, f"자치구별 단계 현황 (기준일 {report.as_of})", f"Projects per stage and district (as of {report.as_of})"
    )
    fig = _layout(fig, title, 170 + 28 * len(gus), barmode="stack", bargap=0.25)
    fig.update_layout(legend={"traceorder": "normal"})
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title={"text": _t(lang, "사업 수", "projects")}, range=[0, max(totals) * 1.35 + 1])
    return fig


def budget_figure(report: Report, lang: str) -> go.Figure | None:
    s = report.section("budget")
    if s is None or not s.rows:
        return None
    years = [str(r[0]) for r in s.rows]
    fig = go.Figure()
    series = (
        (1, _t(lang, "계획", "Planned"), "#BAB0AC"),
        (2, _t(lang, "배정", "Allocated"), "#4C78A8"),
        (3, _t(lang, "집행", "Executed"), "#F58518"),
    )
    for index, name, color in series:
        values = [None if r[index] is None else r[index] / 1_000_000 for r in s.rows]
        if all(v is None for v in values):
            continue
        text = [f"{v:,.0f}" if v is not None else "" for v in values]
        if index == 3:
            text = [f"{t}<br>({r[4] * 100:.1f}%)" if r[4] is not None else t for t, r in zip(text, s.rows)]
        fig.add_trace(
            go.Bar(
                x=years,
                y=values,
                name=name,
                marker={"color": color},
                text=text,
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{x} " + name + ": %{y:,.0f}<extra></extra>",
            )
        )
    title = _t(
        lang,
        "연도별 예산 집행 (백만원; 괄호: 집행률 = 집행/배정)",
        "Budget per year (million won; in brackets: executed / allocated)",
    )
    fig = _layout(fig, title, 460, barmode="group", bargap=0.25)
    fig.update_xaxes(type="category")
    fig.update_yaxes(title={"text": _t(lang, "백만원", "million won")}, tickformat=",")
    return fig


def results_figure(report: Report, lang: str) -> go.Figure | None:
    s = report.section("plan")
    if s is None or not s.rows:
        return None
    labels = [f"{r[0]} Q{r[1]}" for r in s.rows]
    at = {c.key: i for i, c in enumerate(s.columns)}
    fig = go.Figure()
    if "planned" in at:  # the plan is programme-wide: the section leaves it out under --gu
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[r[at["planned"]] for r in s.rows],
                name=_t(lang, "계획", "Planned"),
                marker={"color": "#BAB0AC"},
                text=[r[at["planned"]] for r in s.rows],
                textposition="outside",
            )
        )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[r[at["actual"]] for r in s.rows],
            name=_t(lang, "실적 (준공)", "Completed"),
            marker={"color": "#2E8B57"},
            text=[r[at["actual"]] for r in s.rows],
            textposition="outside",
        )
    )
    title = (
        _t(lang, "분기별 준공: 계획 대비 실적", "Completions per quarter: plan and results")
        if report.filter.gu is None
        else _t(
            lang,
            f"분기별 준공 ({report.filter.gu}; 계획은 사업 전체 기준이라 생략)",
            f"Completions per quarter ({report.filter.gu}; the programme-wide plan is left out)",
        )
    )
    fig = _layout(fig, title, 420, barmode="group", bargap=0.3)
    fig.update_xaxes(type="category")
    fig.update_yaxes(title={"text": _t(lang, "개소", "dongs")})
    return fig


def _table_html(s: Section, lang: str) -> str:
    numeric = [c.kind in NUMERIC for c in s.columns]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(s, lang))
    body = []
    for r in s.rows:
        body.append(
            "<tr>"
            + "".join(
                f"<td class='{'n' if n else ''}'>{html.escape(cell(v, c, lang))}</td>"
                for v, c, n in zip(r, s.columns, numeric)
            )
            + "</tr>"
        )
    if s.total is not None:
        body.append(
            "<tr class='total'>"
            + "".join(
                f"<td class='{'n' if n else ''}'>{html.escape(cell(v, c, lang))}</td>"
                for v, c, n in zip(s.total, s.columns, numeric)
            )
            + "</tr>"
        )
    if not s.rows:
        body.append(f"<tr><td colspan='{len(s.columns)}'>{_t(lang, '자료 없음', 'no data')}</td></tr>")
    notes = "".join(f"<li>{markup.to_html(n.get(lang))}</li>" for n in s.notes)
    return (
        f"<section id='{s.id}'><h2>{html.escape(s.title.get(lang))}</h2>"
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"<ul class='notes'>{notes}</ul></section>"
    )


CSS = """
body { font-family: %(font)s; margin: 24px auto; max-width: 1280px; color: #222; padding: 0 16px; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 28px; }
.meta { color: #555; margin-bottom: 18px; }
.chart { border: 1px solid #e3e3e3; border-radius: 6px; margin: 14px 0; padding: 4px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #d6d6d6; padding: 4px 9px; white-space: nowrap; }
th { background: #dde6f0; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; background: #f4f4f4; }
.scroll { overflow-x: auto; } .notes { color: #555; font-size: 13px; }
"""


def _planning_figures(report: Report, lang: str) -> tuple[go.Figure | None, ...]:
    from programme.report_planning_html import delays_figure, variance_figure

    return variance_figure(report, lang, _layout), delays_figure(report, lang, _layout)


def render_html(report: Report, lang: str) -> str:
    figures = [
        f
        for f in (
            timeline_figure(report, lang),
            districts_figure(report, lang),
            budget_figure(report, lang),
            results_figure(report, lang),
            *_planning_figures(report, lang),
        )
        if f is not None
    ]
    charts = "".join(
        "<div class='chart'>"
        + fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{i}",
            config={"displaylogo": False, "responsive": True},
        )
        + "</div>"
        for i, fig in enumerate(figures)
    )
    tables = "".join(_table_html(s, lang) for s in report.sections)
    title = _t(lang, "사업 추진 현황 보고", "Programme report")
    f = report.filter
    scope = ", ".join(x for x in (f.gu or "", _t(lang, f"{f.year}년 사업", f"cohort {f.year}") if f.year else "") if x)
    meta = _t(lang, f"기준일 {report.as_of}", f"As of {report.as_of}") + (f" · {html.escape(scope)}" if scope else "")
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title} {report.as_of}</title>"
        f"<style>{CSS % {'font': FONT}}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{title}</h1><div class='meta'>{meta} · {_t(lang, '생성', 'made by')} dongflow</div>"
        f"{charts}{tables}</body></html>"
    )
