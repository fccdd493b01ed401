"""The workflow machine: what fires, what is refused and why, counts, notes, hold/resume, one machine
per workflow version, and no clock reads in the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import engine
from engine.catalog import Catalog
from engine.definition import Guard
from engine.errors import TransitionRefused, UnknownTrigger
from engine.machine import WorkflowMachine
from engine.service import ProjectSpec, Service
from support import without_participation, MemoryStore
from workflows import SHIPPED_DIR

FACTS = {"resident_meetings": 0, "design_revisions": 0, "failed_tenders": 0}


@pytest.fixture
def machine(catalog: Catalog, workflow) -> WorkflowMachine:
    return catalog.machine(workflow)


def test_fire_moves_along_the_course(machine: WorkflowMachine) -> None:
    facts = {**FACTS, "resident_meetings": 1}
    path = [
        ("survey", "agree", "agreement"),
        ("agreement", "present_design", "design_review"),
        ("design_review", "approve_design", "detailed_design"),
        ("detailed_design", "announce_tender", "tender"),
        ("tender", "award", "construction"),
        ("construction", "complete", "completed"),
    ]
    for state, trigger, dest in path:
        step = machine.fire("k", state, trigger, facts)
        assert (step.trigger, step.from_state, step.to_state) == (trigger, state, dest)
        assert step.facts == facts and step.changed_facts == {}


def test_guard_refuses_and_says_why(machine: WorkflowMachine) -> None:
    facts = dict(FACTS)
    with pytest.raises(TransitionRefused) as info:
        machine.fire("2016-성동구-마장동", "survey", "agree", facts)
    exc = info.value
    assert exc.exit_code == 5
    assert exc.reason == "resident_meetings is 0, needs >= 1"
    assert exc.allowed == ["agree", "hold", "cancel"]
    assert str(exc) == (
        "2016-성동구-마장동: cannot agree from survey: resident_meetings is 0, needs >= 1; "
        "allowed from survey: agree, hold, cancel"
    )
    assert facts == FACTS  # nothing touched


def test_guard_on_a_fact_never_recorded(machine: WorkflowMachine) -> None:
    with pytest.raises(TransitionRefused, match="resident_meetings not recorded, needs >= 1"):
        machine.fire("k", "survey", "agree", {})


def test_trigger_not_allowed_from_this_state(machine: WorkflowMachine) -> None:
    with pytest.raises(TransitionRefused) as info:
        machine.fire("k", "survey", "award", FACTS)
    assert info.value.reason == "not allowed from this state"
    assert info.value.allowed == ["agree", "hold", "cancel"]


def test_unknown_trigger(machine: WorkflowMachine) -> None:
    with pytest.raises(UnknownTrigger) as info:
        machine.fire("k", "tender", "bribe", FACTS)
    assert info.value.exit_code == 4
    assert info.value.allowed == ["tender_failed", "award", "hold", "cancel"]
    assert "no trigger 'bribe'" in str(info.value)


@pytest.mark.parametrize("final", ["completed", "cancelled"])
def test_nothing_leaves_a_final_state(machine: WorkflowMachine, final: str) -> None:
    assert machine.allowed(final) == []
    for trigger in machine.workflow.triggers:
        with pytest.raises(TransitionRefused) as info:
            machine.fire("k", final, trigger, FACTS, previous_state="survey", note="x")
        assert info.value.allowed == []


def test_failed_tenders_are_counted(machine: WorkflowMachine) -> None:
    facts = dict(FACTS)
    for n in (1, 2, 3):
        step = machine.fire("k", "tender", "tender_failed", facts)
        assert step.to_state == "tender"
        assert step.changed_facts == {"failed_tenders": n}
        facts = step.facts
    assert facts == {**FACTS, "failed_tenders": 3}
    assert machine.fire("k", "tender", "tender_failed", {}).facts == {"failed_tenders": 1}


def test_design_revision_loop(machine: WorkflowMachine) -> None:
    facts = dict(FACTS)
    state = "design_review"
    for n in (1, 2):
        step = machine.fire("k", state, "request_revision", facts)
        assert (step.to_state, step.changed_facts) == ("design_revision", {"design_revisions": n})
        step = machine.fire("k", step.to_state, "resubmit_design", step.facts)
        assert step.to_state == "design_review"
        facts, state = step.facts, step.to_state
    assert machine.fire("k", state, "approve_design", facts).to_state == "detailed_design"
    assert facts["design_revisions"] == 2


@pytest.mark.parametrize("trigger", ["hold", "cancel"])
@pytest.mark.parametrize("note", [None, "", "   \n"])
def test_note_required(machine: WorkflowMachine, trigger: str, note: str | None) -> None:
    with pytest.raises(TransitionRefused, match="a note saying why is required"):
        machine.fire("k", "tender", trigger, FACTS, note=note)
    assert machine.fire("k", "tender", trigger, FACTS, note="예산 재배정").from_state == "tender"


@pytest.mark.parametrize(
    "state", ["survey", "agreement", "design_review", "design_revision", "detailed_design", "tender", "construction"]
)
def test_hold_and_resume_returns_to_where_it_was(machine: WorkflowMachine, state: str) -> None:
    held = machine.fire("k", state, "hold", FACTS, note="budget")
    assert held.to_state == "on_hold"
    back = machine.fire("k", "on_hold", "resume", held.facts, previous_state=state)
    assert back.to_state == state


def test_resume_without_a_known_previous_state_is_refused(machine: WorkflowMachine) -> None:
    for previous in (None, "completed", "on_hold", "nonsense"):
        with pytest.raises(TransitionRefused, match="the state to return to .* is not known"):
            machine.fire("k", "on_hold", "resume", FACTS, previous_state=previous)


def test_cancel_from_hold(machine: WorkflowMachine) -> None:
    assert machine.fire("k", "on_hold", "cancel", FACTS, note="청사 신축").to_state == "cancelled"
    with pytest.raises(TransitionRefused):
        machine.fire("k", "on_hold", "hold", FACTS, note="again")


def test_unmet_guards(machine: WorkflowMachine) -> None:
    assert machine.workflow.unmet_guards("survey", FACTS) == {"agree": ["resident_meetings >= 1"], "hold": [], "cancel": []}
    assert machine.workflow.unmet_guards("survey", {**FACTS, "resident_meetings": 4})["agree"] == []


def test_fire_does_not_change_the_facts_it_is_given(machine: WorkflowMachine) -> None:
    facts = dict(FACTS)
    machine.fire("k", "tender", "tender_failed", facts)
    assert facts == FACTS


@pytest.mark.parametrize(
    ("guard", "facts", "holds"),
    [
        (Guard("n", ">=", 1), {"n": 1}, True),
        (Guard("n", ">=", 1), {"n": 0}, False),
        (Guard("n", ">=", 1), {}, False),
        (Guard("n", ">=", 1), {"n": "3"}, False),  # wrong type never holds, never raises
        (Guard("b", "==", True), {"b": True}, True),
        (Guard("b", "!=", True), {"b": False}, True),
        (Guard("s", "==", "yes"), {"s": "yes"}, True),
        (Guard("d", "<", "2016-03-31"), {"d": "2016-03-01"}, True),
    ],
)
def test_guard_holds(guard: Guard, facts: dict, holds: bool) -> None:
    assert guard.holds(facts) is holds


def test_catalog_builds_one_machine_per_workflow_version(workflow) -> None:
    catalog = Catalog.from_dirs([SHIPPED_DIR])
    first = catalog.machine(workflow)
    assert catalog.machine(catalog.latest("space-improvement")) is first
    assert catalog.machine(catalog.get("space-improvement", 1)) is first


def test_no_machine_per_project_or_query(monkeypatch: pytest.MonkeyPatch, now) -> None:
    import engine.machine

    built: list[object] = []
    real = engine.machine.Machine

    def counting(*args, **kwargs):
        built.append(kwargs.get("states"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.machine, "Machine", counting)
    service = Service(MemoryStore(), without_participation(Catalog.from_dirs([SHIPPED_DIR])))
    for i in range(20):
        service.add_project(ProjectSpec(f"k{i}", "성동구", f"{i}동", 2016), actor="a", now=now)
        service.set_fact(f"k{i}", "resident_meetings", "1", actor="a", now=now)
        service.advance(f"k{i}", "agree", actor="a", now=now)
        with pytest.raises(TransitionRefused):
            service.advance(f"k{i}", "complete", actor="a", now=now)
    assert len(built) == 1


def test_engine_never_reads_the_clock() -> None:
    """Engine code takes time as an argument: no now()/today()/utcnow()/time() calls in engine/."""
    clock = {"now", "today", "utcnow"}  # datetime.now(), date.today(), ...
    time_module = {"time", "monotonic", "perf_counter", "time_ns"}  # time.time(), ... (not dt.time(9, 0))
    offenders = []
    for path in sorted(Path(engine.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            if node.func.attr in clock or (node.func.attr in time_module and owner == "time"):
                offenders.append(f"{path.name}:{node.lineno}: {owner}.{node.func.attr}()")
    assert offenders == []


@pytest.mark.parametrize("folder", [SHIPPED_DIR, Path(__file__).resolve().parent.parent / "bench" / "workflows"])
def test_direct_transitions_agree_with_the_machine_for_every_state_and_trigger(folder: Path) -> None:
    """fire() looks up unguarded single-candidate transitions itself; the transitions machine must
    decide the same (step or refusal) for every state, trigger, note and a spread of facts."""
    for wf in Catalog.from_dirs([folder]).all():
        m = WorkflowMachine(wf)
        triggers = sorted({t.trigger for t in wf.transitions}) + ["no_such_trigger"]
        fact_sets = [{}, {f: 0 for f in wf.facts}, {f: 5 for f in wf.facts}]
        for state in [s.id for s in wf.states]:
            for trigger in triggers:
                for facts in fact_sets:
                    for previous in (None, wf.initial.id):
                        for note in (None, "why"):
                            outcomes = []
                            for fire in (m.fire, m.fire_on_machine):
                                try:
                                    outcomes.append(fire("k", state, trigger, facts, previous, note))
                                except (TransitionRefused, UnknownTrigger) as exc:
                                    outcomes.append((type(exc), str(exc)))
                            assert outcomes[0] == outcomes[1], (wf.id, state, trigger, facts, previous, note)
