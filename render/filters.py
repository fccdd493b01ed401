"""Filter values of the listing contract, one implementation for every door (the CLI's options
through commands/common.py, the API's query parameters through web/api.py): a value that names no
state, workflow or district is an error listing the valid ones; ids and labels (Korean or English)
name them alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from render.output import choose


def state_filter(catalog: Any, value: str | None, workflow_id: str | None = None, field: str = "--state") -> str | None:
    """The state id ``value`` names (an id or a label) among the workflows' states."""
    if value is None:
        return None
    choices: dict[str, list[str]] = {}
    for wf in catalog.all():
        if workflow_id is not None and wf.id != workflow_id:
            continue
        for s in wf.states:
            labels = choices.setdefault(s.id, [])
            labels.extend(x for x in (s.label.get("ko"), s.label.get("en")) if x not in labels)
    return choose(value, choices, "state", field)


def workflow_filter(catalog: Any, value: str | None, field: str = "--workflow") -> str | None:
    if value is None:
        return None
    choices = {wf.id: [wf.title.get("ko"), wf.title.get("en")] for wf in catalog.latest_all()}
    return choose(value, choices, "workflow", field)


def seoul_districts() -> list[str]:
    """Seoul's 25 자치구, from the shipped list of dongs (programme/places.py)."""
    from programme.places import seoul_districts as districts

    return districts()


def gu_filter(value: str | None, stored: Callable[[], Iterable[str]], field: str = "--gu") -> str | None:
    """The district ``value`` names: a Seoul 자치구 or one of ``stored()`` (``성동`` names 성동구)."""
    if value is None:
        return None
    from engine.values import lookup_text

    wanted = lookup_text(value) or ""
    known = seoul_districts()
    if wanted in known:
        return wanted
    districts = list(dict.fromkeys([*known, *stored()]))
    return choose(wanted, {gu: [gu[:-1]] if gu.endswith("구") and len(gu) > 2 else [] for gu in districts},
                  "district", field)


def stored_districts(conn: Any) -> list[str]:
    """The districts the database holds."""
    from sqlalchemy import select

    from storage.repository import P

    return [g for (g,) in conn.execute(select(P.c.gu).distinct().order_by(P.c.gu))]
