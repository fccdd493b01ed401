"""Small pure helpers of the workflow loader (guard literals, graph reachability, value kinds)."""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Mapping
from typing import Any

from engine.values import digits_problem
from engine.yaml_reader import LineList, LineMap

_BAD = object()


def _guard_literal(text: str) -> Any:
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if digits_problem(text) is not None:  # int() and float() read '３'
        return _BAD
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value == value and value not in (float("inf"), float("-inf")):
            return value
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text, re.ASCII):
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return _BAD
    return _BAD


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    todo = deque([start])
    while todo:
        for nxt in edges.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _depths(start: str, edges: Mapping[str, set[str]]) -> dict[str, int]:
    depth = {start: 0}
    todo = deque([start])
    while todo:
        cur = todo.popleft()
        for nxt in sorted(edges.get(cur, ())):
            if nxt not in depth:
                depth[nxt] = depth[cur] + 1
                todo.append(nxt)
    return depth


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, LineMap):
        return "a mapping"
    if isinstance(value, LineList):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return type(value).__name__
