"""The charts of the report's planning sections (plotly): variance from the baseline per milestone, and
where the days were lost (per owner). Laid out like the other charts of programme/report_html.py."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go


def _t(lang: str, ko: str, en: str) -> str:
    return en if lang == "en" else ko


def variance_figure(report: Any, lang: str, layout: Any) -> go.Figure | None:
    s = report.section("baseline")
    if s is None or not s.rows:
        return None
    names = [r[0].get(lang) for r in s.rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[float(r[3]) for r in s.rows], name=_t(lang, "평균 편차", "Mean variance"),
                         marker={"color": "#4C78A8"}, hovertemplate="%{x}: %{y:+.1f}<extra></extra>"))
    fig.add_trace(go.Bar(x=names, y=[float(r[4]) for r in s.rows], name=_t(lang, "중앙값", "Median"),
                         marker={"color": "#BAB0AC"}, hovertemplate="%{x}: %{y:+.1f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=names, y=[r[5] for r in s.rows], name=_t(lang, "최대", "Largest"), mode="markers",
                             marker={"color": "#E45756", "size": 9}, hovertemplate="%{x}: %{y:+d}<extra></extra>"))
    title = _t(lang, "마일스톤별 기준선 대비 편차 (일; 양수는 늦음)",
               "Variance from the baseline per milestone (days; positive is late)")
    fig = layout(fig, title, 420, barmode="group")
    fig.update_yaxes(title={"text": _t(lang, "일", "days")}, zeroline=True)
    return fig


def delays_figure(report: Any, lang: str, layout: Any) -> go.Figure | None:
    s = report.section("delays")
    if s is None or not s.rows:
        return None
    names = [r[0].get(lang) for r in s.rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=[r[1] for r in s.rows], orientation="h", name=_t(lang, "잃은 일수", "Days lost"),
                         marker={"color": "#E45756"}, hovertemplate="%{y}: %{x:,}<extra></extra>"))
    fig.add_trace(go.Bar(y=names, x=[-r[2] for r in s.rows], orientation="h",
                         name=_t(lang, "만회 일수", "Days made up"), marker={"color": "#54A24B"},
                         hovertemplate="%{y}: %{x:,}<extra></extra>"))
    title = _t(lang, "지연 원인: 담당별 잃은 일수와 만회 일수", "Where the days were lost and made up, by owner")
    fig = layout(fig, title, 120 + 36 * len(names), barmode="relative")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title={"text": _t(lang, "일", "days")})
    return fig
