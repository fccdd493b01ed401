"""Loading workflow files: every shipped and sample workflow loads, YAML is read safely and literally,
and the catalog combines shipped and user folders."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from engine.catalog import Catalog
from engine.definition import PREVIOUS, Guard
from engine.errors import InvalidInput, WorkflowDefinitionError, WorkflowNotFound
from engine.loader import WORKFLOW_ID_RE, load_file, load_text
from support import DATA
from workflows import SHIPPED_DIR

GOOD = DATA / "workflows" / "good"
SHIPPED = sorted(p for p in SHIPPED_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


def test_there_is_a_shipped_workflow() -> None:
    assert [p.name for p in SHIPPED] == ["space-improvement.yaml"]


@pytest.mark.parametrize("path", SHIPPED + sorted(GOOD.iterdir()), ids=lambda p: p.name)
def test_workflow_file_loads_and_is_coherent(path: Path) -> None:
    wf = load_file(path)
    assert WORKFLOW_ID_RE.match(wf.id) and wf.version >= 1
    assert wf.source == str(path)
    ids = [s.id for s in wf.states]
    assert len(ids) == len(set(ids))
    assert sum(s.initial for s in wf.states) == 1
    assert wf.state(wf.target.state).final
    for t in wf.transitions:
        assert t.dest == PREVIOUS or t.dest in ids
        assert all(src in ids and not wf.state(src).final for src in t.sources)
        for g in t.guards:
            assert g.fact in wf.facts and wf.facts[g.fact].accepts(g.value)
    for m in wf.milestones:
        assert m.state in ids
    json.dumps(wf.as_dict(), ensure_ascii=False)  # other tools can read it


def test_space_improvement_follows_the_programme(workflow) -> None:
    wf = workflow
    assert wf.ref == "space-improvement@1"
    assert wf.initial.id == "survey"
    course = ["survey", "agreement", "design_review", "detailed_design", "tender", "construction", "completed"]
    labels = ["현장조사", "사업협약", "설계(안) 보고회", "실시설계", "발주", "시공", "준공"]
    assert [wf.state(s).label.ko for s in course] == labels
    main = {t.trigger: (t.sources, t.dest) for t in wf.transitions}
    for here, there in zip(course, course[1:]):
        assert any(here in src and dest == there for src, dest in main.values()), (here, there)
    assert main["request_revision"] == (("design_review",), "design_revision")
    assert main["resubmit_design"] == (("design_revision",), "design_review")
    assert main["tender_failed"] == (("tender",), "tender")
    assert main["resume"] == (("on_hold",), PREVIOUS)
    by_trigger = {t.trigger: t for t in wf.transitions}
    assert by_trigger["tender_failed"].counts == ("failed_tenders",)
    assert by_trigger["request_revision"].counts == ("design_revisions",)
    assert by_trigger["hold"].note_required and by_trigger["cancel"].note_required
    assert by_trigger["agree"].guards == (Guard("resident_meetings", ">=", 1),)
    non_final = {s.id for s in wf.states if not s.final}
    assert set(by_trigger["hold"].sources) == non_final - {"on_hold"}
    assert set(by_trigger["cancel"].sources) == non_final
    assert wf.default_target(2016) == dt.date(2016, 7, 1)


def test_space_improvement_milestones_fall_in_the_quarterly_plan(workflow) -> None:
    target = workflow.default_target(2016)
    due = {m.id: m.due.resolve(target, 2016) for m in workflow.milestones}
    assert due["tender_announced"] == dt.date(2016, 3, 31)  # end of Q1: design done
    assert due["completed"] == dt.date(2016, 7, 1)  # 준공 7.1
    assert all(d < dt.date(2016, 4, 1) for k, d in due.items() if k not in ("works_started", "completed"))
    assert list(due.values()) == sorted(due.values())
    assert all(m.basis for m in workflow.milestones)


def test_on_off_yes_no_stay_strings() -> None:
    wf = load_file(GOOD / "on-off.yaml")
    assert [s.id for s in wf.states] == ["on", "off"]
    assert wf.triggers == ["yes", "no"]
    assert wf.facts["confirmed"].default == "no"
    assert wf.transitions[0].guards == (Guard("confirmed", "==", "yes"),)
    assert wf.target.state == "off"


def test_true_and_false_are_still_booleans() -> None:
    text = (GOOD / "mini.yaml").read_text().replace("    initial: true", "    initial: True")
    assert load_text(text).initial.id == "start"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (GOOD / "mini.yaml").read_bytes())
    assert load_file(path).title.ko == "미니"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkflowDefinitionError, match="cannot read file"):
        load_file(tmp_path / "nope.yaml")


def test_guard_mapping_form() -> None:
    text = (GOOD / "mini.yaml").read_text().replace(
        "      - meetings >= 1\n", "      - {fact: meetings, op: '>', value: 2}\n"
    )
    assert load_text(text).transitions[0].guards == (Guard("meetings", ">", 2),)


def test_catalog_from_dirs_adds_user_workflows_and_higher_versions_win(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    text = (GOOD / "mini.yaml").read_text()
    (mine / "mini.yaml").write_text(text)
    (mine / "mini-v2.yml").write_text(text.replace("version: 1", "version: 2"))
    (mine / "notes.txt").write_text("not a workflow")
    catalog = Catalog.from_dirs([SHIPPED_DIR, mine])
    assert catalog.ids() == ["mini", "space-improvement"]
    assert catalog.versions("mini") == [1, 2]
    assert catalog.latest("mini").version == 2
    assert catalog.get("mini", 1).version == 1
    assert catalog.default_id() == "space-improvement"
    with pytest.raises(WorkflowNotFound) as info:
        catalog.get("mini", 7)
    assert info.value.exit_code == 4


def test_catalog_refuses_the_same_version_twice(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text((GOOD / "mini.yaml").read_text())
    with pytest.raises(WorkflowDefinitionError, match="mini version 1 is also defined in"):
        Catalog.from_dirs([tmp_path])


def test_catalog_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a folder of workflow files"):
        Catalog.from_dirs([tmp_path / "missing"])


def test_catalog_collects_the_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("id: [")
    (tmp_path / "b.yaml").write_text("")
    with pytest.raises(InvalidInput) as info:
        Catalog.from_dirs([tmp_path])
    assert [Path(p.file).name for p in info.value.problems] == ["a.yaml", "b.yaml"]
