"""Calibrated risk: the probability that a project misses its target, from the observed distribution of
each state's duration (not only its median), and a backtest of those probabilities against the record.

The remaining time of an open project is the sum of independent state durations along its remaining
course (the one the forecast uses): for the current state, what is left of it given the days already
spent there (the observed durations longer than that, less those days); for each state ahead, its
whole observed duration. The distribution of the sum is computed exactly (convolution of the per-state
histograms, in whole days), or by a seeded simulation; a project misses when the day the sum ends --
blackout working days not counting, as everywhere -- falls after its target.

Durations: the days from first entering a state to first entering the next, over completed projects
(loops and holds inside, as the median forecast counts them), once at least ``MIN_OBSERVED``
completed projects have a sample for the state; before that the workflow's declared ``expected_days``
as a certain value, and the basis says so. Pure: rows, dates and seeds in; numbers out.
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from engine.backward import finish_for
from engine.blackouts import NO_DAYS
from engine.deadlines import (
    MIN_OBSERVED,
    DeadlinePlanner,
    Durations,
    Tracked,
    declared_durations,
    observed_durations,
)
from engine.definition import Workflow

Histogram = Mapping[int, float]
"""Days -> probability (summing to 1)."""


@dataclass(frozen=True)
class DurationModel:
    """Each state's duration distribution for one workflow, and where it comes from."""

    workflow_ref: str
    samples: Mapping[str, tuple[int, ...]]
    """Observed days per state (sorted); a state absent here uses its declared days."""
    declared: Mapping[str, int]
    completed: int
    """Completed projects the samples come from (0: all declared)."""

    def basis(self, lang: str = "en") -> str:
        observed = sorted(self.samples)
        if not observed:
            if lang == "ko":
                return f"워크플로 {self.workflow_ref}의 예상 소요일 (완료 {self.completed}건, {MIN_OBSERVED}건 미만)"
            return f"declared durations of {self.workflow_ref} ({self.completed} completed, fewer than {MIN_OBSERVED})"
        if lang == "ko":
            return f"{self.workflow_ref} 완료 {self.completed}건의 단계별 실제 소요 분포 ({len(observed)}개 단계)"
        return (f"observed duration distributions of {self.completed} completed {self.workflow_ref} projects "
                f"({len(observed)} states; declared for the rest)")

    def histogram(self, state: str, elapsed: int = 0) -> dict[int, float]:
        """The days still needed in ``state`` after ``elapsed`` days in it."""
        values = self.samples.get(state)
        if not values:
            return {max(0, self.declared.get(state, 0) - elapsed): 1.0}
        longer = values[bisect_right(values, elapsed):]
        if not longer:
            return {0: 1.0}  # longer than anything observed: it may end any day; no more is known
        share = 1.0 / len(longer)
        out: dict[int, float] = {}
        for v in longer:
            out[v - elapsed] = out.get(v - elapsed, 0.0) + share
        return out

    def draw(self, state: str, elapsed: int, rng: random.Random) -> int:
        values = self.samples.get(state)
        if not values:
            return max(0, self.declared.get(state, 0) - elapsed)
        longer = values[bisect_right(values, elapsed):]
        return rng.choice(longer) - elapsed if longer else 0


def duration_model(workflow_ref: str, declared: Mapping[str, int], completed: Iterable[Mapping[str, dt.datetime]],
                   target_state: str, minimum: int = MIN_OBSERVED) -> DurationModel:
    """Per-state samples from completed projects' first-entry times (see :func:`engine.deadlines.observed_durations`)."""
    samples: dict[str, list[int]] = {}
    count = 0
    for reached in completed:
        if target_state not in reached:
            continue
        count += 1
        ordered = sorted(reached.items(), key=lambda item: item[1])
        for (state, start), (_, end) in zip(ordered, ordered[1:]):
            samples.setdefault(state, []).append(max(0, round((end - start).total_seconds() / 86400)))
    if count < minimum:
        return DurationModel(workflow_ref, {}, dict(declared), count)
    kept = {s: tuple(sorted(v)) for s, v in samples.items() if len(v) >= minimum and s in declared}
    return DurationModel(workflow_ref, kept, dict(declared), count)


