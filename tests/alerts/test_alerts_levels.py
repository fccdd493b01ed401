"""Milestone levels, escalation boundaries and the at-risk forecast, for exact as-of dates (pure).

The shipped workflow's 2016 due dates (1 July target, ``roll: previous``): agreement_signed 22 Feb
(Mon), design_presented 8 Mar, design_approved 23 Mar, tender_announced 31 Mar, works_started
1 May (a Sunday) -> 29 Apr, completed 1 Jul. Warnings: due soon 14 days ahead, escalated when more
than 14 days overdue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from alertkit import SEOUL, build_project

from engine.catalog import Catalog
from engine.deadlines import (
    AT_RISK,
    LATE_START,
    DUE_SOON,
    ESCALATED,
    MET,
    MET_LATE,
    OVERDUE,
    PENDING,
    DeadlinePlanner,
    declared_durations,
    findings,
    observed_durations,
)
from engine.loader import load_text
from engine.monitor import DeadlineBook
from workflows import SHIPPED_DIR

D = dt.date
SURVEY_ONLY = {"created": D(2016, 1, 4)}


@pytest.fixture(scope="module")
def planner(catalog: Catalog) -> DeadlinePlanner:
    return DeadlinePlanner(catalog.latest("space-improvement"), SEOUL)


def level_of(planner: DeadlinePlanner, project, milestone: str, as_of: dt.date):
    status = {s.milestone.id: s for s in planner.assess(project, as_of).milestones}[milestone]
    return status.level, status.days, status.due


def test_due_dates_of_the_2016_cohort(planner: DeadlinePlanner) -> None:
    dues = {m.id: due for m, due in planner.dues(D(2016, 7, 1), 2016)}
    assert dues == {
        "agreement_signed": D(2016, 2, 22),
        "design_presented": D(2016, 3, 8),
        "design_approved": D(2016, 3, 23),
        "tender_announced": D(2016, 3, 31),
        "works_started": D(2016, 4, 29),  # 1 May 2016 is a Sunday
        "completed": D(2016, 7, 1),
    }


@pytest.mark.parametrize(
    ("as_of", "level", "days"),
    [
        (D(2016, 2, 7), PENDING, 15),  # one day outside the 14-day window
        (D(2016, 2, 8), DUE_SOON, 14),  # first day of the window
        (D(2016, 2, 22), DUE_SOON, 0),  # the due date itself is not late
        (D(2016, 2, 23), OVERDUE, 1),
        (D(2016, 3, 7), OVERDUE, 14),  # overdue by exactly the threshold: not yet escalated
        (D(2016, 3, 8), ESCALATED, 15),  # more than 14 days
        (D(2016, 6, 30), ESCALATED, 129),
    ],
)
def test_levels_of_an_unreached_milestone(catalog: Catalog, planner: DeadlinePlanner, as_of, level, days) -> None:
    p, _ = build_project(catalog, "2016-종로구-삼청동", "종로구", "삼청동", **SURVEY_ONLY)
    assert level_of(planner, p, "agreement_signed", as_of) == (level, days, D(2016, 2, 22))


@pytest.mark.parametrize(
    ("reached", "as_of", "level", "days"),
    [
        (D(2016, 2, 15), D(2016, 2, 20), MET, 0),
        (D(2016, 2, 22), D(2016, 3, 1), MET, 0),  # on the due date
        (D(2016, 2, 25), D(2016, 3, 1), MET_LATE, 3),
        (D(2016, 3, 20), D(2016, 4, 1), MET_LATE, 27),
    ],
)
def test_reached_milestones_are_met_or_met_late_with_the_days(
    catalog: Catalog, planner: DeadlinePlanner, reached, as_of, level, days
) -> None:
    p, _ = build_project(catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4), steps=[("agree", reached)])
    assert level_of(planner, p, "agreement_signed", as_of) == (level, days, D(2016, 2, 22))
    status = {s.milestone.id: s for s in planner.assess(p, as_of).milestones}["agreement_signed"]
    assert status.reached_on == reached
    assert not [f for f in findings(planner, p, as_of) if f.milestone == "agreement_signed"]


def test_the_day_a_milestone_is_reached_is_the_day_in_seoul(catalog: Catalog, planner: DeadlinePlanner) -> None:
    """22 Feb 16:00 UTC is 23 Feb 01:00 in Seoul: one day late, although the UTC date is the due date."""
    p, _ = build_project(catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4), steps=[("agree", D(2016, 2, 23))])
    late_night = dt.datetime(2016, 2, 22, 16, 0, tzinfo=dt.UTC)
    p = dataclasses.replace(p, reached={**p.reached, "agreement": late_night}, entered_at=late_night)
    assert level_of(planner, p, "agreement_signed", D(2016, 3, 1)) == (MET_LATE, 1, D(2016, 2, 22))
    on_time = dt.datetime(2016, 2, 22, 14, 59, tzinfo=dt.UTC)  # 23:59 in Seoul
    p = dataclasses.replace(p, reached={**p.reached, "agreement": on_time}, entered_at=on_time)
    assert level_of(planner, p, "agreement_signed", D(2016, 3, 1)) == (MET, 0, D(2016, 2, 22))


def test_a_skipped_or_later_state_satisfies_an_earlier_milestone(catalog: Catalog, planner: DeadlinePlanner) -> None:
    p, _ = build_project(
        catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4),
        steps=[("agree", D(2016, 2, 1)), ("present_design", D(2016, 2, 20)), ("approve_design", D(2016, 3, 10)),
               ("announce_tender", D(2016, 3, 25))],
    )
    a = planner.assess(p, D(2016, 5, 20))
    levels = {s.milestone.id: (s.level, s.days) for s in a.milestones}
    assert levels == {
        "agreement_signed": (MET, 0),
        "design_presented": (MET, 0),
        "design_approved": (MET, 0),
        "tender_announced": (MET, 0),
        "works_started": (ESCALATED, 21),
        "completed": (PENDING, 42),
    }


def test_escalation_threshold_and_warning_window_come_from_the_workflow_file(catalog: Catalog) -> None:
    text = (SHIPPED_DIR / "space-improvement.yaml").read_text(encoding="utf-8")
    text = text.replace("due_soon_days: 14", "due_soon_days: 3").replace("escalate_after_days: 14", "escalate_after_days: 2")
    text = text.replace("version: 1", "version: 2", 1)
    planner = DeadlinePlanner(load_text(text, "custom.yaml"), SEOUL)
    p, _ = build_project(catalog, "k", "종로구", "삼청동", **SURVEY_ONLY)
    expected = [
        (D(2016, 2, 18), PENDING, 4),
        (D(2016, 2, 19), DUE_SOON, 3),
        (D(2016, 2, 24), OVERDUE, 2),
        (D(2016, 2, 25), ESCALATED, 3),
    ]
    for as_of, level, days in expected:
        assert level_of(planner, p, "agreement_signed", as_of)[:2] == (level, days), as_of


def test_a_past_as_of_date_ignores_later_history(catalog: Catalog, planner: DeadlinePlanner) -> None:
    p, _ = build_project(
        catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4),
        steps=[("agree", D(2016, 3, 1)), ("present_design", D(2016, 3, 20))],
    )
    before = planner.assess(p, D(2016, 2, 25))
    assert before.state == "survey"
    assert level_of(planner, p, "agreement_signed", D(2016, 2, 25))[:2] == (OVERDUE, 3)
    assert level_of(planner, p, "design_presented", D(2016, 2, 25))[:2] == (DUE_SOON, 12)
    between = planner.assess(p, D(2016, 3, 10))
    assert between.state == "agreement"
    assert level_of(planner, p, "agreement_signed", D(2016, 3, 10))[:2] == (MET_LATE, 8)
    assert level_of(planner, p, "design_presented", D(2016, 3, 10))[:2] == (OVERDUE, 2)
    # The forecast of a past day starts from the state of that day.
    assert before.risk is not None and before.risk.remaining[0][0] == "survey"
    assert between.risk is not None and between.risk.remaining[0][0] == "agreement"


def test_a_cancelled_project_produces_nothing(catalog: Catalog, planner: DeadlinePlanner) -> None:
    p, _ = build_project(catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4), steps=[("cancel", D(2016, 3, 1))])
    assert findings(planner, p, D(2016, 5, 20)) == []
    a = planner.assess(p, D(2016, 5, 20))
    assert a.closed and a.milestones == () and a.risk is None
    # Before it was cancelled it was an ordinary late project.
    assert {f.level for f in findings(planner, p, D(2016, 2, 25))} == {OVERDUE, DUE_SOON, AT_RISK, LATE_START}


# -- at risk ---------------------------------------------------------------------------------------
# Declared course from the survey: 14 + 14 + 21 + 35 + 21 + 55 = 160 days. On 7 Feb 2016 (145 days
# before 1 July) a project that only now starts its survey can finish on 16 July at the earliest.


def starting_late(catalog: Catalog, day: dt.date = D(2016, 2, 7)):
    return build_project(catalog, "2016-마포구-서강동", "마포구", "서강동", created=day)[0]


def test_at_risk_before_any_milestone_is_missed_with_declared_durations(catalog: Catalog, planner: DeadlinePlanner) -> None:
    p = starting_late(catalog)
    a = planner.assess(p, D(2016, 2, 7))
    assert {s.level for s in a.milestones} == {PENDING}
    assert a.risk is not None and a.risk.at_risk
    assert a.risk.earliest == D(2016, 7, 16)
    assert a.risk.slack_days == -15
    assert a.risk.basis == "declared"
    assert a.risk.remaining == (("survey", 14), ("agreement", 14), ("design_review", 21), ("detailed_design", 35),
                                ("tender", 21), ("construction", 55))
    [f] = [f for f in findings(planner, p, D(2016, 2, 7)) if f.level == AT_RISK]
    assert (f.level, f.milestone, f.due, f.days) == (AT_RISK, "completed", D(2016, 7, 1), 15)
    assert "15 days after the target 2016-07-01" in f.reason and "declared durations" in f.reason


def test_one_day_of_slack_is_not_at_risk(catalog: Catalog, planner: DeadlinePlanner) -> None:
    # Starting on 22 Jan: earliest 30 June, one day before the target.
    p = starting_late(catalog, D(2016, 1, 22))
    a = planner.assess(p, D(2016, 1, 22))
    assert a.risk is not None and (a.risk.at_risk, a.risk.slack_days) == (False, 1)
    p = starting_late(catalog, D(2016, 1, 23))
    a = planner.assess(p, D(2016, 1, 23))
    assert a.risk is not None and (a.risk.at_risk, a.risk.slack_days) == (False, 0)
    p = starting_late(catalog, D(2016, 1, 24))
    a = planner.assess(p, D(2016, 1, 24))
    assert a.risk is not None and (a.risk.at_risk, a.risk.slack_days) == (True, -1)


def test_time_already_spent_in_a_state_counts(catalog: Catalog, planner: DeadlinePlanner) -> None:
    p = starting_late(catalog, D(2016, 1, 10))  # 150 + 10 elapsed in survey
    a = planner.assess(p, D(2016, 1, 20))
    assert a.risk is not None and a.risk.remaining[0] == ("survey", 4)
    assert a.risk.earliest == D(2016, 1, 20) + dt.timedelta(days=150)


def completed_history(durations: dict[str, int], start: dt.date) -> dict[str, dt.datetime]:
    at = dt.datetime.combine(start, dt.time(10), SEOUL)
    reached = {}
    for state in ("survey", "agreement", "design_review", "detailed_design", "tender", "construction"):
        reached[state] = at
        at += dt.timedelta(days=durations[state])
    reached["completed"] = at
    return reached


FAST = {"survey": 10, "agreement": 10, "design_review": 15, "detailed_design": 30, "tender": 20, "construction": 40}


def test_observed_durations_replace_declared_ones_once_five_projects_completed(catalog: Catalog) -> None:
    wf = catalog.latest("space-improvement")
    four = [completed_history(FAST, D(2015, 1, 5 + i)) for i in range(4)]
    assert observed_durations(wf, four).basis == "declared"
    assert observed_durations(wf, four) == declared_durations(wf)

    # Five completed projects; construction took 40, 40, 41, 60 and 90 days: the median is 41.
    histories = [completed_history({**FAST, "construction": c}, D(2015, 1, 5 + i)) for i, c in enumerate((40, 60, 41, 90, 40))]
    durations = observed_durations(wf, histories)
    assert durations.basis == "observed (median of 5 completed)"
    assert durations.days["construction"] == 41
    assert durations.days["survey"] == 10
    assert durations.days["design_revision"] == 14  # never observed: the declared value stays

    planner = DeadlinePlanner(wf, SEOUL, durations)
    p = starting_late(catalog)
    a = planner.assess(p, D(2016, 2, 7))
    assert a.risk is not None and not a.risk.at_risk  # 10+10+15+30+20+41 = 126 days: 12 June
    assert a.risk.earliest == D(2016, 6, 12)
    assert a.risk.basis == "observed (median of 5 completed)"
    assert findings(planner, p, D(2016, 2, 7)) == []

    # Slower history makes the same project at risk, and the reason says the durations were observed.
    slow = [completed_history({**FAST, "construction": 90}, D(2015, 1, 5 + i)) for i in range(5)]
    planner = DeadlinePlanner(wf, SEOUL, observed_durations(wf, slow))
    [f] = [f for f in findings(planner, p, D(2016, 2, 7)) if f.level == AT_RISK]
    assert f.level == AT_RISK and f.days == 175 - 145
    assert "observed (median of 5 completed) durations" in f.reason


def test_projects_not_completed_do_not_count_as_history(catalog: Catalog) -> None:
    wf = catalog.latest("space-improvement")
    unfinished = []
    for i in range(6):
        h = completed_history(FAST, D(2015, 1, 5 + i))
        del h["completed"]
        unfinished.append(h)
    assert observed_durations(wf, unfinished).basis == "declared"


def test_the_deadline_book_uses_observed_durations_from_its_source(catalog: Catalog) -> None:
    histories = [completed_history(FAST, D(2015, 1, 5 + i)) for i in range(5)]

    class Source:
        def completed_reached(self, workflow_id: str, target_state: str) -> list:
            assert (workflow_id, target_state) == ("space-improvement", "completed")
            return histories

    book = DeadlineBook(catalog, SEOUL, Source())
    p = starting_late(catalog)
    [(_, a)] = book.assess([p], D(2016, 2, 7))
    assert a.risk is not None and a.risk.basis == "observed (median of 5 completed)" and not a.risk.at_risk
    [(_, a)] = DeadlineBook(catalog, SEOUL).assess([p], D(2016, 2, 7))
    assert a.risk is not None and a.risk.basis == "declared" and a.risk.at_risk


def test_on_hold_forecasts_from_the_held_state_with_its_whole_duration(catalog: Catalog, planner: DeadlinePlanner) -> None:
    p, _ = build_project(
        catalog, "k", "성동구", "행당1동", created=D(2016, 1, 4),
        steps=[("agree", D(2016, 1, 18)), ("present_design", D(2016, 2, 1)), ("approve_design", D(2016, 2, 20)),
               ("hold", D(2016, 3, 1))],
    )
    assert (p.state, p.previous_state) == ("on_hold", "detailed_design")
    as_of = D(2016, 3, 10)
    a = planner.assess(p, as_of)
    assert a.risk is not None
    assert a.risk.remaining == (("detailed_design", 35), ("tender", 21), ("construction", 55))
    assert a.risk.earliest == as_of + dt.timedelta(days=111)  # 29 June: two days of slack
    assert not a.risk.at_risk and a.risk.slack_days == 2
    # A week later the same hold makes it at risk, though no milestone is overdue yet.
    later = D(2016, 3, 17)
    a = planner.assess(p, later)
    assert a.risk is not None and a.risk.at_risk and a.risk.slack_days == -5
    assert {f.level for f in findings(planner, p, later)} == {DUE_SOON, AT_RISK}


def test_being_put_on_hold_does_not_meet_the_milestones_after_it(catalog: Catalog, planner: DeadlinePlanner) -> None:
    """Held in detailed design on 1 March: the tender and works milestones are still missed, and
    stay missed after the project resumes (entering on_hold is not entering tender)."""
    steps = [("agree", D(2016, 1, 18)), ("present_design", D(2016, 2, 1)), ("approve_design", D(2016, 2, 20)),
             ("hold", D(2016, 3, 1))]
    held, _ = build_project(catalog, "k", "성동구", "행당1동", created=D(2016, 1, 4), steps=steps)
    levels = {s.milestone.id: (s.level, s.days) for s in planner.assess(held, D(2016, 5, 20)).milestones}
    assert levels["tender_announced"] == (ESCALATED, 50)
    assert levels["works_started"] == (ESCALATED, 21)
    resumed, _ = build_project(catalog, "k", "성동구", "행당1동", created=D(2016, 1, 4),
                               steps=[*steps, ("resume", D(2016, 4, 1)), ("announce_tender", D(2016, 4, 5))])
    levels = {s.milestone.id: (s.level, s.days) for s in planner.assess(resumed, D(2016, 5, 20)).milestones}
    assert levels["tender_announced"] == (MET_LATE, 5)
    assert levels["works_started"] == (ESCALATED, 21)


# -- reasons in Korean -----------------------------------------------------------------------------


def test_reasons_in_korean_name_the_stages_by_their_labels(catalog: Catalog, planner: DeadlinePlanner) -> None:
    at_risk = starting_late(catalog)
    [f] = [f for f in findings(planner, at_risk, D(2016, 2, 7), "ko") if f.level == AT_RISK]
    assert f.reason == (
        "가장 빠른 준공 예상일 2016-07-16, 목표일 2016-07-01보다 15일 늦음 "
        "(현장조사 14일, 사업협약 14일, 설계(안) 보고회 21일, 실시설계 35일, 발주 21일, 시공 55일; "
        "워크플로의 예상 소요일 기준)"
    )
    late, _ = build_project(catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4))
    by_milestone = {f.milestone: f for f in findings(planner, late, D(2016, 2, 25), "ko")}
    assert by_milestone["agreement_signed"].reason == "사업협약 단계 미도달: 기한 2016-02-22에서 3일 지남"
    assert by_milestone["design_presented"].reason == "설계(안) 보고회 단계 미도달: 기한 2016-03-08까지 12일 남음"
    # The English default is unchanged.
    assert findings(planner, late, D(2016, 2, 25))[0].reason == "agreement not reached; 3 days past the due date 2016-02-22"
