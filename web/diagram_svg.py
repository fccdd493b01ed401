"""A workflow drawn as SVG for the project page, with the project's current state highlighted.

No Graphviz binary nor any script: states are laid out in columns by their distance from the
initial state along the workflow's own transitions (a state sent back to, like a design revision,
sits under the state it branches from), and the states reached "from any state" (on hold, cancelled:
``source: "*"`` in the file) sit in a row of their own. Every label is escaped. The Mermaid text of
:mod:`engine.diagram` (the same drawing ``dongflow workflow diagram`` prints) goes beside it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from markupsafe import Markup, escape

from engine.definition import PREVIOUS, Workflow

W, H, GAP_X, GAP_Y, PAD = 132, 46, 36, 22, 10


def _any_state(workflow: Workflow) -> set[str]:
    """States entered by a transition from (nearly) every non-final state."""
    open_states = {s.id for s in workflow.states if not s.final}
    out = set()
    for t in workflow.transitions:
        if t.dest != PREVIOUS and len(open_states - set(t.sources) - {t.dest}) == 0 and len(t.sources) > 2:
            out.add(t.dest)
    return out


def layout(workflow: Workflow) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """(column, row) of each state on the main course, and the states reached from any state."""
    side = _any_state(workflow)
    edges: dict[str, list[str]] = {}
    for t in workflow.transitions:
        if t.dest in side or t.dest == PREVIOUS:
            continue
        for s in t.sources:
            if s not in side and t.dest != s:
                edges.setdefault(s, []).append(t.dest)
    depth = {workflow.initial.id: 0}
    queue = deque([workflow.initial.id])
    while queue:
        s = queue.popleft()
        for d in edges.get(s, ()):
            if d not in depth:
                depth[d] = depth[s] + 1
                queue.append(d)
    for s in workflow.states:  # unreachable states (a workflow under construction) go last
        if s.id not in depth and s.id not in side:
            depth[s.id] = max(depth.values()) + 1
    place: dict[str, tuple[int, int]] = {}
    rows: dict[int, int] = {}
    for s in workflow.states:
        if s.id in depth:
            col = depth[s.id]
            place[s.id] = (col, rows.get(col, 0))
            rows[col] = rows.get(col, 0) + 1
    return place, [s.id for s in workflow.states if s.id in side]


def _box(x: int, y: int, label: str, state_id: str, classes: Iterable[str]) -> str:
    cls = " ".join(["node", *classes])
    return (f'<g class="{cls}"><rect x="{x}" y="{y}" width="{W}" height="{H}" rx="8"/>'
            f'<text x="{x + W // 2}" y="{y + 20}" text-anchor="middle">{escape(label)}</text>'
            f'<text class="sid" x="{x + W // 2}" y="{y + 36}" text-anchor="middle">{escape(state_id)}</text></g>')


def render_svg(workflow: Workflow, current: str | None, reached: Iterable[str] = (), lang: str = "ko",
               any_label: str = "from any state") -> Markup:
    place, side = layout(workflow)
    done = set(reached)
    cols = max((c for c, _ in place.values()), default=0) + 1
    rows = max((r for _, r in place.values()), default=0) + 1
    pos = {s: (PAD + c * (W + GAP_X), PAD + r * (H + GAP_Y)) for s, (c, r) in place.items()}
    side_y = PAD + rows * (H + GAP_Y) + 18
    for i, s in enumerate(side):
        pos[s] = (PAD + (i + 1) * (W + GAP_X), side_y)
    width = PAD * 2 + max(cols, len(side) + 1) * (W + GAP_X) - GAP_X
    height = (side_y + H + PAD) if side else (PAD * 2 + rows * (H + GAP_Y) - GAP_Y)
    parts = [(f'<svg class="diagram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
              f'role="img" xmlns="http://www.w3.org/2000/svg"><title>{escape(workflow.title.get(lang))}</title>'),
             ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
              'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>')]
    drawn: set[tuple[str, str]] = set()
    for t in workflow.transitions:
        if t.dest == PREVIOUS or t.dest in side:
            continue
        for s in t.sources:
            if s in side or s not in pos or t.dest not in pos or (s, t.dest) in drawn:
                continue
            drawn.add((s, t.dest))
            (x1, y1), (x2, y2) = pos[s], pos[t.dest]
            if s == t.dest:  # a loop (e.g. re-announce a failed tender)
                parts.append(f'<path class="edge" d="M {x1 + W - 30} {y1} C {x1 + W - 20} {y1 - 18}, '
                             f'{x1 + W + 6} {y1 - 10}, {x1 + W} {y1 + 8}" marker-end="url(#arrow)"/>')
            elif x2 > x1:
                parts.append(f'<line class="edge" x1="{x1 + W}" y1="{y1 + H // 2}" x2="{x2}" y2="{y2 + H // 2}" '
                             'marker-end="url(#arrow)"/>')
            else:  # back to an earlier column (or the same one): a curve below
                parts.append(f'<path class="edge back" d="M {x1 + 20} {y1 + (0 if y1 > y2 else H)} '
                             f'Q {(x1 + x2) // 2 + 30} {(y1 + y2) // 2 + H // 2}, {x2 + W - 20} '
                             f'{y2 + (H if y1 > y2 else 0)}" marker-end="url(#arrow)"/>')
    if side:
        parts.append(f'<text class="any" x="{PAD}" y="{side_y + H // 2 + 5}">{escape(any_label)} →</text>')
    for s in workflow.states:
        if s.id not in pos:
            continue
        x, y = pos[s.id]
        classes = ["current"] if s.id == current else (["done"] if s.id in done else [])
        if s.final:
            classes.append("final")
        parts.append(_box(x, y, s.label.get(lang), s.id, classes))
    parts.append("</svg>")
    return Markup("".join(parts))
