"""The API's request and response bodies (pydantic): the OpenAPI document is generated from these.

Responses are built by :mod:`render.views` (the same functions as ``status --json``), and validated
against these models, so the document and the CLI's JSON cannot drift apart. Accounts use the SQLModel
classes of :mod:`storage.accounts` directly (``UserPublic``, ``TokenPublic``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from engine.values import ascii_integer


def _digits_0_9(value: Any) -> Any:
    """A whole number sent as text (a query, a form field, a JSON string) is read like the CLI reads
    one (:func:`engine.values.ascii_integer`): pydantic refuses '３' and '٣' but reads '1_0' as 10 and
    '3.0' as 3. Numbers sent as JSON numbers pass unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return ascii_integer(value)
    except ValueError as exc:  # the CLI's words, without pydantic's "Value error, " before them
        raise PydanticCustomError("int_digits", "{problem}", {"problem": str(exc)}) from None


WholeNumber = Annotated[int, BeforeValidator(_digits_0_9)]
"""Every integer the web app reads from a request: API queries, paths and bodies, page queries, forms."""

LEVELS = ("pending", "due_soon", "overdue", "escalated", "at_risk", "late_start", "cutoff_risk", "met", "met_late", "closed")
Level = Literal["pending", "due_soon", "overdue", "escalated", "at_risk", "late_start", "cutoff_risk", "met", "met_late",
                "closed"]
FindingLevel = Literal["due_soon", "overdue", "escalated", "at_risk", "late_start", "cutoff_risk"]


class MilestoneStatus(BaseModel):
    id: str
    state: str
    due: str
    level: str
    days: int | None = None
    reached_on: str | None = None


class LatestStart(BaseModel):
    """The backward pass: the latest day a state may be entered for the target to hold."""

    state: str
    latest_start: str
    entered: str | None
    passed: bool


class CutoffStatus(BaseModel):
    """A fiscal cut-off: reached, or the day its state is forecast to be entered."""

    id: str
    state: str
    consequence: str
    date: str
    reached_on: str | None
    expected: str | None
    at_risk: bool
    days: int


class ProjectStatus(BaseModel):
    """One project as ``dongflow status --json`` prints it."""

    key: str
    gu: str
    dong: str
    year: int
    workflow: str
    workflow_version: int
    state: str
    state_label: str
    entered_at: str | None
    target: str
    previous_state: str | None
    facts: dict[str, Any]
    version: int
    """Send it back with a change: a change to a project that moved meanwhile is refused (409)."""
    level: str
    next_milestone: str | None
    next_due: str | None
    at_risk: bool
    earliest_completion: str | None
    slack_days: int | None
    durations: Any = None
    risk_reason: str | None
    milestones: list[MilestoneStatus]
    latest_starts: list[LatestStart] = []
    cutoffs: list[CutoffStatus] = []
    as_of: str
    retired_at: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """Only on a retired project (``project retire``; ``POST /api/projects/{key}/retire``): when."""


class TriggerOption(BaseModel):
    trigger: str
    label: str
    dest: str | None
    note_required: bool
    unmet_guards: list[str]
    """Guards that do not hold now; empty: the trigger may fire."""


class ProjectDetail(ProjectStatus):
    """``status KEY --json`` plus the triggers that leave the current state."""

    triggers: list[TriggerOption]


class ProjectPage(BaseModel):
    items: list[ProjectStatus]
    total: int
    """How many projects match (in the districts the caller may read), over every page."""
    next: str | None
    """The URL of the next page, or null on the last."""


class HistoryEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    gu: str
    dong: str
    year: int
    workflow: str
    state: str
    """The project's state now (every item carries the listing contract's project fields)."""
    entered_at: str | None
    seq: int
    kind: str
    trigger: str | None
    from_: str | None = Field(alias="from")
    to: str
    actor: str
    at: str | None
    recorded_at: str | None
    note: str | None
    data: dict[str, Any]


