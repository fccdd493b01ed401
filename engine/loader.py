"""Workflow file -> validated :class:`~engine.definition.Workflow`: the one entry for reading them.

The YAML itself is parsed by :mod:`engine.yaml_reader` (safe, with the line of every key); this
module turns that plain data into a workflow and checks it, collecting every problem in a file and
reporting them together, one line each with its ``file:line``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.definition import (
    FACT_TYPES,
    OPERATORS,
    ORDERING_OPS,
    PREVIOUS,
    Calendar,
    DueRule,
    FactSpec,
    Guard,
    Label,
    Milestone,
    State,
    Target,
    Transition,
    Warnings,
    Workflow,
    successor_map,
)
from engine.errors import WorkflowDefinitionError, WorkflowDefinitionErrors
from engine.identity import build_rule as build_identity_rule
from engine.loader_planning import build_planning
from engine.loader_util import _BAD, _depths, _guard_literal, _kind, _reach
from engine.values import digits_problem
from engine.yaml_reader import LineList, LineMap, parse_yaml

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
WORKFLOW_ID_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
OFFSET_RE = re.compile(r"^([+-]?)(\d{1,4})([dw])$", re.ASCII)  # ASCII: \d would match '３' and int() read it
MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$", re.ASCII)
GUARD_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")

def load_file(path: str | Path) -> Workflow:
    """Read and validate one workflow file."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkflowDefinitionError(f"cannot read file: {exc.strerror or exc}", file=source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WorkflowDefinitionError("not UTF-8 text", file=source, line=line) from None
    return load_text(text, source)


def load_text(text: str, source: str = "<text>") -> Workflow:
    data = parse_yaml(text, source)
    return _Builder(source).build(data)


# --------------------------------------------------------------------------------------------
# Building and validating


