"""Checked identity of a project: valid districts and dongs, keys that agree with them, no twins.

Generic: the engine knows no place names. A programme (or a workflow) declares, per workflow id,
an :class:`IdentityRule`: the list of valid places (:class:`PlaceList`, data the programme ships)
and how its keys are formed (``key_format`` such as ``"{year}-{gu}-{dong}"``). A workflow with no
rule accepts any district and dong (tests and invented examples use such workflows).

One more rule holds for every workflow: one project per (workflow, gu, dong, year), unless the
caller explicitly allows a duplicate (``--allow-duplicate``); retired projects do not count.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidInput


@dataclass(frozen=True)
class PlaceList:
    """Valid districts and the dongs of each: every accepted spelling of a dong (an official name,
    an everyday one, a name it had before) maps to one canonical name, so two spellings of the same
    dong are recognised as the same place."""

    name: str
    dongs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """gu -> {accepted spelling of a dong -> its canonical name}."""

    @property
    def districts(self) -> list[str]:
        return list(self.dongs)

    def check(self, gu: str, dong: str) -> None:
        """Refuse a district or dong not on the list: one line naming the field, with a close match."""
        if gu not in self.dongs:
            raise InvalidInput(f"{gu!r} is not a district on the {self.name} list{_suggest(gu, self.dongs)}", field="gu")
        if dong not in self.dongs[gu]:
            elsewhere = [g for g, names in self.dongs.items() if dong in names]
            hint = f" (it is in {', '.join(elsewhere)})" if elsewhere else _suggest(dong, self.dongs[gu])
            raise InvalidInput(f"{dong!r} is not a dong of {gu} on the {self.name} list{hint}", field="dong")

    def canonical(self, gu: str, dong: str) -> str:
        return self.dongs.get(gu, {}).get(dong, dong)


def _suggest(value: str, candidates: Mapping[str, object] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(candidates), n=2, cutoff=0.5)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


@dataclass(frozen=True)
class IdentityRule:
    places: PlaceList | None = None
    key_format: str | None = None
    """How keys are formed, with ``{year}``, ``{gu}`` and ``{dong}``: a key of this shape (possibly
    followed by a separator and a suffix, ``2016-성동구-마장동-2``) must name the project's own year,
    district and dong. Keys of another shape are free."""

    def key_pattern(self) -> re.Pattern[str] | None:
        return _key_pattern(self.key_format) if self.key_format else None

    def check(self, key: str, gu: str, dong: str, year: int) -> None:
        """Refuse a district or dong not on the list, and a key that contradicts gu, dong or year."""
        if self.places is not None:
            self.places.check(gu, dong)
        pattern = self.key_pattern()
        found = pattern.match(key) if pattern is not None else None
        if found is None:
            return
        named = found.groupdict()
        if "year" in named and int(named["year"]) != year:
            raise InvalidInput(f"key {key!r} says year {named['year']}, but the year is {year}", field="key")
        if "gu" in named and named["gu"] != gu:
            raise InvalidInput(f"key {key!r} says district {named['gu']}, but the district is {gu}", field="key")
        if "dong" in named and not self.same_dong(gu, named["dong"], dong):
            raise InvalidInput(f"key {key!r} says dong {named['dong']}, but the dong is {dong}", field="key")

    def same_dong(self, gu: str, a: str, b: str) -> bool:
        if a == b:
            return True
        return self.places is not None and self.places.canonical(gu, a) == self.places.canonical(gu, b)


@lru_cache(maxsize=64)
def _key_pattern(key_format: str) -> re.Pattern[str]:
    """The regular expression of a key format: ``{year}`` four digits, ``{gu}`` and ``{dong}`` any
    run without the format's separators; a separator and a suffix may follow."""
    literals = "".join(re.split(r"\{(?:year|gu|dong)\}", key_format))
    stop = re.escape("".join(sorted(set(literals)))) if literals else ""
    part = f"[^{stop}]+" if stop else ".+?"
    pattern = ""
    for piece in re.split(r"(\{(?:year|gu|dong)\})", key_format):
        if piece == "{year}":
            pattern += r"(?P<year>\d{4})"
        elif piece in ("{gu}", "{dong}"):
            pattern += f"(?P<{piece[1:-1]}>{part})"
        else:
            pattern += re.escape(piece)
    tail = f"(?:$|[{stop}].*)" if stop else "$"
    return re.compile(pattern + tail, re.DOTALL)


NO_RULE = IdentityRule()


@dataclass(frozen=True)
class IdentityRules:
    """The identity rule of each workflow id (what a programme declares); others have none."""

    by_workflow: Mapping[str, IdentityRule] = field(default_factory=dict)

    def of(self, workflow_id: str, declared: IdentityRule | None = None) -> IdentityRule:
        """The rule of a workflow: what its file declares (``declared``), else the programme's."""
        return declared if declared is not None else self.by_workflow.get(workflow_id, NO_RULE)


# -- declared in a workflow file ---------------------------------------------------------------------
IDENTITY_KEYS = {"key", "places"}


def build_rule(builder: Any, value: Any, line: int | None) -> IdentityRule | None:
    """A workflow file's ``identity:`` (engine/loader.py calls this with its builder)::

        identity:
          key: "{year}-{gu}-{dong}"     # optional: how keys are formed
          places:                       # optional: the valid districts, each with its dongs
            North: [Alpha, Beta]

    Problems are reported through the builder, with their lines, like every other section's.
    """
    if value is None:
        return None
    top = builder.mapping(value, "identity", line)
    if top is None:
        return None
    builder.check_keys(top, IDENTITY_KEYS, "identity")
    key_format = top.get("key")
    if key_format is not None and (not isinstance(key_format, str) or "{" not in key_format
                                   or re.sub(r"\{(?:year|gu|dong)\}", "", key_format).count("{")):
        builder.problem("identity key must be text naming {year}, {gu} and/or {dong}", builder.line_of(top, "key"))
        key_format = None
    places = None
    if "places" in top:
        where = builder.line_of(top, "places")
        districts = builder.mapping(top.get("places"), "identity places", where)
        if districts is not None:
            dongs: dict[str, dict[str, str]] = {}
            for gu, names in districts.items():
                seq = builder.sequence(names, f"identity places {gu}", builder.line_of(districts, gu))
                if seq is None:
                    continue
                if not seq or not all(isinstance(n, str) and n.strip() for n in seq):
                    builder.problem(f"identity places {gu}: a list of dong names", builder.line_of(districts, gu))
                    continue
                dongs[str(gu)] = {n.strip(): n.strip() for n in seq}
            places = PlaceList("workflow's", dongs)
    return IdentityRule(places=places, key_format=key_format)
