"""Budget lines and plan figures are upserts (INSERT .. ON CONFLICT DO UPDATE): writers setting the same
new line at the same moment all succeed and leave one row, on SQLite and PostgreSQL. (As UPDATE-then-
INSERT, two PostgreSQL writers could both find no row and the second failed on the unique key.)"""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select

from programme.records import BudgetLine, PlanQuarter, PlanYear

WRITERS = 6
ROUNDS = 12


def _race(work) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []
    for round_ in range(ROUNDS):
        barrier = threading.Barrier(WRITERS)

        def run(n: int, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(timeout=30)
                work(n, round_)
            except BaseException as exc:  # noqa: BLE001 - collected and reported by the test
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    return errors


def test_concurrent_budget_and_plan_upserts_all_succeed_with_one_row_each(db, service) -> None:  # type: ignore[no-untyped-def]
    from engine.service import ProjectSpec
    from programme.repository import GB, PB, PQ, PY, SqlProgrammeStore

    now = dt.datetime(2016, 3, 1, tzinfo=dt.timezone.utc)
    service.add_project(ProjectSpec("2016-성동구-마장동", "성동구", "마장동", 2016), actor="a", now=now)
    store = SqlProgrammeStore(db)

    def work(n: int, round_: int) -> None:
        year = 2000 + round_
        store.put_budgets([BudgetLine(year, 1000 + n, n, key="2016-성동구-마장동"),
                           BudgetLine(year, 2000 + n, n, item="준비")], f"w{n}", now)
        store.put_plan([PlanQuarter(year, 3, 10 + n)], [PlanYear(year, 5000 + n)], f"w{n}", now)

    errors = _race(work)
    assert errors == []
    with db.read() as conn:
        for table in (PB, GB, PQ, PY):
            per_year = dict(conn.execute(select(table.c.year, func.count()).group_by(table.c.year)).all())
            assert per_year == {2000 + r: 1 for r in range(ROUNDS)}, table.name
        allocated = set(conn.execute(select(PB.c.allocated)).scalars())
    assert allocated <= {1000 + n for n in range(WRITERS)}
