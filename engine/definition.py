"""A workflow as plain, frozen data.

The loader turns a YAML file into these objects and validates them; everything else (the state
machine, deadlines, the CLI) reads only these. Nothing here touches a file, a database or the clock.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidInput
from engine.values import ascii_digits, ascii_integer

PREVIOUS = "@previous"
"""A transition ``dest`` meaning: back to the state the project was in before its current one."""

LANGS = ("ko", "en")


@dataclass(frozen=True)
class Label:
    ko: str
    en: str

    def get(self, lang: str = "ko") -> str:
        return self.en if lang == "en" else self.ko

    def as_dict(self) -> dict[str, str]:
        return {"ko": self.ko, "en": self.en}


FACT_TYPES = ("integer", "number", "boolean", "string", "date")


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "yes", "y", "1", "예", "참"):
        return True
    if low in ("false", "no", "n", "0", "아니오", "거짓"):
        return False
    raise ValueError(f"{text!r} is not true or false")


@dataclass(frozen=True)
class FactSpec:
    """A fact a project records and guards read: its type is enforced on every write."""

    name: str
    type: str
    default: Any
    label: Label
    counts_participation: str | None = None
    """A participation type (e.g. ``resident_meeting``) whose recorded events this integer fact counts.

    Recording such an event raises the fact by its count, in the same transaction, so guards read
    what was actually held; the fact is then not set by hand (that would count twice).
    """
    minimum: float | None = None
    """Smallest value a number or integer may take (``min:`` in the file; e.g. 0 for a count)."""
    maximum: float | None = None

    def parse(self, text: str) -> Any:
        """Turn a command-line string into a value of this fact's type."""
        if self.type in ("integer", "number", "date"):
            ascii_digits(text.strip(), f"fact {self.name}")  # int() and float() read '３' and '٣'
        try:
            if self.type == "integer":
                return self._in_range(ascii_integer(text))  # nor '1_0'
            if self.type == "number":
                if "_" in text:  # float() reads '1_0.5'; an integer fact refuses '1_0' too
                    raise ValueError(text)
                value = float(text.strip())
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError("not a finite number")
                return self._in_range(value)
            if self.type == "boolean":
                return _parse_bool(text)
            if self.type == "date":
                return dt.date.fromisoformat(text.strip()).isoformat()
            return text
        except InvalidInput:
            raise
        except ValueError:
            raise InvalidInput(
                f"{_short(text)} is not a valid {self.type}", field=f"fact {self.name}"
            ) from None

    def _in_range(self, value: float) -> Any:
        if self.minimum is not None and value < self.minimum:
            raise InvalidInput(f"{value} is below the smallest allowed, {self.minimum:g}", field=f"fact {self.name}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidInput(f"{value} is above the largest allowed, {self.maximum:g}", field=f"fact {self.name}")
        return value

    def accepts(self, value: Any) -> bool:
        """Whether an already-typed value (from JSON or YAML) fits this fact."""
        if self.type == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type == "boolean":
            return isinstance(value, bool)
        if self.type == "date":
            if not isinstance(value, str):
                return False
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return False
            return True
        return isinstance(value, str)


OPERATORS: Mapping[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
ORDERING_OPS = (">=", "<=", ">", "<")


@dataclass(frozen=True)
class Guard:
    """A declarative condition on one fact: ``fact op value``. Never evaluated as code."""

    fact: str
    op: str
    value: Any

    def holds(self, facts: Mapping[str, Any]) -> bool:
        current = facts.get(self.fact)
        if current is None:
            return False
        try:
            return bool(OPERATORS[self.op](current, self.value))
        except TypeError:
            return False

    def describe(self) -> str:
        return f"{self.fact} {self.op} {_render(self.value)}"

    def as_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "op": self.op, "value": self.value}


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class State:
    id: str
    label: Label
    initial: bool = False
    final: bool = False
    expected_days: int | None = None
    """Typical time spent in this state; the at-risk forecast adds these up."""
    line: int | None = None
    owner: str | None = None
    """The party responsible for the time spent in this state (``owner:``; the delay ledger's key)."""


@dataclass(frozen=True)
class Transition:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    label: Label
    guards: tuple[Guard, ...] = ()
    counts: tuple[str, ...] = ()
    """Integer facts incremented each time this transition fires (e.g. failed tenders)."""
    note_required: bool = False
    line: int | None = None

    @property
    def returns_to_previous(self) -> bool:
        return self.dest == PREVIOUS


@dataclass(frozen=True)
class DueRule:
    """When a milestone is due: a day offset from the project's target, or a fixed month-day."""

    days: int | None = None
    month_day: tuple[int, int] | None = None

    def resolve(self, target: dt.date, year: int) -> dt.date:
        if self.month_day is not None:
            month, day = self.month_day
            if (month, day) == (2, 29) and not _is_leap(year):
                return dt.date(year, 2, 28)
            return dt.date(year, month, day)
        return target + dt.timedelta(days=self.days or 0)

    def text(self) -> str:
        if self.month_day is not None:
            return f"{self.month_day[0]:02d}-{self.month_day[1]:02d}"
        days = self.days or 0
        return f"{'+' if days >= 0 else '-'}{abs(days)}d"


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


@dataclass(frozen=True)
class Milestone:
    """The date by which a project must have reached ``state``."""

    id: str
    state: str
    due: DueRule
    label: Label
    basis: str = ""
    """Where the date comes from (kept so reports and reviewers can see the reasoning)."""
    line: int | None = None


@dataclass(frozen=True)
class Calendar:
    """Business-day rules: which days count as working days for due dates."""

    country: str | None = None
    roll: str = "none"
    """``previous``: a due date on a day off moves to the previous working day; ``none``: kept."""
    extra_holidays: tuple[dt.date, ...] = ()
    working_days: tuple[dt.date, ...] = ()
    """Dates the holiday package lists but offices are open (removed from the calendar)."""


@dataclass(frozen=True)
class Cutoff:
    """A fiscal cut-off: ``state`` must be reached by a month-day of the cohort's year (or the next,
    ``year_offset: 1``), else ``consequence`` (e.g. ``carry_over``: the budget is carried over)."""

    id: str
    state: str
    by: tuple[int, int]
    consequence: str
    label: Label
    year_offset: int = 0
    line: int | None = None

    def date_for(self, year: int) -> dt.date:
        return DueRule(month_day=self.by).resolve(dt.date(year, 1, 1), year + self.year_offset)


@dataclass(frozen=True)
class Warnings:
    due_soon_days: int = 14
    """A milestone due within this many days, not yet reached, is *due soon*."""
    escalate_after_days: int = 14
    """A milestone overdue for more than this many days is *escalated*."""


@dataclass(frozen=True)
class Target:
    state: str
    due: tuple[int, int]
    """Month and day, in the cohort's year."""

    def date_for(self, year: int) -> dt.date:
        return DueRule(month_day=self.due).resolve(dt.date(year, 1, 1), year)


@dataclass(frozen=True)
class Workflow:
    id: str
    version: int
    title: Label
    target: Target
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    milestones: tuple[Milestone, ...] = ()
    facts: Mapping[str, FactSpec] = field(default_factory=dict)
    calendar: Calendar = field(default_factory=Calendar)
    warnings: Warnings = field(default_factory=Warnings)
    description: str = ""
    source: str = ""
    """The file it was loaded from (for messages)."""
    participation_kinds: tuple[str, ...] = ()
    """Kinds of recorded participation this workflow counts (``counts_participation`` names one)."""
    identity: Any = None
    """Valid places and key format the file declares (engine.identity.IdentityRule), or None."""
    owners: Mapping[str, Label] = field(default_factory=dict)
    """The parties states are owned by (``owners:``), with their labels."""
    cutoffs: tuple[Cutoff, ...] = ()
    """Fiscal cut-offs (``cutoffs:``), checked by the nightly check."""
    baseline_state: str | None = None
    """Entering this state takes the project's baseline (``baseline: {state: ..}``)."""

    def owner_label(self, owner: str | None, lang: str = "ko") -> str:
        if owner is None:
            return "-"
        found = self.owners.get(owner)
        return found.get(lang) if found else owner

    def __hash__(self) -> int:
        return hash((self.id, self.version))

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def initial(self) -> State:
        return next(s for s in self.states if s.initial)

    def state(self, state_id: str) -> State:
        for s in self.states:
            if s.id == state_id:
                return s
        raise KeyError(state_id)

    def has_state(self, state_id: str) -> bool:
        return any(s.id == state_id for s in self.states)

    def state_label(self, state_id: str, lang: str = "ko") -> str:
        try:
            return self.state(state_id).label.get(lang)
        except KeyError:
            return state_id

    def transitions_from(self, state_id: str) -> list[Transition]:
        return [t for t in self.transitions if state_id in t.sources]

    def allowed_triggers(self, state_id: str) -> list[str]:
        """Triggers that leave ``state_id`` (guards not considered), in file order, once each."""
        return list(dict.fromkeys(t.trigger for t in self.transitions if state_id in t.sources))

    def unmet_guards(self, state_id: str, facts: Mapping[str, Any]) -> dict[str, list[str]]:
        """For each trigger leaving ``state_id``, the guards that do not hold now (empty: may fire)."""
        out: dict[str, list[str]] = {}
        for t in self.transitions_from(state_id):
            out.setdefault(t.trigger, []).extend(g.describe() for g in t.guards if not g.holds(facts))
        return out

    def transition(self, trigger: str) -> list[Transition]:
        return [t for t in self.transitions if t.trigger == trigger]

    @property
    def triggers(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.trigger, None)
        return list(seen)

    def default_facts(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.facts.items() if spec.default is not None}

    def facts_counting(self, participation_type: str) -> list[FactSpec]:
        """The facts that count events of this participation type (usually none or one)."""
        return [f for f in self.facts.values() if f.counts_participation == participation_type]

    def default_target(self, year: int) -> dt.date:
        return self.target.date_for(year)

    def possible_previous(self, state_id: str) -> set[str]:
        """States a project can have come from into ``state_id`` (for ``@previous`` returns)."""
        return {
            src
            for t in self.transitions
            if t.dest == state_id
            for src in t.sources
            if src != state_id
        }

    def as_dict(self) -> dict[str, Any]:
        """The workflow as JSON-ready data, for other tools (``workflow show --json``)."""
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title.as_dict(),
            "description": self.description,
            "participation_kinds": list(self.participation_kinds),
            "target": {"state": self.target.state, "due": DueRule(month_day=self.target.due).text()},
            "states": [
                {
                    "id": s.id,
                    "label": s.label.as_dict(),
                    "initial": s.initial,
                    "final": s.final,
                    "expected_days": s.expected_days,
                    "owner": s.owner,
                }
                for s in self.states
            ],
            "transitions": [
                {
                    "trigger": t.trigger,
                    "source": list(t.sources),
                    "dest": t.dest,
                    "label": t.label.as_dict(),
                    "guards": [g.as_dict() for g in t.guards],
                    "counts": list(t.counts),
                    "note_required": t.note_required,
                }
                for t in self.transitions
            ],
            "milestones": [
                {
                    "id": m.id,
                    "state": m.state,
                    "due": m.due.text(),
                    "label": m.label.as_dict(),
                    "basis": m.basis,
                }
                for m in self.milestones
            ],
            "facts": [
                {
                    "name": f.name,
                    "type": f.type,
                    "default": f.default,
                    "label": f.label.as_dict(),
                    "counts_participation": f.counts_participation,
                    "min": f.minimum,
                    "max": f.maximum,
                }
                for f in self.facts.values()
            ],
            "calendar": {
                "country": self.calendar.country,
                "roll": self.calendar.roll,
                "extra_holidays": [d.isoformat() for d in self.calendar.extra_holidays],
                "working_days": [d.isoformat() for d in self.calendar.working_days],
            },
            "warnings": {
                "due_soon_days": self.warnings.due_soon_days,
                "escalate_after_days": self.warnings.escalate_after_days,
            },
            "owners": {k: v.as_dict() for k, v in self.owners.items()},
            "cutoffs": [
                {"id": c.id, "state": c.state, "by": DueRule(month_day=c.by).text(), "year_offset": c.year_offset,
                 "consequence": c.consequence, "label": c.label.as_dict()}
                for c in self.cutoffs
            ],
            "source": self.source,
        }


def successor_map(states: Iterable[State], transitions: Iterable[Transition]) -> dict[str, set[str]]:
    """Every state's possible next states; ``@previous`` expands to the states that lead in."""
    states = list(states)
    transitions = list(transitions)
    edges: dict[str, set[str]] = {s.id: set() for s in states}
    incoming: dict[str, set[str]] = {s.id: set() for s in states}
    for t in transitions:
        if t.dest != PREVIOUS:
            for src in t.sources:
                if src != t.dest:
                    incoming[t.dest].add(src)
    for t in transitions:
        for src in t.sources:
            if t.dest == PREVIOUS:
                edges[src] |= incoming[src]
            else:
                edges[src].add(t.dest)
    return edges


def _short(text: str, limit: int = 60) -> str:
    """A value quoted in a message, cut so that one bad value cannot make a kilobyte-long line."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"
