"""Workflow files name the participation a fact counts; the loader checks it with file and line."""

from __future__ import annotations

import pytest

from engine.errors import WorkflowDefinitionError
from engine.loader import load_text

BASE = """
id: mini
version: 1
target: {{state: done, due: "07-01"}}
participation_kinds: [resident_meeting, press]
facts:
  meetings:
    type: {type}
    default: 0
    counts_participation: {kind}
states:
  - {{id: start, initial: true}}
  - {{id: done, final: true}}
transitions:
  - {{trigger: finish, source: start, dest: done, guards: ["{guard}"]}}
"""


def test_counts_participation_is_loaded() -> None:
    wf = load_text(BASE.format(type="integer", kind="resident_meeting", guard="meetings >= 1"), "mini.yaml")
    assert wf.facts["meetings"].counts_participation == "resident_meeting"
    assert [f.name for f in wf.facts_counting("resident_meeting")] == ["meetings"]
    assert wf.facts_counting("press") == []
    assert wf.as_dict()["facts"][0]["counts_participation"] == "resident_meeting"


@pytest.mark.parametrize(
    ("ftype", "kind", "message"),
    [("integer", "picnic", "counts_participation must be one of"), ("boolean", "press", "needs an integer fact")],
)
def test_bad_counts_participation_names_file_and_line(ftype: str, kind: str, message: str) -> None:
    guard = "meetings >= 1" if ftype == "integer" else "meetings == true"
    text = BASE.format(type=ftype, kind=kind, guard=guard)
    text = text.replace("default: 0", "default: 0" if ftype == "integer" else "default: false")
    with pytest.raises(WorkflowDefinitionError) as err:
        load_text(text, "mini.yaml")
    assert message in str(err.value)
    assert err.value.file == "mini.yaml" and err.value.line == 10


def test_shipped_workflow_counts_resident_meetings(catalog) -> None:  # type: ignore[no-untyped-def]
    wf = catalog.latest("space-improvement")
    assert [f.name for f in wf.facts_counting("resident_meeting")] == ["resident_meetings"]


def test_amounts_are_parsed_to_whole_won() -> None:
    from engine.errors import InvalidInput
    from programme.records import parse_amount

    assert parse_amount("4,000", "x", "million") == 4_000_000_000
    assert parse_amount("50.5", "x", "million") == 50_500_000
    assert parse_amount("1,234원", "x") == 1234
    for bad in ("-1", "1.5", "abc", "", "1e30"):
        with pytest.raises(InvalidInput):
            parse_amount(bad, "x")