TOP_KEYS = {
    "id",
    "version",
    "title",
    "description",
    "target",
    "calendar",
    "warnings",
    "facts",
    "states",
    "transitions",
    "milestones",
    "participation_kinds",
    "identity",
    "owners",
    "cutoffs",
    "baseline",
}
STATE_KEYS = {"id", "label", "initial", "final", "expected_days", "owner"}
TRANSITION_KEYS = {"trigger", "source", "dest", "label", "guards", "counts", "note_required"}
MILESTONE_KEYS = {"id", "state", "due", "label", "basis"}
FACT_KEYS = {"type", "default", "label", "counts_participation", "min", "max"}
CALENDAR_KEYS = {"country", "roll", "extra_holidays", "working_days"}
WARNING_KEYS = {"due_soon_days", "escalate_after_days"}
TARGET_KEYS = {"state", "due"}
ROLLS = ("previous", "next", "none")


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[WorkflowDefinitionError] = []
        self.participation_kinds: tuple[str, ...] = ()

    # -- problem collection -------------------------------------------------------------
    def problem(self, message: str, line: int | None, field: str | None = None) -> None:
        self.problems.append(
            WorkflowDefinitionError(message, file=self.source, line=line, field=field)
        )

    def finish(self) -> None:
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise WorkflowDefinitionErrors(
                f"{len(self.problems)} problems in the workflow file", self.problems, file=self.source
            )

    # -- small readers ------------------------------------------------------------------
    @staticmethod
    def line_of(mapping: Any, key: str) -> int | None:
        if isinstance(mapping, LineMap):
            return mapping.key_lines.get(key, mapping.line)
        return None

    @staticmethod
    def own_line(value: Any, fallback: int | None = None) -> int | None:
        line = getattr(value, "line", None)
        return line or fallback

    def check_keys(self, mapping: LineMap, allowed: set[str], where: str) -> None:
        for key in mapping:
            if str(key) not in allowed:
                hint = ", ".join(sorted(allowed))
                self.problem(
                    f"unknown key {key!r} in {where} (expected one of: {hint})",
                    self.line_of(mapping, str(key)),
                )

    def mapping(self, value: Any, where: str, line: int | None) -> LineMap | None:
        if isinstance(value, LineMap):
            return value
        self.problem(f"{where} must be a mapping, not {_kind(value)}", self.own_line(value, line))
        return None

    def sequence(self, value: Any, where: str, line: int | None) -> LineList | None:
        if isinstance(value, LineList):
            return value
        self.problem(f"{where} must be a list, not {_kind(value)}", self.own_line(value, line))
        return None

    def ident(self, value: Any, where: str, line: int | None, pattern: re.Pattern[str] = ID_RE) -> str | None:
        if isinstance(value, str) and pattern.match(value):
            return value
        self.problem(
            f"{where} must be an identifier (lower-case letters, digits, _; starting with a letter), "
            f"not {value!r}",
            line,
        )
        return None

    def integer(self, value: Any, where: str, line: int | None, minimum: int = 0) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        self.problem(f"{where} must be a whole number >= {minimum}, not {value!r}", line)
        return None

    def boolean(self, value: Any, where: str, line: int | None) -> bool:
        if isinstance(value, bool):
            return value
        self.problem(f"{where} must be true or false, not {value!r}", line)
        return False

    def label(self, value: Any, where: str, line: int | None, fallback: str) -> Label:
        if value is None:
            return Label(fallback, fallback)
        if isinstance(value, str) and value.strip():
            return Label(value, value)
        if isinstance(value, LineMap):
            self.check_keys(value, {"ko", "en"}, where)
            ko, en = value.get("ko"), value.get("en")
            for lang, text in (("ko", ko), ("en", en)):
                if text is not None and not (isinstance(text, str) and text.strip()):
                    self.problem(f"{where}.{lang} must be non-empty text", self.line_of(value, lang))
            ko = ko if isinstance(ko, str) and ko.strip() else None
            en = en if isinstance(en, str) and en.strip() else None
            if ko is None and en is None:
                self.problem(f"{where} needs ko or en text", self.own_line(value, line))
                return Label(fallback, fallback)
            return Label(ko or en or fallback, en or ko or fallback)
        self.problem(f"{where} must be text or a mapping with ko and en, not {_kind(value)}", line)
        return Label(fallback, fallback)

    def due(self, value: Any, where: str, line: int | None) -> DueRule | None:
        text = value if isinstance(value, str) else None
        if isinstance(value, int) and not isinstance(value, bool):
            text = f"{value}d"
        if text is not None:
            text = text.strip()
            if (problem := digits_problem(text)) is not None:  # '-９２d': int() would read it
                self.problem(f"{where}: {problem}", line)
                return None
            m = OFFSET_RE.match(text)
            if m:
                n = int(m.group(2)) * (7 if m.group(3) == "w" else 1)
                return DueRule(days=-n if m.group(1) == "-" else n)
            m = MONTH_DAY_RE.match(text)
            if m:
                month, day = int(m.group(1)), int(m.group(2))
                try:
                    dt.date(2016, month, day)  # a leap year: 02-29 is a valid month-day
                except ValueError:
                    self.problem(f"{where}: {text!r} is not a real month-day", line)
                    return None
                return DueRule(month_day=(month, day))
        self.problem(
            f"{where}: bad offset {value!r}; write days relative to the target like -92d or +0d, "
            "weeks like -4w, or a month-day like 03-31",
            line,
        )
        return None

    def date_list(self, value: Any, where: str, line: int | None) -> tuple[dt.date, ...]:
        if value is None:
            return ()
        seq = self.sequence(value, where, line)
        if seq is None:
            return ()
        out: list[dt.date] = []
        for item, item_line in zip(seq, seq.item_lines):
            if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
                out.append(item)
                continue
            try:
                out.append(dt.date.fromisoformat(str(item)))
            except ValueError:
                self.problem(f"{where}: {item!r} is not a date (YYYY-MM-DD)", item_line)
        return tuple(out)

    # -- the whole file -----------------------------------------------------------------
    def build(self, data: Any) -> Workflow:
        if data is None:
            self.problem("the file is empty", 1)
            self.finish()
        top = self.mapping(data, "the workflow file", 1)
        if top is None:
            self.finish()
            raise AssertionError("unreachable")
        self.check_keys(top, TOP_KEYS, "the workflow file")

        for required in ("id", "version", "target", "states", "transitions"):
            if required not in top:
                self.problem(f"missing required key {required!r}", top.line)

        wf_id = self.ident(top.get("id"), "id", self.line_of(top, "id"), WORKFLOW_ID_RE) if "id" in top else None
        version = self.integer(top.get("version"), "version", self.line_of(top, "version"), 1) if "version" in top else None
        title = self.label(top.get("title"), "title", self.line_of(top, "title"), wf_id or "workflow")
        description = top.get("description") or ""
        if not isinstance(description, str):
            self.problem("description must be text", self.line_of(top, "description"))
            description = ""

        self.participation_kinds = self.build_kinds(
            top.get("participation_kinds"), self.line_of(top, "participation_kinds")
        )
        facts = self.build_facts(top.get("facts"), self.line_of(top, "facts"))
        states = self.build_states(top.get("states"), self.line_of(top, "states")) if "states" in top else []
        states, owners, cutoffs, baseline = build_planning(self, top, states)  # owner(s):, cutoffs:, baseline:
        state_ids = {s.id for s in states}
        transitions = (
            self.build_transitions(top.get("transitions"), self.line_of(top, "transitions"), states, facts)
            if "transitions" in top
            else []
        )
        target = self.build_target(top.get("target"), self.line_of(top, "target"), state_ids) if "target" in top else None
        milestones = self.build_milestones(top.get("milestones"), self.line_of(top, "milestones"), state_ids)
        calendar = self.build_calendar(top.get("calendar"), self.line_of(top, "calendar"))
        warnings = self.build_warnings(top.get("warnings"), self.line_of(top, "warnings"))
        identity = build_identity_rule(self, top.get("identity"), self.line_of(top, "identity"))

        if states and not self.problems:
            self.check_graph(states, transitions, top)
        if target is not None and not self.problems:
            final = next((s for s in states if s.id == target.state), None)
            if final is not None and not final.final:
                self.problem(
                    f"target state {target.state!r} must be a final state", self.line_of(top, "target")
                )
        if target is not None and milestones and not self.problems:
            self.check_milestone_order(states, transitions, milestones, target)
        self.finish()
        assert wf_id is not None and version is not None and target is not None
        return Workflow(
            id=wf_id,
            version=version,
            title=title,
            target=target,
            states=tuple(states),
            transitions=tuple(transitions),
            milestones=tuple(milestones),
            facts=facts,
            calendar=calendar,
            warnings=warnings,
            description=description.strip(),
            source=self.source,
            participation_kinds=self.participation_kinds,
            identity=identity,
            owners=owners,
            cutoffs=cutoffs,
            baseline_state=baseline,
        )

    def build_kinds(self, value: Any, line: int | None) -> tuple[str, ...]:
        """``participation_kinds: [..]``: the kinds of recorded participation the workflow counts."""
        if value is None:
            return ()
        seq = self.sequence(value, "participation_kinds", line)
        if seq is None:
            return ()
        kinds = [self.ident(item, "participation_kinds item", self.own_line(item, line)) for item in seq]
        return tuple(dict.fromkeys(k for k in kinds if k is not None))

    def build_facts(self, value: Any, line: int | None) -> dict[str, FactSpec]:
        if value is None:
            return {}
        facts_map = self.mapping(value, "facts", line)
        if facts_map is None:
            return {}
        out: dict[str, FactSpec] = {}
        for name, spec in facts_map.items():
            name_line = self.line_of(facts_map, str(name))
            fname = self.ident(name, "a fact name", name_line)
            if fname is None:
                continue
            spec_map = self.mapping(spec, f"fact {fname}", name_line)
            if spec_map is None:
                continue
            self.check_keys(spec_map, FACT_KEYS, f"fact {fname}")
            ftype = spec_map.get("type")
            if ftype not in FACT_TYPES:
                self.problem(
                    f"fact {fname}: type must be one of {', '.join(FACT_TYPES)}, not {ftype!r}",
                    self.line_of(spec_map, "type"),
                )
                continue
            fact = FactSpec(fname, ftype, None, self.label(spec_map.get("label"), f"fact {fname} label", name_line, fname))
            default = spec_map.get("default")
            if isinstance(default, dt.date):
                default = default.isoformat()
            if default is not None and not fact.accepts(default):
                self.problem(
                    f"fact {fname}: default {default!r} is not a {ftype}", self.line_of(spec_map, "default")
                )
                default = None
            counted = self.counted_participation(spec_map, fname, ftype)
            low, high = self.fact_bounds(spec_map, fname, ftype)
            if default is not None and ftype in ("integer", "number") and (
                (low is not None and default < low) or (high is not None and default > high)
            ):
                self.problem(f"fact {fname}: default {default!r} is outside min/max", self.line_of(spec_map, "default"))
            out[fname] = FactSpec(fname, ftype, default, fact.label, counted, low, high)
        return out

    def fact_bounds(self, spec_map: LineMap, fname: str, ftype: str) -> tuple[float | None, float | None]:
        """``min:`` / ``max:`` of a number or integer fact (a count cannot go below 0)."""
        bounds: list[float | None] = []
        for key in ("min", "max"):
            value = spec_map.get(key)
            if value is None:
                bounds.append(None)
                continue
            if ftype not in ("integer", "number"):
                self.problem(f"fact {fname}: {key} applies to integer and number facts only", self.line_of(spec_map, key))
                bounds.append(None)
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                self.problem(f"fact {fname}: {key} must be a number, not {value!r}", self.line_of(spec_map, key))
                bounds.append(None)
            else:
                bounds.append(value)
        low, high = bounds
        if low is not None and high is not None and low > high:
            self.problem(f"fact {fname}: min {low} is above max {high}", self.line_of(spec_map, "min"))
        return low, high

    def counted_participation(self, spec_map: LineMap, fname: str, ftype: str) -> str | None:
        """``counts_participation: TYPE``: the fact counts recorded participation events of TYPE."""
        if "counts_participation" not in spec_map:
            return None
        value = spec_map.get("counts_participation")
        line = self.line_of(spec_map, "counts_participation")
        if ftype != "integer":
            self.problem(f"fact {fname}: counts_participation needs an integer fact, not {ftype}", line)
            return None
        kinds = self.participation_kinds
        if not isinstance(value, str) or value not in kinds:
            declared = ", ".join(kinds) if kinds else "none (declare them in participation_kinds)"
            self.problem(f"fact {fname}: counts_participation must be one of {declared}, not {value!r}", line)
            return None
        return value

    def build_states(self, value: Any, line: int | None) -> list[State]:
        seq = self.sequence(value, "states", line)
        if seq is None:
            return []
        states: list[State] = []
        seen: dict[str, int | None] = {}
        for item, item_line in zip(seq, seq.item_lines):
            m = self.mapping(item, "a state", item_line)
            if m is None:
                continue
            self.check_keys(m, STATE_KEYS, "a state")
            if "id" not in m:
                self.problem("a state needs an id", m.line)
                continue
            sid = self.ident(m.get("id"), "state id", self.line_of(m, "id"))
            if sid is None:
                continue
            if sid in seen:
                self.problem(f"duplicate state id {sid!r} (first at line {seen[sid]})", self.line_of(m, "id"))
                continue
            seen[sid] = self.line_of(m, "id")
            expected = m.get("expected_days")
            if expected is not None:
                expected = self.integer(expected, f"state {sid}: expected_days", self.line_of(m, "expected_days"))
            states.append(
                State(
                    id=sid,
                    label=self.label(m.get("label"), f"state {sid} label", self.line_of(m, "label"), sid),
                    initial=self.boolean(m.get("initial", False), f"state {sid}: initial", self.line_of(m, "initial")),
                    final=self.boolean(m.get("final", False), f"state {sid}: final", self.line_of(m, "final")),
                    expected_days=expected,
                    line=m.line,
                )
            )
        if not states:
            self.problem("a workflow needs at least one state", seq.line or line)
            return states
        initials = [s for s in states if s.initial]
        if not initials:
            self.problem("no initial state: mark one state with 'initial: true'", seq.line or line)
        elif len(initials) > 1:
            names = ", ".join(s.id for s in initials)
            self.problem(f"more than one initial state ({names}); exactly one is allowed", initials[1].line)
        if not any(s.final for s in states):
            self.problem("no final state: mark at least one state with 'final: true'", seq.line or line)
        for s in states:
            if s.initial and s.final:
                self.problem(f"state {s.id} cannot be both initial and final", s.line)
        return states

    def build_transitions(
        self, value: Any, line: int | None, states: list[State], facts: Mapping[str, FactSpec]
    ) -> list[Transition]:
        seq = self.sequence(value, "transitions", line)
        if seq is None:
            return []
        state_ids = {s.id for s in states}
        final_ids = {s.id for s in states if s.final}
        out: list[Transition] = []
        pairs: dict[tuple[str, str], int | None] = {}
        for item, item_line in zip(seq, seq.item_lines):
            m = self.mapping(item, "a transition", item_line)
            if m is None:
                continue
            self.check_keys(m, TRANSITION_KEYS, "a transition")
            missing = [k for k in ("trigger", "source", "dest") if k not in m]
            if missing:
                self.problem(f"a transition needs {', '.join(missing)}", m.line)
                continue
            trigger = self.ident(m.get("trigger"), "trigger", self.line_of(m, "trigger"))
            if trigger is None:
                continue
            where = f"transition {trigger}"
            dest = m.get("dest")
            dest_line = self.line_of(m, "dest")
            if dest != PREVIOUS:
                if not isinstance(dest, str):
                    self.problem(f"{where}: dest must be a state id, not {dest!r}", dest_line)
                    continue
                if dest not in state_ids:
                    self.problem(f"{where}: unknown state {dest!r} in dest", dest_line)
                    continue
            sources = self.transition_sources(m, where, [s.id for s in states], final_ids, dest)
            if sources is None:
                continue
            for src in sources:
                key = (trigger, src)
                if key in pairs:
                    self.problem(
                        f"duplicate trigger {trigger!r} from state {src!r} (first at line {pairs[key]})",
                        self.line_of(m, "trigger"),
                    )
                pairs.setdefault(key, self.line_of(m, "trigger"))
            guards = self.transition_guards(m.get("guards"), where, self.line_of(m, "guards"), facts)
            counts = self.transition_counts(m.get("counts"), where, self.line_of(m, "counts"), facts)
            note_required = self.boolean(m.get("note_required", False), f"{where}: note_required", self.line_of(m, "note_required"))
            out.append(
                Transition(
                    trigger=trigger,
                    sources=tuple(sources),
                    dest=dest,
                    label=self.label(m.get("label"), f"{where} label", self.line_of(m, "label"), trigger),
                    guards=tuple(guards),
                    counts=tuple(counts),
                    note_required=note_required,
                    line=m.line,
                )
            )
        return out

    def transition_sources(
        self, m: LineMap, where: str, state_ids: list[str], final_ids: set[str], dest: str
    ) -> list[str] | None:
        """``*`` means every non-final state except the destination (e.g. put on hold, cancel)."""
        raw = m.get("source")
        line = self.line_of(m, "source")
        if raw == "*":
            return [s for s in state_ids if s not in final_ids and s != dest]
        items: list[tuple[Any, int | None]]
        if isinstance(raw, str):
            items = [(raw, line)]
        elif isinstance(raw, LineList) and raw:
            items = list(zip(raw, raw.item_lines))
        else:
            self.problem(f"{where}: source must be a state id, a list of them, or '*', not {raw!r}", line)
            return None
        sources: list[str] = []
        ok = True
        for src, src_line in items:
            if not isinstance(src, str) or src not in state_ids:
                self.problem(f"{where}: unknown state {src!r} in source", src_line)
                ok = False
            elif src in sources:
                self.problem(f"{where}: state {src!r} listed twice in source", src_line)
                ok = False
            else:
                sources.append(src)
        return sources if ok else None

    def transition_guards(
        self, raw: Any, where: str, line: int | None, facts: Mapping[str, FactSpec]
    ) -> list[Guard]:
        if raw is None:
            return []
        items: list[tuple[Any, int | None]]
        if isinstance(raw, (str, LineMap)):
            items = [(raw, line)]
        elif isinstance(raw, LineList):
            items = list(zip(raw, raw.item_lines))
        else:
            self.problem(f"{where}: guards must be a list of conditions like 'resident_meetings >= 1'", line)
            return []
        guards: list[Guard] = []
        for item, item_line in items:
            guard = self.guard(item, where, item_line)
            if guard is None:
                continue
            spec = facts.get(guard.fact)
            if spec is None:
                known = ", ".join(facts) or "none declared"
                self.problem(
                    f"{where}: guard reads unknown fact {guard.fact!r} (declare it under facts:; known: {known})",
                    item_line,
                )
                continue
            if guard.op in ORDERING_OPS and spec.type in ("boolean", "string"):
                self.problem(f"{where}: {guard.op} does not apply to {spec.type} fact {guard.fact}", item_line)
                continue
            value = guard.value
            if spec.type == "date" and isinstance(value, dt.date):
                value = value.isoformat()
            if spec.type == "number" and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not spec.accepts(value):
                self.problem(
                    f"{where}: guard compares {spec.type} fact {guard.fact} with {guard.value!r}", item_line
                )
                continue
            guards.append(Guard(guard.fact, guard.op, value))
        return guards

    def guard(self, item: Any, where: str, line: int | None) -> Guard | None:
        if isinstance(item, LineMap):
            self.check_keys(item, {"fact", "op", "value"}, f"{where} guard")
            fact, op, value = item.get("fact"), item.get("op"), item.get("value")
            if not isinstance(fact, str) or op not in OPERATORS or "value" not in item:
                self.problem(
                    f"{where}: a guard mapping needs fact, op (one of {' '.join(OPERATORS)}) and value",
                    item.line or line,
                )
                return None
            return Guard(fact, op, value)
        if isinstance(item, str):
            m = GUARD_RE.match(item)
            if m and m.group(3)[:1] not in "'\"" and (problem := digits_problem(m.group(3))):  # '>= ３'
                self.problem(f"{where}: guard {item!r}: {problem}", line)
                return None
            if m:
                value = _guard_literal(m.group(3))
                if value is not _BAD:
                    return Guard(m.group(1), m.group(2), value)
        self.problem(
            f"{where}: cannot read guard {item!r}; write 'fact op value', e.g. 'resident_meetings >= 1' "
            "(op one of >= <= > < == !=; value a number, true/false, or quoted text)",
            line,
        )
        return None

    def transition_counts(
        self, raw: Any, where: str, line: int | None, facts: Mapping[str, FactSpec]
    ) -> list[str]:
        if raw is None:
            return []
        items: list[tuple[Any, int | None]]
        if isinstance(raw, str):
            items = [(raw, line)]
        elif isinstance(raw, LineList):
            items = list(zip(raw, raw.item_lines))
        else:
            self.problem(f"{where}: counts must be a fact name or a list of them", line)
            return []
        out = []
        for name, item_line in items:
            spec = facts.get(name) if isinstance(name, str) else None
            if spec is None or spec.type != "integer":
                self.problem(f"{where}: counts names {name!r}, which is not a declared integer fact", item_line)
                continue
            out.append(name)
        return out

    def build_target(self, value: Any, line: int | None, state_ids: set[str]) -> Target | None:
        m = self.mapping(value, "target", line)
        if m is None:
            return None
        self.check_keys(m, TARGET_KEYS, "target")
        state = m.get("state")
        if not isinstance(state, str) or state not in state_ids:
            self.problem(f"target: unknown state {state!r}", self.line_of(m, "state"))
            return None
        due = self.due(m.get("due"), "target due", self.line_of(m, "due"))
        if due is None:
            return None
        if due.month_day is None:
            self.problem("target due must be a month-day such as 07-01", self.line_of(m, "due"))
            return None
        return Target(state=state, due=due.month_day)

    def build_milestones(self, value: Any, line: int | None, state_ids: set[str]) -> list[Milestone]:
        if value is None:
            return []
        seq = self.sequence(value, "milestones", line)
        if seq is None:
            return []
        out: list[Milestone] = []
        seen: dict[str, int | None] = {}
        for item, item_line in zip(seq, seq.item_lines):
            m = self.mapping(item, "a milestone", item_line)
            if m is None:
                continue
            self.check_keys(m, MILESTONE_KEYS, "a milestone")
            missing = [k for k in ("id", "state", "due") if k not in m]
            if missing:
                self.problem(f"a milestone needs {', '.join(missing)}", m.line)
                continue
            mid = self.ident(m.get("id"), "milestone id", self.line_of(m, "id"))
            if mid is None:
                continue
            if mid in seen:
                self.problem(f"duplicate milestone id {mid!r} (first at line {seen[mid]})", self.line_of(m, "id"))
                continue
            seen[mid] = self.line_of(m, "id")
            state = m.get("state")
            if not isinstance(state, str) or state not in state_ids:
                self.problem(f"milestone {mid}: unknown state {state!r}", self.line_of(m, "state"))
                continue
            due = self.due(m.get("due"), f"milestone {mid} due", self.line_of(m, "due"))
            if due is None:
                continue
            basis = m.get("basis", "")
            if not isinstance(basis, str):
                self.problem(f"milestone {mid}: basis must be text", self.line_of(m, "basis"))
                basis = ""
            out.append(
                Milestone(
                    id=mid,
                    state=state,
                    due=due,
                    label=self.label(m.get("label"), f"milestone {mid} label", self.line_of(m, "label"), mid),
                    basis=basis.strip(),
                    line=m.line,
                )
            )
        return out

    def build_calendar(self, value: Any, line: int | None) -> Calendar:
        if value is None:
            return Calendar()
        m = self.mapping(value, "calendar", line)
        if m is None:
            return Calendar()
        self.check_keys(m, CALENDAR_KEYS, "calendar")
        country = m.get("country")
        if country is not None and not (isinstance(country, str) and re.match(r"^[A-Z]{2}$", country)):
            self.problem(f"calendar country must be a two-letter code such as KR, not {country!r}", self.line_of(m, "country"))
            country = None
        roll = m.get("roll", "previous" if country else "none")
        if roll not in ROLLS:
            self.problem(f"calendar roll must be one of {', '.join(ROLLS)}, not {roll!r}", self.line_of(m, "roll"))
            roll = "none"
        return Calendar(
            country=country,
            roll=roll,
            extra_holidays=self.date_list(m.get("extra_holidays"), "calendar extra_holidays", self.line_of(m, "extra_holidays")),
            working_days=self.date_list(m.get("working_days"), "calendar working_days", self.line_of(m, "working_days")),
        )

    def build_warnings(self, value: Any, line: int | None) -> Warnings:
        if value is None:
            return Warnings()
        m = self.mapping(value, "warnings", line)
        if m is None:
            return Warnings()
        self.check_keys(m, WARNING_KEYS, "warnings")
        defaults = Warnings()
        soon = self.integer(m.get("due_soon_days", defaults.due_soon_days), "warnings due_soon_days", self.line_of(m, "due_soon_days"))
        esc = self.integer(
            m.get("escalate_after_days", defaults.escalate_after_days),
            "warnings escalate_after_days",
            self.line_of(m, "escalate_after_days"),
        )
        return Warnings(
            due_soon_days=defaults.due_soon_days if soon is None else soon,
            escalate_after_days=defaults.escalate_after_days if esc is None else esc,
        )

    # -- whole-graph checks -------------------------------------------------------------
    def check_graph(self, states: list[State], transitions: list[Transition], top: LineMap) -> None:
        by_id = {s.id: s for s in states}
        edges = successor_map(states, transitions)
        initial = next((s for s in states if s.initial), None)
        for t in transitions:
            for src in t.sources:
                if by_id[src].final:
                    self.problem(
                        f"transition {t.trigger}: leaves final state {src!r}; final states have no way out",
                        t.line,
                    )
        for s in states:
            if not s.final and not edges[s.id]:
                self.problem(f"state {s.id!r} is not final but has no way out (no transition leaves it)", s.line)
        # Returning to the previous state (resume) only leads back where a project already was: it
        # can make no state reachable, and it is no way out of a state that has none of its own.
        forward = successor_map(states, [t for t in transitions if t.dest != PREVIOUS])
        if initial is not None:
            reachable = _reach(initial.id, forward)
            for s in states:
                if s.id not in reachable:
                    self.problem(f"state {s.id!r} cannot be reached from the initial state {initial.id!r}", s.line)
        finals = {s.id for s in states if s.final}
        reverse: dict[str, set[str]] = {s.id: set() for s in states}
        for src, dests in forward.items():
            for d in dests:
                reverse[d].add(src)
        can_finish: set[str] = set()
        for f in finals:
            can_finish |= _reach(f, reverse)
        # A state left by a return (on_hold) can finish if a state it may return to can.
        for t in transitions:
            if t.dest == PREVIOUS:
                can_finish.update(src for src in t.sources if edges[src] & can_finish)
        for s in states:
            if not s.final and edges[s.id] and s.id not in can_finish:
                self.problem(f"state {s.id!r} has no path to a final state", s.line)

    def check_milestone_order(
        self, states: list[State], transitions: list[Transition], milestones: list[Milestone], target: Target
    ) -> None:
        """A milestone for a state further along the course may not be due before an earlier one."""
        initial = next(s for s in states if s.initial)
        # Depth along the course only: a return to the previous state (resume from hold) leads to every
        # state that can be held, and counting it would put them all at the same depth, hiding the order.
        forward = [t for t in transitions if t.dest != PREVIOUS]
        depth = _depths(initial.id, successor_map(states, forward))
        year = 2015  # any non-leap year: relative and month-day rules are compared on one calendar
        target_date = target.date_for(year)
        due = {m.id: m.due.resolve(target_date, year) for m in milestones}
        for later in milestones:
            earlier = [
                m for m in milestones
                if depth.get(m.state, 0) < depth.get(later.state, 0) and due[m.id] > due[later.id]
            ]
            if earlier:
                first = max(earlier, key=lambda m: due[m.id])
                self.problem(
                    f"milestones out of order: {later.id} ({later.state}, due {later.due.text()}) comes later "
                    f"in the course than {first.id} ({first.state}, due {first.due.text()}) but is due earlier",
                    later.line,
                )