AT_HELP = ("When it took effect, if earlier than now (the CLI's --at): YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], "
           "with an offset (+09:00, Z) or in local time (the server's time zone, Asia/Seoul by default); a date "
           "alone is its midnight. Default: now. The back-dating rules (README, 'The record over time') apply; "
           "the recorded time is always the server's.")
EffectiveTime = Annotated[str | None, Field(min_length=1, max_length=40, description=AT_HELP)]
"""``at`` of a request that records something: parsed as the CLI's ``--at`` (engine.values.parse_datetime)."""


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)
    version: WholeNumber = Field(ge=1, le=2**31 - 1)
    """The project's version as the client saw it (from GET /api/projects/{key})."""
    at: EffectiveTime = None


class FactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    value: str | int | float | bool
    note: str | None = Field(default=None, max_length=2000)
    version: WholeNumber = Field(ge=1, le=2**31 - 1)
    at: EffectiveTime = None


class CorrectionRequest(BaseModel):
    """An undo or a retirement (``dongflow undo KEY``, ``project retire KEY``)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)
    """Why (required): shown in the history beside who and when."""
    version: WholeNumber = Field(ge=1, le=2**31 - 1)
    """The project's version as the client saw it (from GET /api/projects/{key})."""


class EditRequest(CorrectionRequest):
    """The right values (``dongflow project edit KEY``): at least one of them."""

    gu: str | None = Field(default=None, min_length=1, max_length=200)
    dong: str | None = Field(default=None, min_length=1, max_length=200)
    year: WholeNumber | None = None
    target: str | None = Field(default=None, min_length=1, max_length=40)
    """YYYY-MM-DD: the completion target."""
    key: str | None = Field(default=None, min_length=1, max_length=200)
    """A new key (must be free)."""
    allow_duplicate: bool = False
    """Allow a second project for the same workflow, gu, dong and year."""


class BulkWhere(BaseModel):
    """Which projects (``advance --where``): names and labels as in listings; at least one field."""

    model_config = ConfigDict(extra="forbid")

    gu: str | None = Field(default=None, min_length=1, max_length=200)
    year: WholeNumber | None = Field(default=None, ge=1900, le=2200)
    state: str | None = Field(default=None, min_length=1, max_length=200)
    workflow: str | None = Field(default=None, min_length=1, max_length=200)


class BulkAdvanceRequest(BaseModel):
    """One trigger on many projects (``dongflow advance TRIGGER --where ... | --keys-from FILE``):
    ``where`` or ``keys``, not both."""

    model_config = ConfigDict(extra="forbid")

    trigger: str = Field(min_length=1, max_length=100)
    where: BulkWhere | None = None
    keys: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, min_length=1,
                                                                                   max_length=50_000)
    note: str | None = Field(default=None, max_length=2000)
    at: EffectiveTime = None
    """The same ``at`` for every project moved (each is checked as a single advance is)."""
    dry_run: bool = False
    """Check only: say what would move and what would be refused; write nothing."""
    partial: bool = False
    """Move the projects that may move and list the others (without it, one refusal and nothing moves)."""


class BulkMove(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    from_: str = Field(alias="from")
    to: str


class BulkRefusal(BaseModel):
    key: str
    reason: str


class BulkAdvanceResult(BaseModel):
    """``advance --where/--keys-from --json``."""

    batch: str
    """The id the moves' events share (in their ``data``)."""
    trigger: str
    dry_run: bool
    moves: list[BulkMove]
    """What moved (or, in a dry run, would move)."""
    refused: list[BulkRefusal]
    """What did not move (or would not), and why."""


class Finding(BaseModel):
    """One item of ``dongflow overdue --json``."""

    key: str
    gu: str
    dong: str
    year: int
    workflow: str
    state: str
    entered_at: str | None
    milestone: str
    milestone_label: str
    due: str
    level: str
    days_late: int | None
    slack_days: int | None
    reason: str
    as_of: str


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)
    """What is being done about it (required)."""


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: str = Field(min_length=1, max_length=40)
    """YYYY-MM-DD: no reminders or escalation before this day."""
    note: str = Field(min_length=1, max_length=2000)
