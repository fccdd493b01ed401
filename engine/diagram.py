"""Diagram text (Mermaid or Graphviz DOT) of a workflow, optionally marking a project's state.

A short-lived ``GraphMachine`` is built per drawing with one throw-away model; the portfolio is never
attached to it. Guards are written into the edge labels (``agree [resident_meetings >= 1]``) so the
diagram shows the rules a coordinator meets. Only text is produced: no Graphviz binary is needed.
"""

from __future__ import annotations

from typing import Any

from engine.definition import PREVIOUS, Workflow

FORMATS = ("mermaid", "dot")


def render(workflow: Workflow, fmt: str = "mermaid", current: str | None = None, lang: str = "ko") -> str:
    from transitions.extensions.diagrams import GraphMachine

    class _State(GraphMachine.state_cls):  # type: ignore[name-defined, misc]
        def __init__(self, *args: Any, label: str | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.label = label

    class _Transition(GraphMachine.transition_cls):  # type: ignore[name-defined, misc]
        def __init__(self, *args: Any, label: str | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.label = label

    class _Diagram(GraphMachine):  # type: ignore[misc]
        state_cls = _State
        transition_cls = _Transition

    if fmt not in FORMATS:
        raise ValueError(fmt)
    states = [{"name": s.id, "label": f"{s.label.get(lang)} ({s.id})"} for s in workflow.states]
    transitions = []
    for t in workflow.transitions:
        label = t.trigger + (f" [{', '.join(g.describe() for g in t.guards)}]" if t.guards else "")
        if t.dest == PREVIOUS:
            for src in t.sources:
                for prev in sorted(workflow.possible_previous(src)):
                    transitions.append({"trigger": t.trigger, "source": src, "dest": prev, "label": label})
        else:
            transitions.append({"trigger": t.trigger, "source": list(t.sources), "dest": t.dest, "label": label})
    machine = _Diagram(
        model=None,
        states=states,
        transitions=transitions,
        initial=workflow.initial.id,
        auto_transitions=False,
        graph_engine="mermaid" if fmt == "mermaid" else "graphviz",
        title=f"{workflow.title.get(lang)} ({workflow.ref})",
        show_state_attributes=False,
    )

    class _Model:
        pass

    model = _Model()
    machine.add_model(model, initial=current or workflow.initial.id)
    if current is None:
        # Without a project there is no current state: drop the highlight of the initial one.
        model.get_graph()  # type: ignore[attr-defined]
        machine.model_graphs[id(model)].reset_styling()
    graph = model.get_graph()  # type: ignore[attr-defined]
    if fmt == "mermaid":
        # Mermaid's keyword is lower-case ``class``; transitions 0.9.3 writes ``Class``.
        text = str(graph.draw(None))
        return "\n".join(
            "  class " + line[len("  Class "):] if line.startswith("  Class ") else line
            for line in text.splitlines()
        )
    return str(graph.source)
