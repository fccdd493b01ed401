"""Every broken workflow in ``data/workflows/bad`` is refused with the right message at the right line.

Each file there is ``data/workflows/good/mini.yaml`` with one defect (its first line says which).
EXPECTED names, per file, the problems the loader must report: (line, part of the message). A file
in the folder without an entry here, or an entry without a file, fails the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidInput, WorkflowDefinitionError, WorkflowDefinitionErrors
from engine.loader import load_file, load_text
from support import DATA, assert_one_error

BAD = DATA / "workflows" / "bad"
GOOD = DATA / "workflows" / "good"

EXPECTED: dict[str, list[tuple[int, str]]] = {
    "unknown-source-state.yaml": [(25, "transition finish: unknown state 'nowhere' in source")],
    "unknown-dest-state.yaml": [(26, "transition finish: unknown state 'nowhere' in dest")],
    "duplicate-state-id.yaml": [(18, "duplicate state id 'middle' (first at line 15)")],
    "duplicate-trigger-source.yaml": [(27, "duplicate trigger 'begin' from state 'start' (first at line 19)")],
    "duplicate-milestone-id.yaml": [(31, "duplicate milestone id 'begun' (first at line 28)")],
    "no-initial-state.yaml": [(13, "no initial state: mark one state with 'initial: true'")],
    "two-initial-states.yaml": [(15, "more than one initial state (start, middle)")],
    "initial-and-final.yaml": [(13, "state start cannot be both initial and final")],
    "unreachable-state.yaml": [(18, "state 'orphan' cannot be reached from the initial state 'start'")],
    "unreachable-state-with-hold.yaml": [(13, "state 'orphan' cannot be reached from the initial state 'start'")],
    "dead-end-state.yaml": [(18, "state 'stuck' is not final but has no way out")],
    "trap-cycle.yaml": [
        (18, "state 'loop_a' has no path to a final state"),
        (19, "state 'loop_b' has no path to a final state"),
    ],
    "trap-cycle-with-hold.yaml": [
        (13, "state 'loop_a' has no path to a final state"),
        (14, "state 'loop_b' has no path to a final state"),
    ],
    "transition-from-final.yaml": [(27, "transition reopen: leaves final state 'done'")],
    "target-not-final.yaml": [(5, "target state 'middle' must be a final state")],
    "milestones-out-of-order.yaml": [
        (31, "milestones out of order: finished (done, due -40d) comes later in the course than begun")
    ],
    "milestones-out-of-order-with-hold.yaml": [
        (40, "milestones out of order: started (works, due -120d) comes later in the course than announced")
    ],
    "unknown-top-key.yaml": [(4, "unknown key 'owner' in the workflow file")],
    "unknown-state-key.yaml": [(16, "unknown key 'colour' in a state")],
    "unknown-transition-key.yaml": [(27, "unknown key 'when' in a transition")],
    "bad-offset.yaml": [(30, "milestone begun due: bad offset '-30x'")],
    "bad-month-day.yaml": [(30, "milestone begun due: '02-30' is not a real month-day")],
    "bad-target-due.yaml": [(7, "target due must be a month-day such as 07-01")],
    "guard-unknown-fact.yaml": [(23, "transition begin: guard reads unknown fact 'visits'")],
    "guard-type-mismatch.yaml": [(23, "transition begin: guard compares integer fact meetings with 'many'")],
    "guard-unreadable.yaml": [(23, "transition begin: cannot read guard")],
    "counts-non-integer.yaml": [(27, "counts names 'meetings_text', which is not a declared integer fact")],
    "yaml-syntax-error.yaml": [
        (5, "invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping started on line 4)")
    ],
    "duplicate-yaml-key.yaml": [(16, "key 'id' appears twice")],
    "python-tag.yaml": [(4, "invalid YAML: could not determine a constructor for the tag")],
    "empty.yaml": [(1, "the file is empty")],
    "comments-only.yaml": [(1, "the file is empty")],
    "not-utf8.yaml": [(4, "not UTF-8 text")],
    "fact-bounds.yaml": [
        (7, "fact meetings: default -1 is outside min/max"),
        (11, "fact approved: min applies to integer and number facts only"),
        (14, "fact budget: min 10 is above max 5"),
    ],
}


def problems_of(path: Path) -> list[WorkflowDefinitionError]:
    with pytest.raises(InvalidInput) as info:
        load_file(path)
    exc = info.value
    assert isinstance(exc, (WorkflowDefinitionError, WorkflowDefinitionErrors))
    return list(exc.problems) if isinstance(exc, WorkflowDefinitionErrors) else [exc]


def test_every_bad_file_has_an_expectation_and_vice_versa() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(EXPECTED)


def test_the_base_of_the_bad_files_is_valid() -> None:
    wf = load_file(GOOD / "mini.yaml")
    assert wf.ref == "mini@1"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_workflow_is_refused_with_file_line_and_message(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # python-tag.yaml would create a file here if it were run
    path = BAD / name
    problems = problems_of(path)
    got = [(p.line, p.problem) for p in problems]
    assert len(problems) == len(EXPECTED[name]), got
    for problem, (line, fragment) in zip(problems, EXPECTED[name]):
        assert problem.line == line, got
        assert fragment in problem.problem, got
        assert problem.file == str(path)
        assert str(problem).startswith(f"{path}:{line}: ")
        assert isinstance(problem, InvalidInput) and problem.exit_code == 3
    assert list(tmp_path.iterdir()) == []


def test_python_tag_is_not_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "dongflow-pwned"
    text = (BAD / "python-tag.yaml").read_text()
    for tag in ("!!python/object/apply:os.system", "!!python/name:os.system", "!!python/object:os.PathLike"):
        with pytest.raises(WorkflowDefinitionError, match="could not determine a constructor"):
            load_text(text.replace("!!python/object/apply:os.system", tag), "t.yaml")
    assert not marker.exists()


def test_all_problems_of_a_file_are_reported_together() -> None:
    text = (GOOD / "mini.yaml").read_text()
    text = text.replace("version: 1\n", "version: 1\nowner: me\n")  # line 4
    text = text.replace("    dest: done\n", "    dest: nowhere\n")  # line 27 (shifted by one)
    with pytest.raises(WorkflowDefinitionErrors) as info:
        load_text(text, "two.yaml")
    assert [(p.line, p.problem.split(" (")[0]) for p in info.value.problems] == [
        (4, "unknown key 'owner' in the workflow file"),
        (27, "transition finish: unknown state 'nowhere' in dest"),
    ]
    assert "2 problems" in str(info.value)


def test_guard_on_ordering_of_a_boolean_fact_is_refused() -> None:
    text = (GOOD / "mini.yaml").read_text()
    text = text.replace("    type: integer\n    default: 0\n", "    type: boolean\n    default: false\n")
    text = text.replace("meetings >= 1", "meetings >= true")
    with pytest.raises(WorkflowDefinitionError) as info:
        load_text(text, "b.yaml")
    assert info.value.line == 23
    assert ">= does not apply to boolean fact meetings" in info.value.problem


def test_bad_offset_forms(tmp_path: Path) -> None:
    base = (GOOD / "mini.yaml").read_text()
    for bad in ("-30 days", "'-'", "1.5d", "-99999d", "13-01", "00-10"):
        with pytest.raises(WorkflowDefinitionError) as info:
            load_text(base.replace("due: -30d", f"due: {bad}"), "o.yaml")
        assert info.value.line == 30, bad
    for good in ("-30d", "-4w", "+0d", "0d", "05-31", "'-30d'", "-30"):  # a bare number is days
        load_text(base.replace("due: -30d", f"due: {good}"), "o.yaml")


def test_cli_validate_reports_each_bad_file_on_its_own_indented_line(runner, tmp_path, monkeypatch) -> None:
    from cli import cli

    monkeypatch.chdir(tmp_path)
    files = [str(BAD / n) for n in ("unknown-dest-state.yaml", "duplicate-state-id.yaml")]
    result = runner.invoke(cli, ["workflow", "validate", str(GOOD / "mini.yaml"), *files])
    assert_one_error(result, 3, "2 problems in workflow files", problem_lines=2)
    assert result.stdout.startswith(f"ok: {GOOD / 'mini.yaml'} (mini@1")
    problems = result.stderr.splitlines()[1:]
    assert problems[0].startswith(f"  {files[0]}:26: transition finish: unknown state 'nowhere' in dest")
    assert problems[1].startswith(f"  {files[1]}:18: duplicate state id 'middle'")


def test_cli_validate_one_bad_file_is_one_error_line(runner) -> None:
    from cli import cli

    path = BAD / "not-utf8.yaml"
    result = runner.invoke(cli, ["workflow", "validate", str(path)])
    assert_one_error(result, 3, f"{path}:4: not UTF-8 text")


def test_cli_validate_all_good(runner) -> None:
    from cli import cli

    files = sorted(str(p) for p in GOOD.iterdir())
    result = runner.invoke(cli, ["workflow", "validate", *files])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok: ") == len(files)


def test_shipped_workflow_with_a_milestone_moved_out_of_order_is_refused() -> None:
    from workflows import SHIPPED_DIR

    text = (SHIPPED_DIR / "space-improvement.yaml").read_text()
    moved = text.replace("due: -61d ", "due: -120d")  # works started before the tender is announced
    assert moved != text
    with pytest.raises(WorkflowDefinitionError, match="milestones out of order: works_started .* tender_announced"):
        load_text(moved, "moved.yaml")