def convolve(a: Mapping[int, float], b: Mapping[int, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for da, pa in a.items():
        for db, pb in b.items():
            out[da + db] = out.get(da + db, 0.0) + pa * pb
    return out


@dataclass(frozen=True)
class ProjectRisk:
    key: str
    probability: float
    """Probability of missing the target, in [0, 1]."""
    median_late: bool
    """The median-only forecast's verdict (the earlier at-risk flag)."""
    earliest_median: dt.date | None
    state: str
    basis: str
    method: str
    basis_ko: str = ""
    method_ko: str = ""


class RiskEstimator:
    """Miss probabilities for projects of one workflow version (a planner and a duration model)."""

    def __init__(self, planner: DeadlinePlanner, model: DurationModel) -> None:
        self.planner = planner
        self.model = model
        self._rest: dict[str, tuple[list[int], list[float]]] = {}

    def _rest_cdf(self, course_from: str, path: Sequence[str]) -> tuple[list[int], list[float]]:
        """The distribution of the states after the first one on a course, as sorted days and CDF."""
        found = self._rest.get(course_from)
        if found is None:
            hist: dict[int, float] = {0: 1.0}
            for state in path[1:]:
                hist = convolve(hist, self.model.histogram(state))
            days = sorted(hist)
            cdf, total = [], 0.0
            for d in days:
                total += hist[d]
                cdf.append(total)
            found = self._rest[course_from] = (days, cdf)
        return found

    def _allowance(self, as_of: dt.date, target: dt.date, off: frozenset[dt.date]) -> int:
        """The most days of work that still end by the target (blackout working days not counting)."""
        if not off:
            return (target - as_of).days
        working = self.planner.calendar.is_working_day
        days = (target - as_of).days
        while days > 0 and finish_for(as_of, days, working, off) > target:
            days -= 1
        return days

    def assess(self, p: Tracked, as_of: dt.date, off: frozenset[dt.date] = NO_DAYS,
               simulate: int = 0, seed: int = 0) -> ProjectRisk | None:
        """The risk of an open project on ``as_of`` (None when closed or off the course)."""
        planner = self.planner
        state, entered = planner.state_on(p, as_of)
        if state in planner.finals:
            return None
        course = planner.course(p, state, entered, as_of)
        if course is None:
            return None
        course_from, start, path = course
        elapsed = max(0, (as_of - start).days)
        allowance = self._allowance(as_of, p.target, off)
        first = self.model.histogram(course_from, elapsed)
        if simulate:
            rng = random.Random(f"{seed}:{p.key}:{as_of.isoformat()}")
            misses = 0
            for _ in range(simulate):
                total = self.model.draw(course_from, elapsed, rng)
                total += sum(self.model.draw(s, 0, rng) for s in path[1:])
                misses += total > allowance
            probability = misses / simulate
            method = f"simulation ({simulate} runs, seed {seed})"
            method_ko = f"시뮬레이션 {simulate}회, seed {seed}"
        else:
            days, cdf = self._rest_cdf(course_from, path)
            within = 0.0
            for d, pd in first.items():
                room = allowance - d
                if room < 0:
                    continue
                i = bisect_right(days, room)
                within += pd * (cdf[i - 1] if i else 0.0)
            probability = min(1.0, max(0.0, 1.0 - within))
            method = "exact convolution"
            method_ko = "분포의 정확한 합성곱"
        risk = planner.forecast(p, state, entered, as_of, off)
        return ProjectRisk(p.key, round(probability, 6), bool(risk and risk.at_risk), risk.earliest if risk else None,
                           state, self.model.basis(), method, self.model.basis("ko"), method_ko)


# -- the backtest ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    key: str
    as_of: dt.date
    probability: float
    median_late: bool
    missed: bool


@dataclass(frozen=True)
class Backtest:
    predictions: tuple[Prediction, ...]
    excluded: int
    """Open projects whose outcome is not known yet (target not passed, not completed) or cancelled."""

    @property
    def brier(self) -> float | None:
        n = len(self.predictions)
        return sum((x.probability - x.missed) ** 2 for x in self.predictions) / n if n else None

    @property
    def median_accuracy(self) -> float | None:
        n = len(self.predictions)
        return sum(x.median_late == x.missed for x in self.predictions) / n if n else None

    @property
    def miss_rate(self) -> float | None:
        n = len(self.predictions)
        return sum(x.missed for x in self.predictions) / n if n else None

    @property
    def mean_probability(self) -> float | None:
        n = len(self.predictions)
        return sum(x.probability for x in self.predictions) / n if n else None

    def calibration(self) -> list[tuple[int, int, float | None, float | None]]:
        """Per predicted decile (0 = [0, 0.1), ..., 9 = [0.9, 1]): count, mean predicted, observed share."""
        buckets: list[list[Prediction]] = [[] for _ in range(10)]
        for x in self.predictions:
            buckets[min(9, int(x.probability * 10))].append(x)
        out = []
        for i, items in enumerate(buckets):
            n = len(items)
            out.append((i, n, sum(x.probability for x in items) / n if n else None,
                        sum(x.missed for x in items) / n if n else None))
        return out


def outcome(planner: DeadlinePlanner, p: Tracked, data_end: dt.date) -> bool | None:
    """Whether a project missed its target, as the record shows by ``data_end``; None if not known yet
    (open, target not passed) or if it was closed without reaching the target (cancelled)."""
    target_state = planner.workflow.target.state
    done = p.reached.get(target_state)
    if done is not None:
        day = planner.local_date(done)
        if day <= data_end:
            return day > p.target
    state, _ = planner.state_on(p, data_end)
    if state in planner.finals:
        return None
    return True if data_end > p.target else None


def backtest(
    rows: Sequence[Tracked],
    dates: Sequence[dt.date],
    data_end: dt.date,
    workflow_for: Callable[[str, int], Workflow],
    make_planner: Callable[[Workflow, Durations], DeadlinePlanner],
    off_for: Callable[[Tracked], frozenset[dt.date]] = lambda row: NO_DAYS,
) -> Backtest:
    """Replay the record as of each of ``dates``: for every project open and started then, the miss
    probability and the median forecast made from what was known that day (only projects completed by
    then), compared with what happened by ``data_end``."""
    predictions: list[Prediction] = []
    excluded = 0
    by_workflow: dict[str, list[Tracked]] = {}
    for r in rows:
        by_workflow.setdefault(r.workflow_id, []).append(r)
    for day in dates:
        estimators: dict[tuple[str, int], RiskEstimator] = {}
        for wf_id, members in by_workflow.items():
            versions = sorted({r.workflow_version for r in members})
            latest = workflow_for(wf_id, versions[-1])
            target_state = latest.target.state
            probe = make_planner(latest, declared_durations(latest))
            done = [r.reached for r in members
                    if target_state in r.reached and probe.local_date(r.reached[target_state]) <= day]
            durations = observed_durations(latest, done)
            for version in versions:
                wf = workflow_for(wf_id, version)
                declared = declared_durations(wf).days
                model = duration_model(wf.ref, declared, done, target_state)
                fitted = Durations({**declared, **{s: d for s, d in durations.observed.items() if s in declared}},
                                   {s: d for s, d in durations.observed.items() if s in declared}, durations.samples)
                estimators[(wf_id, version)] = RiskEstimator(make_planner(wf, fitted), model)
        for r in rows:
            estimator = estimators[(r.workflow_id, r.workflow_version)]
            planner = estimator.planner
            first = min((planner.local_date(at) for at in r.reached.values()), default=None)
            if first is None or first > day:
                continue  # not started yet
            risk = estimator.assess(r, day, off_for(r))
            if risk is None:
                continue
            missed = outcome(planner, r, data_end)
            if missed is None:
                excluded += 1
                continue
            predictions.append(Prediction(r.key, day, risk.probability, risk.median_late, missed))
    return Backtest(tuple(predictions), excluded)
