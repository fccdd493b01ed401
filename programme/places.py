"""The programme's settings for a project's identity: Seoul's districts and administrative dongs, and
how the programme forms keys (``2016-성동구-마장동``).

Both lists are shipped (programme/data): the dongs of 2016 (the programme years) and today's, since
some names changed (2019 강북구 번1–3동, 2022 일원2동 → 개포3동, 2025 용신동 → 신설동/용두동 ...).
Every spelling is accepted -- the official name (성수1가제1동), the everyday one (성수1가1동), with
``·`` or ``.`` (종로1·2·3·4가동) -- and all spellings of one dong count as the same place, so a key
written with the everyday name agrees with a project entered under the official one.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from importlib.resources import files

from engine.identity import IdentityRule, IdentityRules, PlaceList

LIST_FILES = ("seoul-dongs-2016.csv", "seoul-dongs-current.csv")
KEY_FORMAT = "{year}-{gu}-{dong}"
"""How the programme forms keys (programme/demo.py's demo_key, bench/generate.py)."""
WORKFLOWS = ("space-improvement",)
"""The programme's workflows whose projects must name a Seoul district and dong."""


def _canonical(name: str) -> str:
    """One name for every spelling of a dong: no 제 before a number, ``·`` as ``.``."""
    return re.sub(r"제(?=\d)", "", name).replace("·", ".")


@lru_cache(maxsize=1)
def seoul_places() -> PlaceList:
    dongs: dict[str, dict[str, str]] = {}
    for name in LIST_FILES:
        text = files("programme").joinpath("data", name).read_text("utf-8-sig")
        for row in csv.DictReader(text.splitlines()):
            names = dongs.setdefault(row["gu"].strip(), {})
            for spelling in (row.get("dong"), row.get("dong_common")):
                if spelling and spelling.strip():
                    spelling = spelling.strip()
                    names[spelling] = _canonical(spelling)
                    names.setdefault(_canonical(spelling), _canonical(spelling))
    return PlaceList("Seoul administrative dongs (2016 and current)", dongs)


def identity_rules() -> IdentityRules:
    """The programme's identity rule for each of its workflows."""
    rule = IdentityRule(places=seoul_places(), key_format=KEY_FORMAT)
    return IdentityRules({workflow_id: rule for workflow_id in WORKFLOWS})


def seoul_districts() -> list[str]:
    """Seoul's 25 자치구, from the shipped lists of dongs: the districts a user or token may be
    limited to (an office may get an account before its first project)."""
    return seoul_places().districts
