"""The district rules of the deadline check, the dashboard and the report live in the scoped service
(engine/access.py), not in a door: called directly -- no HTTP, no CLI -- on a real database, a caller
limited to one district gets nothing of another's, and a report of another district is Forbidden."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.access import Principal, ScopedService
from engine.errors import Forbidden, InvalidInput

OWN, OTHER, THIRD = "성동구", "종로구", "광진구"
SEOUL = ZoneInfo("Asia/Seoul")
LATE_DAY = dt.date(2026, 12, 31)
"""Long after the seeded projects' first deadlines: every open one has findings."""

COORDINATOR = Principal.of("c", "coordinator", [OWN])
VIEWER_TWO = Principal.of("w", "viewer", [OWN, THIRD])
OFFICER = Principal.of("o", "officer")


@pytest.fixture
def seeded(initialised_db: str, catalog: Any, now: dt.datetime) -> Any:
    from engine.service import ProjectSpec, Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

    db = Database(initialised_db)
    service = Service(SqlProjectStore(db), catalog)
    for gu, dong in ((OWN, "마장동"), (OWN, "금호1가동"), (OTHER, "교남동"), (OTHER, "사직동")):
        service.add_project(ProjectSpec(key=f"2016-{gu}-{dong}", gu=gu, dong=dong, year=2016), actor="seed", now=now)
    yield db, service
    db.dispose()


def _book(conn: Any, catalog: Any) -> Any:
    from engine.monitor import DeadlineBook
    from storage.tracking import TrackingReader

    return DeadlineBook(catalog, SEOUL, TrackingReader(conn))


def _overdue(seeded: Any, catalog: Any, who: Principal, **filters: Any) -> set[str]:
    from storage.asof import iter_tracked

    db, service = seeded
    with db.read() as conn:
        found = ScopedService(service, who).overdue(_book(conn, catalog), partial(iter_tracked, conn, None),
                                                    LATE_DAY, "en", **filters)
    return {row.gu for row, _finding in found}


def test_overdue_keeps_to_the_callers_districts(seeded, catalog) -> None:  # type: ignore[no-untyped-def]
    assert _overdue(seeded, catalog, OFFICER) == {OWN, OTHER}
    assert _overdue(seeded, catalog, COORDINATOR) == {OWN}
    assert _overdue(seeded, catalog, COORDINATOR, gu=OTHER) == set()  # asking for another's: nothing
    assert _overdue(seeded, catalog, OFFICER, gu=OTHER) == {OTHER}


def test_dashboard_keeps_to_the_callers_districts(seeded, catalog) -> None:  # type: ignore[no-untyped-def]
    from storage.tracking import tracked_rows

    db, service = seeded
    with db.read() as conn:
        def gus(who: Principal) -> list[str]:
            rows = ScopedService(service, who).dashboard(_book(conn, catalog), partial(tracked_rows, conn), LATE_DAY)
            return sorted(row.gu for row, _a in rows)

        assert gus(COORDINATOR) == [OWN, OWN]
        assert gus(OFFICER) == [OWN, OWN, OTHER, OTHER]


def test_a_door_cannot_widen_the_scope(seeded) -> None:  # type: ignore[no-untyped-def]
    """The service names the districts to the reader itself: a door passing its own gets a TypeError."""
    _db, service = seeded
    seen: list[Any] = []
    ScopedService(service, COORDINATOR).tracked(lambda **f: seen.append(f) or [])
    assert seen == [{"districts": frozenset({OWN})}]
    with pytest.raises(TypeError):
        ScopedService(service, COORDINATOR).tracked(lambda **f: [], districts=None)


def test_report_district_rule(seeded) -> None:  # type: ignore[no-untyped-def]
    _db, service = seeded
    mine = ScopedService(service, COORDINATOR)
    assert mine.report_district(None) == OWN and mine.report_district(OWN) == OWN
    with pytest.raises(Forbidden):
        mine.report_district(OTHER)
    two = ScopedService(service, VIEWER_TWO)
    with pytest.raises(InvalidInput, match=f"{THIRD}, {OWN}"):
        two.report_district(None)  # two districts: name one
    assert two.report_district(THIRD) == THIRD
    officer = ScopedService(service, OFFICER)
    assert officer.report_district(None) is None and officer.report_district(OTHER) == OTHER


def test_another_districts_report_is_never_built(seeded, catalog) -> None:  # type: ignore[no-untyped-def]
    from programme.report import ReportBuilder, ReportFilter
    from programme.report_queries import SqlReportSource

    db, service = seeded

    class Refuse:
        def build(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("built a report the caller may not read")

    mine = ScopedService(service, COORDINATOR)
    with pytest.raises(Forbidden):
        mine.report(Refuse(), LATE_DAY, ReportFilter(gu=OTHER))
    builder = ReportBuilder(SqlReportSource(db), catalog, SEOUL)
    report = mine.report(builder, LATE_DAY, ReportFilter(year=2016), ["districts", "late"])
    assert report.filter == ReportFilter(gu=OWN, year=2016)  # their only district, without asking
    cells = {str(cell) for section in report.sections for row in section.rows for cell in row}
    assert OWN in cells and OTHER not in cells
    everything = ScopedService(service, OFFICER).report(builder, LATE_DAY, ReportFilter(), ["districts"])
    assert OTHER in {str(cell) for section in everything.sections for row in section.rows for cell in row}


def test_choices_and_buttons(seeded) -> None:  # type: ignore[no-untyped-def]
    _db, service = seeded

    def stored() -> list[str]:
        raise AssertionError("a limited caller's choices need no query")

    mine = ScopedService(service, COORDINATOR)
    assert mine.limited and mine.read_districts() == [OWN] and mine.districts(stored) == [OWN]
    officer = ScopedService(service, OFFICER)
    assert not officer.limited and officer.read_districts() is None
    assert officer.districts(lambda: [OTHER, OWN, OTHER]) == [OWN, OTHER]
    own, other = (service.project(f"2016-{gu}-{dong}") for gu, dong in ((OWN, "마장동"), (OTHER, "교남동")))
    assert mine.may_write(own) and not mine.may_write(other)
    assert not ScopedService(service, VIEWER_TWO).may_write(own)


def test_no_door_decides_districts_itself() -> None:
    """web/ and commands/ never read a principal's districts or raise Forbidden: the service does."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"\.read_scope|\.write_scope|principal\.districts|\.can_(read|write)\(|Forbidden\(")
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}"
             for folder in ("web", "commands") for path in sorted((root / folder).rglob("*.py"))
             for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == []
