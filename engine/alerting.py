"""Alerts as data: who receives which alert, when a failed delivery is retried, what a message says.

Pure: the channels that actually send (SMTP, webhook, file) live in ``notify/`` and call this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.deadlines import AT_RISK, CUTOFF_RISK, DUE_SOON, ESCALATED, LATE_START, OVERDUE

LEVEL_LABELS = {
    DUE_SOON: ("기한 임박", "due soon"),
    OVERDUE: ("기한 경과", "overdue"),
    ESCALATED: ("기한 경과(상향 보고)", "escalated"),
    AT_RISK: ("준공 지연 우려", "at risk"),
    LATE_START: ("착수 시한 경과", "late start"),
    CUTOFF_RISK: ("회계 기한 위험", "cut-off at risk"),
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
RETRY_MAX_DOUBLINGS = 8
"""5 min * 2**8 > 12 h: the exponent is capped here, before it is used, so no attempt count overflows."""

# Delivery kinds: what a message is about.
ALERT = "alert"
REMINDER = "reminder"
ESCALATION = "escalation"
RESOLVED = "resolved"
DIGEST = "digest"
KINDS = (ALERT, REMINDER, ESCALATION, RESOLVED, DIGEST)

# Alert states.
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
SNOOZED = "snoozed"
CLOSED_RESOLVED = "resolved"
SUPERSEDED = "superseded"
STATES = (OPEN, ACKNOWLEDGED, SNOOZED, CLOSED_RESOLVED, SUPERSEDED)
ACTIVE = (OPEN, ACKNOWLEDGED, SNOOZED)
"""States in which the nightly check still looks at an alert (it can still be resolved)."""

STATE_LABELS = {
    OPEN: ("열림", "open"),
    ACKNOWLEDGED: ("확인됨", "acknowledged"),
    SNOOZED: ("보류", "snoozed"),
    CLOSED_RESOLVED: ("해소", "resolved"),
    SUPERSEDED: ("상위 경보로 대체", "superseded"),
}
EVENT_LABELS = {
    "found": ("발견", "found"),
    "acknowledged": ("확인", "acknowledged"),
    "snoozed": ("보류", "snoozed"),
    "snooze_ended": ("보류 끝", "snooze ended"),
    "reminded": ("재알림", "reminded"),
    "escalated": ("상향 보고", "escalated"),
    "resolved": ("해소", "resolved"),
    "superseded": ("대체됨", "superseded"),
    "reopened": ("다시 열림", "reopened"),
}
STATUS_LABELS = {"sent": ("발송", "sent"), "failed": ("실패", "failed"), "pending": ("대기", "pending")}


SYSTEM_NOTES_KO = {
    "resolved": "마일스톤 충족, 사업 종료 또는 지연 우려 해소",
    "superseded": "같은 마일스톤의 더 심각한 경보로 대체됨",
    "reminded": "아무도 확인하지 않아 다시 알림",
    "escalated": "기한 내에 확인되지 않아 사업단에 상향 보고",
    "reopened": "다시 발견됨",
    "snooze_ended": "보류 기간 끝",
}
"""What the nightly check writes on a timeline, in Korean (stored in English, with its numbers)."""


def system_note(kind: str, note: str | None, lang: str) -> str | None:
    if lang == "ko" and kind in SYSTEM_NOTES_KO:
        return SYSTEM_NOTES_KO[kind]
    return note


def delivery_detail(channel: str, recipient: str, attempts: int, message_key: str | None, error: str | None,
                    round_: int, lang: str) -> str:
    """One delivery on a timeline: where, how many attempts, the message id, the last error."""
    ko = lang == "ko"
    text = (f"#{round_}: " if round_ else "") + f"{channel} -> {recipient}, " + (
        f"시도 {attempts}회" if ko else f"attempts {attempts}")
    if message_key:
        text += (", 메시지 " if ko else ", message ") + f"dongflow-{message_key}"
    if error:
        text += (", 오류: " if ko else ", error: ") + error
    return text


def timeline_label(what: str, lang: str) -> str:
    """An entry of an alert's timeline: an event (``acknowledged``) or a delivery (``reminder sent``)."""
    if what in EVENT_LABELS:
        return label(EVENT_LABELS, what, lang)
    kind, _, status = what.partition(" ")
    return f"{label(KIND_LABELS, kind, lang)} {label(STATUS_LABELS, status, lang)}"


KIND_LABELS = {
    ALERT: ("경보", "alert"),
    REMINDER: ("재알림", "reminder"),
    ESCALATION: ("상향 보고", "escalation"),
    RESOLVED: ("해소 알림", "resolved notice"),
    DIGEST: ("진행 중 경보 요약", "digest"),
}


def label(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    ko, en = table.get(key, (key, key))
    return en if lang == "en" else ko


@dataclass(frozen=True)
class Lifecycle:
    """What happens to an alert after its first notice ([lifecycle] in the configuration)."""

    remind_every: dict[str, int] = field(default_factory=lambda: {ESCALATED: 5})
    """Business days between reminders of an open alert, per level (a level not named: no reminders)."""
    escalate_after: int = 10
    """Business days an open alert of ``escalate_levels`` may stay unacknowledged before it goes to
    the programme office; 0 turns escalation off."""
    escalate_levels: frozenset[str] = frozenset({ESCALATED})
    office: tuple[tuple[str, str], ...] = ()
    """(channel, recipient) of the programme office; empty: every destination without districts."""
    resolved_notice: bool = False
    """Send a "resolved" notice to whoever received the alert when its milestone is met."""
    country: str | None = "KR"
    """Whose public holidays are not business days (weekends never are)."""


@dataclass(frozen=True)
class AlertState:
    """What the nightly sweep needs to know of a stored alert (pure data)."""

    id: int
    level: str
    state: str
    as_of: dt.date
    snoozed_until: dt.date | None
    open_since: dt.date | None
    last_notified_on: dt.date | None
    reminders: int
    escalated_on: dt.date | None


@dataclass(frozen=True)
class Step:
    """One change the sweep makes to an alert on an as-of date."""

    kind: str
    """``snooze_ended``, ``reminded`` or ``escalated``."""
    alert_id: int


def business_days(start: dt.date, end: dt.date, is_working_day: Callable[[dt.date], bool]) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when end <= start). Bounded: at
    most ten years are counted."""
    if end <= start:
        return 0
    days = min((end - start).days, 3660)
    return sum(1 for i in range(1, days + 1) if is_working_day(start + dt.timedelta(days=i)))


def sweep(
    alerts: Sequence[AlertState], as_of: dt.date, rules: Lifecycle, is_working_day: Callable[[dt.date], bool]
) -> list[Step]:
    """Snoozes that end, reminders and escalations due on ``as_of`` (pure; the caller records them).

    A snoozed alert is open again on its ``snoozed_until`` date, and its clocks start again from
    there. An open alert of a level in ``remind_every`` is reminded when that many business days
    passed since it was found (or last reminded); one of ``escalate_levels`` that nobody
    acknowledged within ``escalate_after`` business days goes to the programme office, once.
    """
    steps: list[Step] = []
    for a in alerts:
        if a.as_of > as_of:
            continue  # found after this as-of date (a run for an earlier day): not ours to touch
        state, since, last = a.state, a.open_since or a.as_of, a.last_notified_on or a.open_since or a.as_of
        if state == SNOOZED and a.snoozed_until is not None and a.snoozed_until <= as_of:
            steps.append(Step("snooze_ended", a.id))
            state, since, last = OPEN, a.snoozed_until, a.snoozed_until
        if state != OPEN:
            continue
        every = rules.remind_every.get(a.level)
        if every and business_days(last, as_of, is_working_day) >= every:
            steps.append(Step("reminded", a.id))
        if (rules.escalate_after and a.escalated_on is None and a.level in rules.escalate_levels
                and business_days(since, as_of, is_working_day) >= rules.escalate_after):
            steps.append(Step("escalated", a.id))
    return steps


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
    kind: str = "alert"
    """What the message says about it: the first notice, a reminder, the escalation, that it is resolved."""
    delivery_id: int | None = None
    message_id: str | None = None
    """The stable id of the message carrying it (receiver-side dedupe of a repeat)."""

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
            "kind": self.kind,
            "delivery_id": self.delivery_id,
            "message_id": self.message_id,
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
    """Exponential backoff after ``attempts`` failures: 5 min, 10 min, 20 min, ... at most 12 hours.

    The exponent is capped before it is used: after any number of failures (a channel down for
    years) this is a small number, never an overflow.
    """
    doublings = min(max(0, attempts - 1), RETRY_MAX_DOUBLINGS)
    return now + min(RETRY_FIRST * (2**doublings), RETRY_MAX)


_SUBJECTS = {
    ALERT: ("공간개선 일정 경보 {n}건", "{n} deadline alert{s}"),
    REMINDER: ("확인되지 않은 경보 재알림 {n}건", "reminder: {n} unacknowledged alert{s}"),
    ESCALATION: ("상향 보고: 확인되지 않은 경보 {n}건", "escalation: {n} unacknowledged alert{s}"),
    RESOLVED: ("해소된 경보 {n}건", "{n} alert{s} resolved"),
    DIGEST: ("진행 중인 경보 요약 {n}건", "digest of {n} open alert{s}"),
}
_OPENINGS = {
    ALERT: ("dongflow 공간개선 일정 경보 {n}건입니다.", "{n} deadline alert(s) from dongflow:"),
    REMINDER: ("아직 아무도 확인하지 않은 경보 {n}건입니다. 확인했으면 dongflow alerts ack ID --note ... 로 알려 주세요.",
               "{n} alert(s) nobody has acknowledged yet. Once dealt with: dongflow alerts ack ID --note ..."),
    ESCALATION: ("담당 구에서 기한 내에 확인하지 않아 사업단에 상향 보고되는 경보 {n}건입니다.",
                 "{n} alert(s) not acknowledged in time, escalated to the programme office:"),
    RESOLVED: ("마일스톤이 충족되어 해소된 경보 {n}건입니다.", "{n} alert(s) resolved (the milestone was met):"),
    DIGEST: ("새 수신처에 보내는, 현재 진행 중인 경보 {n}건 요약입니다.",
             "A digest of the {n} alert(s) open now, for a new recipient:"),
}


def digest_subject(alerts: Sequence[AlertView], lang: str = "ko") -> str:
    districts = sorted({a.gu for a in alerts})
    where = districts[0] if len(districts) == 1 else (f"{len(districts)}개 구" if lang == "ko" else f"{len(districts)} districts")
    as_of = max(a.as_of for a in alerts).isoformat()
    ko, en = _SUBJECTS.get(alerts[0].kind, _SUBJECTS[ALERT])
    what = (en if lang == "en" else ko).format(n=len(alerts), s="s" if len(alerts) != 1 else "")
    return f"[dongflow] {where}: {what} ({as_of})"


def digest_text(alerts: Sequence[AlertView], lang: str = "ko") -> str:
    ko, en = _OPENINGS.get(alerts[0].kind, _OPENINGS[ALERT])
    lines = [(en if lang == "en" else ko).format(n=len(alerts)), ""]
    for a in sorted(alerts, key=lambda a: (a.gu, a.dong, a.due)):
        lines.append(
            f"- [{a.level_label(lang)}] {a.gu} {a.dong} ({a.key}): {a.milestone_label} "
            f"{'due' if lang == 'en' else '기한'} {a.due.isoformat()} - {a.reason}"
            + (f" (#{a.id})" if a.kind != ALERT else "")
        )
    lines += ["", "dongflow status KEY" + (" shows the project." if lang == "en" else " 로 사업 현황을 볼 수 있습니다.")]
    if alerts[0].kind != ALERT:
        lines.append("dongflow alerts show ID" + (" shows an alert's timeline." if lang == "en" else " 로 경보의 경과를 볼 수 있습니다."))
    return "\n".join(lines)
