"""engine/access.py: the role rules and the scoped service, on the in-memory store (no database)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.access import ROLES, Principal, ScopedService, check_role_districts, scoped_query
from engine.errors import Forbidden, InvalidInput, ProjectNotFound
from engine.ports import ProjectQuery
from engine.service import ProjectSpec, Service
from support import MemoryStore

OWN, OTHER = "성동구", "종로구"


@pytest.fixture
def memory(core_catalog, now):  # type: ignore[no-untyped-def]
    store = MemoryStore()
    service = Service(store, core_catalog)
    for i, gu in enumerate([OWN, OWN, OTHER, OTHER, OTHER]):
        service.add_project(ProjectSpec(key=f"2016-{gu}-{i}", gu=gu, dong=f"동{i}", year=2016), actor="seed", now=now)
    return store, service


PEOPLE = {
    "operator": Principal.operator("kim at the server"),
    "admin": Principal.of("a", "admin"),
    "officer": Principal.of("o", "officer"),
    "coordinator": Principal.of("c", "coordinator", [OWN]),
    "viewer_all": Principal.of("v", "viewer"),
    "viewer_own": Principal.of("w", "viewer", [OWN]),
}
#                    read own, read other, write own, write other, admin
EXPECTED = {
    "operator": (True, True, True, True, True),
    "admin": (True, True, False, False, True),
    "officer": (True, True, True, True, False),
    "coordinator": (True, False, True, False, False),
    "viewer_all": (True, True, False, False, False),
    "viewer_own": (True, False, False, False, False),
}


@pytest.mark.parametrize("who", PEOPLE)
def test_the_rules(who: str) -> None:
    p = PEOPLE[who]
    assert (p.can_read(OWN), p.can_read(OTHER), p.can_write(OWN), p.can_write(OTHER), p.can_admin) == EXPECTED[who]


def test_unknown_roles_and_coordinators_without_districts_reach_nothing() -> None:
    ghost = Principal("x", "superuser")
    assert not ghost.can_read(OWN) and not ghost.can_write(OWN) and not ghost.can_admin
    nowhere = Principal.of("c", "coordinator", [])  # only a row edited by hand can say this
    assert nowhere.districts == frozenset() and not nowhere.can_read(OWN) and not nowhere.can_write(OWN)
    assert Principal.of("v", "viewer", []).districts is None


def test_role_districts() -> None:
    assert check_role_districts("coordinator", [OWN, " 광진구", OWN]) == ("광진구", OWN)
    assert check_role_districts("viewer", []) == ()
    for role, gus in (("coordinator", []), ("officer", [OWN]), ("admin", [OWN]), ("root", [])):
        with pytest.raises(InvalidInput):
            check_role_districts(role, gus)
    assert set(ROLES) == {"admin", "officer", "coordinator", "viewer"}
    known = [OTHER, OWN]  # a door passes the programme's list (programme.places.seoul_districts)
    assert check_role_districts("viewer", [OWN], known) == (OWN,)
    with pytest.raises(InvalidInput, match=r"unknown district '성동' \(valid: 종로구, 성동구\)$"):
        check_role_districts("coordinator", [OWN, "성동"], known)


def test_scoped_query_intersects() -> None:
    c = PEOPLE["coordinator"]
    assert scoped_query(c, ProjectQuery()).districts == frozenset({OWN})
    assert scoped_query(c, ProjectQuery(districts=frozenset({OTHER}))).districts == frozenset()
    assert scoped_query(PEOPLE["officer"], ProjectQuery()).districts is None


def test_listing_and_counting_are_scoped(memory) -> None:  # type: ignore[no-untyped-def]
    _store, service = memory
    mine = ScopedService(service, PEOPLE["coordinator"])
    assert [p.gu for p in mine.status(ProjectQuery())] == [OWN, OWN]
    assert mine.count(ProjectQuery()) == 2 and mine.count(ProjectQuery(gu=OTHER)) == 0
    page = mine.status(ProjectQuery(limit=1, offset=1))
    assert len(page) == 1 and page[0].gu == OWN
    assert ScopedService(service, PEOPLE["viewer_all"]).count(ProjectQuery()) == 5


def test_another_district_is_not_found_and_nothing_changes(memory, now) -> None:  # type: ignore[no-untyped-def]
    store, service = memory
    mine = ScopedService(service, PEOPLE["coordinator"])
    before = store.snapshot()
    hidden = f"2016-{OTHER}-2"
    for call in (lambda: mine.project(hidden), lambda: mine.history(hidden), lambda: mine.status(ProjectQuery(key=hidden)),
                 lambda: mine.advance(hidden, "hold", note="x", now=now),
                 lambda: mine.set_fact(hidden, "design_revisions", "1", now=now)):
        with pytest.raises(ProjectNotFound) as info:
            call()
        with pytest.raises(ProjectNotFound) as missing:
            mine.project("2016-종로구-없음")
        assert str(info.value).replace(hidden, "K") == str(missing.value).replace("2016-종로구-없음", "K")
    with pytest.raises(Forbidden):
        mine.add_project(ProjectSpec(key="2017-x", gu=OTHER, dong="d", year=2017), now=now)
    assert store.snapshot() == before


def test_writes_need_the_right_and_record_the_principal(memory, now) -> None:  # type: ignore[no-untyped-def]
    store, service = memory
    key = f"2016-{OWN}-0"
    before = store.snapshot()
    for who in ("viewer_own", "viewer_all", "admin"):
        with pytest.raises(Forbidden):
            ScopedService(service, PEOPLE[who]).advance(key, "hold", note="x", now=now)
    assert store.snapshot() == before
    coordinator = ScopedService(service, PEOPLE["coordinator"])
    _p, event = coordinator.advance(key, "hold", note="x", now=now, actor="somebody else")
    assert event.actor == "c"  # a signed-in user cannot name another actor
    operator = ScopedService(service, PEOPLE["operator"])
    _p, event = operator.advance(key, "resume", now=now, actor="박서연")
    assert event.actor == "박서연"  # the CLI's --actor, as before


def test_other_use_cases_are_the_operators_only(memory) -> None:  # type: ignore[no-untyped-def]
    _store, service = memory
    assert ScopedService(service, PEOPLE["operator"]).store is service.store
    for who in ("officer", "coordinator", "admin"):
        with pytest.raises(AttributeError):
            ScopedService(service, PEOPLE[who]).store  # noqa: B018
    with pytest.raises(Forbidden):
        ScopedService(service, PEOPLE["officer"]).add_with_history([])
    with pytest.raises(Forbidden):
        ScopedService(service, PEOPLE["coordinator"]).import_csv(None, "x.csv", now=None)  # type: ignore[arg-type]


def test_a_stale_version_is_refused(memory, now) -> None:  # type: ignore[no-untyped-def]
    from engine.errors import ChangedMeanwhile

    store, service = memory
    key = f"2016-{OWN}-1"
    officer = ScopedService(service, PEOPLE["officer"])
    before = store.snapshot()
    with pytest.raises(ChangedMeanwhile):
        officer.advance(key, "hold", note="x", now=now, expected_version=2)
    with pytest.raises(ChangedMeanwhile):
        officer.set_fact(key, "design_revisions", "1", now=now, expected_version=0)
    assert store.snapshot() == before
    p, _ = officer.advance(key, "hold", note="x", now=now, expected_version=1)
    assert dataclasses.replace(p).version == 2
