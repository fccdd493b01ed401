"""The JSON shape of projects, events and their deadline status: one definition for every door.

``dongflow status --json``, ``history --json`` and the HTTP API all build their items here, so a
field cannot be added to one and forgotten in the other.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from engine.definition import Workflow
    from engine.project import Event, Project


def iso(moment: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat()


def project_json(p: Project, wf: Workflow | None, tz: ZoneInfo, lang: str) -> dict[str, Any]:
    """The listing contract's project fields (render.output.project_fields) and the project's own."""
    from render.output import project_fields

    return {
        **project_fields(p, tz),
        "workflow_version": p.workflow_version,
        "state_label": wf.state_label(p.state, lang) if wf else p.state,
        "target": p.target.isoformat(),
        "previous_state": p.previous_state,
        "facts": dict(p.facts),
        "version": p.version,
    }


def status_json(p: Project, wf: Workflow | None, assessment: Any, day: dt.date, tz: ZoneInfo,
                lang: str) -> dict[str, Any]:
    """One item of ``status --json``: the project, its deadline assessment, the as-of day."""
    from engine.deadlines import as_dict

    item = project_json(p, wf, tz, lang)
    item.update(as_dict(assessment, p.target))
    item["state"] = p.state
    item["as_of"] = day.isoformat()
    if p.retired_at is not None:  # `project retire`: only `status KEY` still shows it
        item["retired_at"] = p.retired_at.astimezone(tz).isoformat()
    return item


def triggers_json(p: Project, wf: Workflow, lang: str) -> list[dict[str, Any]]:
    """The triggers that leave the project's state, each with the guards that do not hold yet
    (empty: it may fire now) and whether it needs a note. None for a retired project: it takes no more changes."""
    if p.retired_at is not None:
        return []
    unmet = wf.unmet_guards(p.state, p.facts)
    out: dict[str, dict[str, Any]] = {}
    for t in wf.transitions_from(p.state):
        if t.trigger in out:
            continue
        out[t.trigger] = {
            "trigger": t.trigger,
            "label": t.label.get(lang),
            "dest": p.previous_state if t.returns_to_previous else t.dest,
            "note_required": t.note_required,
            "unmet_guards": list(unmet.get(t.trigger) or []),
        }
    return list(out.values())


def history_json(p: Project, events: list[Event], tz: ZoneInfo) -> list[dict[str, Any]]:
    """The items of ``history KEY --json``: the listing contract's project fields and each event's."""
    from render.output import project_fields

    fields = project_fields(p, tz)
    return [{**fields, **event_json(e, tz)} for e in events]


def event_json(e: Event, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "kind": e.kind,
        "trigger": e.trigger,
        "from": e.from_state,
        "to": e.to_state,
        "actor": e.actor,
        "at": iso(e.at, tz),
        "recorded_at": iso(e.recorded_at, tz),
        "note": e.note,
        "data": dict(e.data),
    }


def findings_json(found: list[tuple[Any, Any]], book: Any, day: dt.date, lang: str, tz: ZoneInfo,
                  levels: Any = ()) -> list[dict[str, Any]]:
    """The items of ``overdue --json`` (the same fields as commands/deadlines.py writes them), most severe
    first: (row, finding) pairs from ``DeadlineBook.scan``."""
    from engine.deadlines import SEVERITY

    if levels:
        found = [(r, f) for r, f in found if f.level in levels]
    found = sorted(found, key=lambda rf: (-SEVERITY[rf[1].level],
                                          -rf[1].days if rf[1].level != "due_soon" else rf[1].days, rf[0].key))
    from render.output import project_fields

    items = []
    for r, f in found:
        late = f.level != "due_soon"
        items.append({
            **project_fields(r, tz), "milestone": f.milestone,
            "milestone_label": book.milestone_label(r.workflow_id, r.workflow_version, f.milestone, lang),
            "due": f.due.isoformat(), "level": f.level, "days_late": f.days if late else None,
            "slack_days": None if late else f.days, "reason": f.reason, "as_of": day.isoformat(),
        })
    return items


def bulk_json(result: Any) -> dict[str, Any]:
    """``advance --where/--keys-from --json`` (an engine.bulk.BulkResult): what moved (or would), what refused."""
    return {"batch": result.batch, "trigger": result.trigger, "dry_run": result.dry_run,
            "moves": [{"key": m.key, "from": m.from_state, "to": m.to_state} for m in result.moves],
            "refused": [{"key": r.key, "reason": r.reason} for r in result.refusals]}
