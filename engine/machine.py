"""The state machine of a workflow, built once per workflow version and shared by every project.

Projects are never attached to a ``transitions`` machine (``add_model`` costs milliseconds and KBs per
project and grows with the portfolio: pytransitions issue 434). Instead a trigger is applied to a
short-lived :class:`Subject` holding one project's state and facts; the machine decides whether the
trigger is valid and which transition fires, and this module turns that into a :class:`Step`.
Callbacks only record which transition fired on the subject: no I/O happens inside the machine, so
a failure can never leave a half-applied change behind (upstream issues 202, 485, 616).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine, MachineError

from engine.definition import PREVIOUS, Transition, Workflow
from engine.errors import TransitionRefused, UnknownTrigger
from engine.project import Step


@dataclass
class Subject:
    """One project as the machine sees it while a trigger is applied."""

    state: str
    facts: Mapping[str, Any]
    previous_state: str | None = None
    fired: Transition | None = field(default=None, repr=False)


class WorkflowMachine:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self._machine = Machine(
            model=None,
            states=[s.id for s in workflow.states],
            initial=workflow.initial.id,
            transitions=list(self._machine_transitions()),
            auto_transitions=False,
            send_event=True,
        )
        # (state, trigger) -> the one transition that fires, where the machine has nothing to decide:
        # a single candidate with no guard and a fixed destination (most of a course). Firing those
        # is a lookup; the machine decides everything else. tests/test_machine.py checks both agree.
        self._direct: dict[tuple[str, str], Transition] = {}
        for t in workflow.transitions:
            if t.guards or t.dest == PREVIOUS:
                continue
            for src in t.sources:
                candidates = [c for c in workflow.transition(t.trigger) if src in c.sources]
                if candidates == [t]:
                    self._direct[(src, t.trigger)] = t

    def _machine_transitions(self) -> Any:
        wf = self.workflow
        for t in wf.transitions:
            conditions = [_guard_condition(g) for g in t.guards]
            if t.dest == PREVIOUS:
                # One concrete transition per state a project can have come from; the first whose
                # "came from" check holds fires.
                for src in t.sources:
                    for prev in sorted(wf.possible_previous(src)):
                        yield {
                            "trigger": t.trigger,
                            "source": src,
                            "dest": prev,
                            "conditions": [*conditions, _came_from(prev)],
                            "after": _record(t),
                        }
            else:
                yield {
                    "trigger": t.trigger,
                    "source": list(t.sources),
                    "dest": t.dest,
                    "conditions": conditions,
                    "after": _record(t),
                }

    def allowed(self, state: str) -> list[str]:
        """Triggers that leave ``state`` in this workflow (guards not considered), in file order."""
        return self.workflow.allowed_triggers(state)

    def fire(
        self,
        key: str,
        state: str,
        trigger: str,
        facts: Mapping[str, Any],
        previous_state: str | None = None,
        note: str | None = None,
    ) -> Step:
        """Apply ``trigger`` to a project in ``state``; raise if it may not fire, never half-apply."""
        direct = self._direct.get((state, trigger))
        if direct is not None and not (direct.note_required and not (note and note.strip())):
            return self._step(direct, trigger, state, direct.dest, facts)
        return self.fire_on_machine(key, state, trigger, facts, previous_state, note)

    def fire_on_machine(
        self,
        key: str,
        state: str,
        trigger: str,
        facts: Mapping[str, Any],
        previous_state: str | None = None,
        note: str | None = None,
    ) -> Step:
        """:meth:`fire` decided by the ``transitions`` machine for every trigger."""
        allowed = self.allowed(state)
        if trigger not in self._machine.events:
            raise UnknownTrigger(key, trigger, state, allowed)
        candidates = [t for t in self.workflow.transition(trigger) if state in t.sources]
        if not candidates:
            raise TransitionRefused(key, trigger, state, "not allowed from this state", allowed)
        if any(t.note_required for t in candidates) and not (note and note.strip()):
            raise TransitionRefused(key, trigger, state, "a note saying why is required (--note)", allowed)
        subject = Subject(state=state, facts=facts, previous_state=previous_state)
        try:
            fired = self._machine.events[trigger].trigger(subject)
        except MachineError:
            raise TransitionRefused(key, trigger, state, "not allowed from this state", allowed) from None
        if not fired or subject.fired is None:
            raise TransitionRefused(key, trigger, state, self._why_not(candidates, facts, previous_state), allowed)
        return self._step(subject.fired, trigger, state, subject.state, facts)

    @staticmethod
    def _step(transition: Transition, trigger: str, state: str, dest: str, facts: Mapping[str, Any]) -> Step:
        changed = {name: int(facts.get(name) or 0) + 1 for name in transition.counts}
        return Step(
            trigger=trigger,
            from_state=state,
            to_state=dest,
            facts={**facts, **changed},
            changed_facts=changed,
        )

    def _why_not(
        self, candidates: list[Transition], facts: Mapping[str, Any], previous_state: str | None
    ) -> str:
        reasons: list[str] = []
        for t in candidates:
            for g in t.guards:
                if not g.holds(facts):
                    current = facts.get(g.fact)
                    shown = "not recorded" if current is None else f"is {_show(current)}"
                    reasons.append(f"{g.fact} {shown}, needs {g.op} {_show(g.value)}")
            if t.dest == PREVIOUS and previous_state not in self.workflow.possible_previous(t.sources[0]):
                reasons.append(f"the state to return to ({previous_state or 'unknown'}) is not known")
        return "; ".join(dict.fromkeys(reasons)) or "its conditions do not hold"



def _guard_condition(guard: Any) -> Any:
    return lambda event: guard.holds(event.model.facts)


def _came_from(prev: str) -> Any:
    return lambda event: event.model.previous_state == prev


def _record(transition: Transition) -> Any:
    def after(event: Any) -> None:
        event.model.fired = transition

    return after


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
