"""The kinds of citizen participation the programme office counts, and the people roles of a project.

The vocabulary follows the programme report's 시민 참여실적 table (briefings and public hearings,
planning meetings, satisfaction surveys, private expert advice, press and broadcast, reports
published) plus the resident meetings held per dong. Each kind has a stable id (used in workflow
files, e.g. ``counts_participation: resident_meeting``) and Korean and English names; users may type
either name, as may a CSV file saved from Excel.
"""

from __future__ import annotations

import unicodedata

from engine.definition import Label
from engine.errors import InvalidInput

TYPES: dict[str, Label] = {
    "briefing": Label("설명회·공청회", "Briefing / public hearing"),
    "planning_meeting": Label("기획회의", "Planning meeting"),
    "resident_meeting": Label("주민참여 회의", "Resident meeting"),
    "satisfaction_survey": Label("만족도 조사", "Satisfaction survey"),
    "expert_advice": Label("민간전문가 자문", "Expert advice"),
    "press": Label("언론·방송 보도", "Press / broadcast"),
    "report_published": Label("보고서 발간", "Report published"),
}
"""Participation kinds in the order reports show them."""

ROLES: dict[str, Label] = {
    "mp": Label("자치구 MP", "District MP"),
    "architect": Label("건축가", "Architect"),
    "dong_contact": Label("동 담당자", "Dong contact"),
}
"""People roles on a project."""

_EXTRA_ALIASES = {
    "briefing": ("설명회", "공청회", "설명회, 공청회", "public hearing", "hearing"),
    "planning_meeting": ("기획 회의", "planning"),
    "resident_meeting": ("주민참여회의", "주민 회의", "주민회의", "resident meetings"),
    "satisfaction_survey": ("만족도조사", "survey"),
    "expert_advice": ("전문가 자문", "자문", "expert"),
    "press": ("언론", "방송", "언론/방송 보도", "언론/방송", "보도", "press/broadcast", "broadcast"),
    "report_published": ("보고서", "백서", "report", "white paper"),
    "mp": ("MP", "district mp", "총괄건축가"),
    "architect": ("참여건축가", "설계자"),
    "dong_contact": ("동 직원", "담당자", "동담당자", "contact"),
}


def _key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).strip().lower().replace("_", " ").split())


def _lookup(vocabulary: dict[str, Label]) -> dict[str, str]:
    table: dict[str, str] = {}
    for ident, label in vocabulary.items():
        for name in (ident, label.ko, label.en, *_EXTRA_ALIASES.get(ident, ())):
            table[_key(name)] = ident
    return table


_TYPE_LOOKUP = _lookup(TYPES)
_ROLE_LOOKUP = _lookup(ROLES)


def participation_type(text: str, field: str = "type") -> str:
    """The id of a participation kind named by its id, Korean or English name."""
    found = _TYPE_LOOKUP.get(_key(text or ""))
    if found is None:
        raise InvalidInput(
            f"unknown participation type {text!r} (one of: {', '.join(TYPES)}; Korean names also work)",
            field=field,
        )
    return found


def role(text: str, field: str = "role") -> str:
    found = _ROLE_LOOKUP.get(_key(text or ""))
    if found is None:
        raise InvalidInput(f"unknown role {text!r} (one of: {', '.join(ROLES)})", field=field)
    return found
