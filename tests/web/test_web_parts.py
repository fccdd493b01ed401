"""The web app's small parts on their own: the diagram's layout and escaping, spreadsheet cells,
the language choice, the origin check, where sign-in may return to, and the header's user label."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture(scope="module")
def workflow():
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR

    return Catalog.from_dirs([SHIPPED_DIR]).get("space-improvement")


def test_diagram_layout_follows_the_course(workflow) -> None:
    from web.diagram_svg import layout

    place, side = layout(workflow)
    assert side == ["on_hold", "cancelled"]  # reached from any state
    columns = {s: c for s, (c, _r) in place.items()}
    course = ["survey", "agreement", "design_review", "detailed_design", "tender", "construction", "completed"]
    assert [columns[s] for s in course] == sorted(columns[s] for s in course)
    assert columns["design_revision"] == columns["detailed_design"]  # a branch sits under the main course
    assert place["design_revision"] != place["detailed_design"]


def test_diagram_marks_the_current_state_and_escapes_labels(workflow) -> None:
    from engine.definition import Label
    from web.diagram_svg import render_svg

    states = tuple(dataclasses.replace(s, label=Label("<b>조사</b>", "<b>survey</b>")) if s.id == "survey" else s
                   for s in workflow.states)
    svg = str(render_svg(dataclasses.replace(workflow, states=states), "agreement", ["survey"]))
    assert "<b>" not in svg and "&lt;b&gt;조사&lt;/b&gt;" in svg
    assert svg.count('class="node current') == 1 and 'class="node done' in svg
    current = svg.split('class="node current', 1)[1].split("</g>", 1)[0]
    assert ">agreement<" in current


@pytest.mark.parametrize("value,cell", [
    ("=1+1", "'=1+1"), ("+82 2", "'+82 2"), ("-3", "'-3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=x", "'\t=x"),
    ("\r=x", "'\r=x"), ("마장동", "마장동"), ("a=b", "a=b"), (-3, -3), (2.5, 2.5), (None, ""), (True, "true"),
])
def test_spreadsheet_cells_never_become_formulas(value, cell) -> None:
    from web.exports import neutralise

    assert neutralise(value) == cell


def test_language_choice() -> None:
    from web.i18n import WORDS, Words, pick_lang

    assert pick_lang("en", "ko", "ko") == "en"
    assert pick_lang(None, "en", "ko") == "en"
    assert pick_lang("fr", None, "ko") == "ko"
    assert pick_lang(None, None, "xx") == "ko"
    assert all(ko and en for ko, en in WORDS.values())
    assert Words("en")("shown", start=1, end=2, total=3) == "1–2 of 3"


@pytest.mark.parametrize("headers,same", [
    ({"origin": "http://testserver"}, True),
    ({"origin": "http://testserver:80"}, False),
    ({"origin": "https://testserver"}, False),
    ({"origin": "http://evil.example"}, False),
    ({"origin": "null"}, False),
    ({"referer": "http://testserver/projects/x"}, True),
    ({"referer": "http://evil.example/testserver"}, False),
    ({}, False),
])
def test_same_origin(headers, same) -> None:
    from starlette.requests import Request

    from web.security import same_origin

    raw = [(b"host", b"testserver")] + [(k.encode(), v.encode()) for k, v in headers.items()]
    request = Request({"type": "http", "method": "POST", "scheme": "http", "path": "/", "headers": raw,
                       "server": ("testserver", 80), "query_string": b""})
    assert same_origin(request) is same


@pytest.mark.parametrize("target,goes", [
    ("/projects/x", "/projects/x"), ("//evil.example", "/"), ("https://evil.example", "/"), ("/\\evil", "/"),
    ("", "/"), ("projects", "/"),
])
def test_sign_in_returns_only_inside_the_app(target, goes) -> None:
    from web.pages import _local

    assert _local(target) == goes


@pytest.mark.parametrize("name,role,display,shown,extra", [
    ("coordinator", "coordinator", "Coordinator", "Coordinator", []),  # was "Coordinator (coordinator, coordinator)"
    ("kim", "coordinator", "김민준", "김민준", ["kim", "coordinator"]),
    ("kim", "coordinator", None, "kim", ["coordinator"]),
    ("admin", "admin", None, "admin", []),
    ("boss", "admin", "Admin", "Admin", ["boss"]),
])
def test_the_header_names_each_thing_once(name, role, display, shown, extra) -> None:
    from engine.access import Principal
    from web.templating import who_label

    assert who_label(Principal.of(name, role, ["성동구"] if role == "coordinator" else [],
                                  display_name=display)) == (shown, extra)
