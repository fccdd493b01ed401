"""The planning parts of a workflow file: state ``owner:``, the ``owners:`` they name, and ``cutoffs:``.

Called by :mod:`engine.loader` once the states are built; it reports problems through the same
builder (one line each, with the file's line), so a file with a bad owner and a bad guard lists both.

.. code-block:: yaml

    owners:                       # who is responsible for the time spent in a state (the delay ledger)
      district_office: {ko: 자치구, en: District office}
      architect: {ko: 설계자, en: Architect}
    states:
      - id: design_review
        owner: district_office
    baseline: {state: agreement}  # entering it takes the project's baseline (planned date per milestone)
    cutoffs:                      # fiscal cut-offs: the state must be reached by the month-day
      - id: construction_contract
        state: construction
        by: "10-01"               # of the cohort's year (year_offset: 1 for the next year)
        consequence: carry_over   # carry_over (이월) or lapse (불용)
        label: {ko: 공사 계약 이월 기한, en: Construction contract cut-off}
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from engine.definition import Cutoff, Label, State

OWNER_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CUTOFF_KEYS = {"id", "state", "by", "consequence", "label", "year_offset"}
CONSEQUENCES = ("carry_over", "lapse")
MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$", re.ASCII)  # not '１０-０１'


def build_planning(builder: Any, top: Any, states: list[State]
                   ) -> tuple[list[State], dict[str, Label], tuple[Cutoff, ...], str | None]:
    """States with their owners, the declared owners, the cut-offs and the baseline state (problems
    reported to ``builder``)."""
    owners = _owners(builder, top.get("owners"), builder.line_of(top, "owners"))
    states = _state_owners(builder, top.get("states"), states, owners)
    by_id = {s.id: s for s in states}
    cutoffs = _cutoffs(builder, top.get("cutoffs"), builder.line_of(top, "cutoffs"), by_id)
    return states, owners, cutoffs, _baseline(builder, top.get("baseline"), builder.line_of(top, "baseline"), by_id)


def _baseline(builder: Any, value: Any, line: int | None, states: dict[str, State]) -> str | None:
    """``baseline: {state: agreement}``: entering that state takes the project's baseline."""
    if value is None:
        return None
    m = builder.mapping(value, "baseline", line)
    if m is None:
        return None
    builder.check_keys(m, {"state"}, "baseline")
    state = m.get("state")
    if not isinstance(state, str) or state not in states or states[state].final:
        builder.problem(f"baseline: state must be a non-final state of the workflow, not {state!r}",
                        builder.line_of(m, "state"))
        return None
    return state


def _owners(builder: Any, value: Any, line: int | None) -> dict[str, Label]:
    if value is None:
        return {}
    m = builder.mapping(value, "owners", line)
    if m is None:
        return {}
    out: dict[str, Label] = {}
    for name, label in m.items():
        where = builder.line_of(m, name)
        ident = builder.ident(name, "owner id", where, OWNER_RE)
        if ident is not None:
            out[ident] = builder.label(label, f"owner {ident} label", where, ident)
    return out


def _state_owners(builder: Any, raw_states: Any, states: list[State], owners: dict[str, Label]) -> list[State]:
    """Each state's ``owner:``: an id, one of ``owners:`` when that is declared."""
    raw_by_id: dict[str, Any] = {}
    for item in raw_states if isinstance(raw_states, list) else ():  # a non-list is reported by the loader
        if hasattr(item, "get") and isinstance(item.get("id"), str):
            raw_by_id.setdefault(item.get("id"), item)
    out = []
    for s in states:
        raw = raw_by_id.get(s.id)
        if raw is None or raw.get("owner") is None:
            out.append(s)
            continue
        line = builder.line_of(raw, "owner")
        owner = builder.ident(raw.get("owner"), f"state {s.id}: owner", line, OWNER_RE)
        if owner is None:
            out.append(s)
            continue
        if owners and owner not in owners:
            builder.problem(f"state {s.id}: owner {owner!r} is not one of owners: ({', '.join(owners)})", line)
        if s.final:
            builder.problem(f"state {s.id}: a final state spends no time and has no owner", line)
        out.append(dataclasses.replace(s, owner=owner))
    return out


def _cutoffs(builder: Any, value: Any, line: int | None, states: dict[str, State]) -> tuple[Cutoff, ...]:
    if value is None:
        return ()
    seq = builder.sequence(value, "cutoffs", line)
    if seq is None:
        return ()
    out: list[Cutoff] = []
    seen: set[str] = set()
    for item, item_line in zip(seq, seq.item_lines):
        m = builder.mapping(item, "a cut-off", item_line)
        if m is None:
            continue
        builder.check_keys(m, CUTOFF_KEYS, "a cut-off")
        missing = [k for k in ("id", "state", "by", "consequence") if k not in m]
        if missing:
            builder.problem(f"a cut-off needs {', '.join(missing)}", m.line)
            continue
        cid = builder.ident(m.get("id"), "cut-off id", builder.line_of(m, "id"))
        if cid is None:
            continue
        if cid in seen:
            builder.problem(f"duplicate cut-off id {cid!r}", builder.line_of(m, "id"))
            continue
        seen.add(cid)
        state = m.get("state")
        if not isinstance(state, str) or state not in states:
            builder.problem(f"cut-off {cid}: unknown state {state!r}", builder.line_of(m, "state"))
            continue
        by = _month_day(builder, m.get("by"), f"cut-off {cid}: by", builder.line_of(m, "by"))
        consequence = m.get("consequence")
        if consequence not in CONSEQUENCES:
            builder.problem(f"cut-off {cid}: consequence must be one of {', '.join(CONSEQUENCES)}, not {consequence!r}",
                            builder.line_of(m, "consequence"))
            continue
        offset = m.get("year_offset", 0)
        if offset not in (0, 1) or isinstance(offset, bool):
            builder.problem(f"cut-off {cid}: year_offset must be 0 (the cohort's year) or 1 (the next), not {offset!r}",
                            builder.line_of(m, "year_offset"))
            continue
        if by is None:
            continue
        out.append(Cutoff(cid, state, by, consequence, builder.label(m.get("label"), f"cut-off {cid} label",
                                                                      builder.line_of(m, "label"), cid),
                          offset, m.line))
    return tuple(out)


def _month_day(builder: Any, value: Any, where: str, line: int | None) -> tuple[int, int] | None:
    match = MONTH_DAY_RE.match(value.strip()) if isinstance(value, str) else None
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 30 if month in (4, 6, 9, 11) else 31):
            return month, day
    builder.problem(f"{where}: {value!r} is not a month-day like \"10-01\"", line)
    return None
