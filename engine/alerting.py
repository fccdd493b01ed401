"""Alerts as data: who receives which alert, when a failed delivery is retried, what a message says.

Pure: the channels that actually send (SMTP, webhook, file) live in ``notify/`` and call this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.deadlines import AT_RISK, DUE_SOON, ESCALATED, OVERDUE

LEVEL_LABELS = {
    DUE_SOON: ("기한 임박", "due soon"),
    OVERDUE: ("기한 경과", "overdue"),
    ESCALATED: ("기한 경과(상향 보고)", "escalated"),
    AT_RISK: ("준공 지연 우려", "at risk"),
}
DELIVERY_LABELS = {
    "pending": ("대기", "pending"),
    "sent": ("발송됨", "sent"),
    "failed": ("실패 (재시도 예정)", "failed"),
}
"""What became of a delivery, as `alerts list` shows it."""

RETRY_FIRST = dt.timedelta(minutes=5)
RETRY_MAX = dt.timedelta(hours=12)
"""Below the nightly interval, so a delivery that keeps failing is still tried at every nightly run."""


@dataclass(frozen=True)
class AlertView:
    """An alert with what a reader needs to act on it."""

    id: int
    key: str
    gu: str
    dong: str
    milestone: str
    milestone_label: str
    level: str
    due: dt.date
    days: int
    reason: str
    as_of: dt.date
    created_at: dt.datetime

    def level_label(self, lang: str = "ko") -> str:
        ko, en = LEVEL_LABELS.get(self.level, (self.level, self.level))
        return en if lang == "en" else ko

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.id,
            "key": self.key,
            "gu": self.gu,
            "dong": self.dong,
            "milestone": self.milestone,
            "milestone_label": self.milestone_label,
            "level": self.level,
            "due": self.due.isoformat(),
            "days": self.days,
            "reason": self.reason,
            "as_of": self.as_of.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Route:
    """One destination: a channel and a recipient on it, with optional filters.

    No ``districts`` means every district (the programme office); no ``levels`` means every level.
    """

    channel: str
    recipient: str = "-"
    districts: frozenset[str] = field(default_factory=frozenset)
    levels: frozenset[str] = field(default_factory=frozenset)

    def wants(self, gu: str, level: str) -> bool:
        return (not self.districts or gu in self.districts) and (not self.levels or level in self.levels)


def destinations(routes: Sequence[Route], gu: str, level: str) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for r in routes:
        if r.wants(gu, level):
            seen.setdefault((r.channel, r.recipient), None)
    return list(seen)


def next_attempt(attempts: int, now: dt.datetime) -> dt.datetime:
    """Exponential backoff after ``attempts`` failures: 5 min, 10 min, 20 min, ... at most 12 hours."""
    delay = RETRY_FIRST * (2 ** max(0, attempts - 1))
    return now + min(delay, RETRY_MAX)


def digest_subject(alerts: Sequence[AlertView], lang: str = "ko") -> str:
    districts = sorted({a.gu for a in alerts})
    where = districts[0] if len(districts) == 1 else (f"{len(districts)}개 구" if lang == "ko" else f"{len(districts)} districts")
    as_of = max(a.as_of for a in alerts).isoformat()
    if lang == "en":
        return f"[dongflow] {where}: {len(alerts)} deadline alert{'s' if len(alerts) != 1 else ''} ({as_of})"
    return f"[dongflow] {where}: 공간개선 일정 경보 {len(alerts)}건 ({as_of})"


def digest_text(alerts: Sequence[AlertView], lang: str = "ko") -> str:
    if lang == "en":
        lines = [f"{len(alerts)} deadline alert(s) from dongflow:", ""]
    else:
        lines = [f"dongflow 공간개선 일정 경보 {len(alerts)}건입니다.", ""]
    for a in sorted(alerts, key=lambda a: (a.gu, a.dong, a.due)):
        lines.append(
            f"- [{a.level_label(lang)}] {a.gu} {a.dong} ({a.key}): {a.milestone_label} "
            f"{'due' if lang == 'en' else '기한'} {a.due.isoformat()} - {a.reason}"
        )
    lines += ["", "dongflow status KEY" + (" shows the project." if lang == "en" else " 로 사업 현황을 볼 수 있습니다.")]
    return "\n".join(lines)
