"""Checked identity: a programme's list of places and key format (generic engine, Seoul data in the
programme), and one project per (workflow, gu, dong, year) unless a duplicate is allowed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.errors import AlreadyExists, InvalidInput, InvalidInputs
from engine.identity import IdentityRule, IdentityRules, PlaceList
from engine.service import ProjectSpec, Service
from programme.places import identity_rules, seoul_places
from support import dump

TOY = PlaceList("toy", {"North": {"Alpha": "alpha", "Alpha-1": "alpha", "Beta": "beta"}, "South": {"Gamma": "gamma"}})
RULE = IdentityRule(places=TOY, key_format="{year}/{gu}/{dong}")


@pytest.mark.parametrize("key,gu,dong,year,fragment", [
    ("k", "Nort", "Alpha", 2016, "gu: 'Nort' is not a district on the toy list (did you mean North?)"),
    ("k", "North", "Gamma", 2016, "dong: 'Gamma' is not a dong of North on the toy list (it is in South)"),
    ("k", "North", "Betta", 2016, "(did you mean Beta?)"),
    ("2017/North/Alpha", "North", "Alpha", 2016, "key: key '2017/North/Alpha' says year 2017, but the year is 2016"),
    ("2016/South/Alpha", "North", "Alpha", 2016, "says district South"),
    ("2016/North/Beta/2", "North", "Alpha", 2016, "says dong Beta"),
])
def test_a_rule_refuses_with_one_line_naming_the_field(key, gu, dong, year, fragment) -> None:
    with pytest.raises(InvalidInput) as info:
        RULE.check(key, gu, dong, year)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["2016/North/Alpha", "2016/North/Alpha-1", "2016/North/Alpha/extra", "free-form",
                                 "16/North/Beta"])
def test_keys_that_agree_or_have_another_shape_are_accepted(key) -> None:
    RULE.check(key, "North", "Alpha", 2016)  # Alpha-1 is another spelling of Alpha


def test_no_rule_accepts_anything() -> None:
    IdentityRules().of("any").check("2016-x-y", "invented", "place", 2017)


@pytest.mark.parametrize("gu,dong", [
    ("성동구", "성수1가제1동"), ("성동구", "성수1가1동"),  # official and everyday names
    ("종로구", "종로1·2·3·4가동"), ("종로구", "종로1.2.3.4가동"),
    ("강북구", "번1동"), ("강북구", "번제1동"),  # recoded in 2019
    ("강남구", "일원2동"), ("강남구", "개포3동"),  # renamed in 2022: both lists
    ("동대문구", "용신동"), ("동대문구", "신설동"),  # split in 2025
    ("강동구", "상일제1동"),
])
def test_seoul_dongs_of_2016_and_today(gu, dong) -> None:
    seoul_places().check(gu, dong)


def test_seoul_has_25_districts_and_the_key_agrees_with_any_spelling() -> None:
    assert len(seoul_places().districts) == 25
    rule = identity_rules().of("space-improvement")
    rule.check("2016-성동구-성수1가1동", "성동구", "성수1가제1동", 2016)
    assert identity_rules().of("mini").places is None  # a workflow the programme does not name: free


# -- through the service (SQLite and PostgreSQL) ---------------------------------------------------
@pytest.fixture
def svc(store, core_catalog) -> Service:
    return Service(store, core_catalog, identity_rules())


def test_one_project_per_place_and_year_unless_allowed(svc, now) -> None:
    svc.add_project(ProjectSpec("2016-성동구-마장동", "성동구", "마장동", 2016), actor="a", now=now)
    before = dump(svc.store.db.url)
    with pytest.raises(AlreadyExists, match="already has project 2016-성동구-마장동 for 성동구 마장동 2016") as info:
        svc.add_project(ProjectSpec("2016-성동구-마장동-2", "성동구", "마장동", 2016), actor="a", now=now)
    assert info.value.exit_code == 6 and dump(svc.store.db.url) == before
    svc.add_project(ProjectSpec("2017-성동구-마장동", "성동구", "마장동", 2017), actor="a", now=now)  # another year
    svc.add_project(ProjectSpec("2016-성동구-마장동-2", "성동구", "마장동", 2016), actor="a", now=now,
                    allow_duplicate=True)


def test_a_bad_place_is_refused_and_nothing_is_written(svc, now) -> None:
    before = dump(svc.store.db.url)
    with pytest.raises(InvalidInput, match="'마정동' is not a dong of 성동구"):
        svc.add_project(ProjectSpec("k", "성동구", "마정동", 2016), actor="a", now=now)
    assert dump(svc.store.db.url) == before


def test_import_refuses_bad_places_and_twins_row_by_row(svc, now) -> None:
    svc.add_project(ProjectSpec("2016-성동구-마장동", "성동구", "마장동", 2016), actor="a", now=now)
    text = ("key,gu,dong,year\n2016-성동구-사근동,성동구,사근동,2016\n2016-성동구-사근동-b,성동구,사근동,2016\n"
            "x,성동구,월곡1동,2016\n2016-성동구-마장동-2,성동구,마장동,2016\n")
    before = dump(svc.store.db.url)
    with pytest.raises(InvalidInputs) as info:
        svc.import_csv(io.BytesIO(text.encode()), "p.csv", actor="a", now=now)
    assert dump(svc.store.db.url) == before
    lines = [(p.line, p.field) for p in info.value.problems]
    assert lines == [(3, "dong"), (4, "dong"), (5, "dong")], [str(p) for p in info.value.problems]
    assert "first on line 2" in str(info.value.problems[0]) and "it is in 성북구" in str(info.value.problems[1])
    assert "already has project 2016-성동구-마장동" in str(info.value.problems[2])
    text = text.replace("x,성동구,월곡1동", "x,성북구,월곡1동")
    assert svc.import_csv(io.BytesIO(text.encode()), "p.csv", actor="a", now=now, allow_duplicate=True) == 4


# -- declared in a workflow file (generic: any workflow may name its places) ---------------------------
MINI = (Path(__file__).parent / "data" / "workflows" / "good" / "mini.yaml").read_text(encoding="utf-8")
DECLARED = MINI + 'identity:\n  key: "{year}/{gu}/{dong}"\n  places:\n    North: [Alpha, Beta]\n    South: [Gamma]\n'


def test_a_workflow_file_declares_its_places_and_key_format(store, now, tmp_path: Path) -> None:
    from engine.catalog import Catalog

    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "mini.yaml").write_text(DECLARED, encoding="utf-8")
    svc = Service(store, Catalog.from_dirs([folder]))  # no programme settings at all
    svc.add_project(ProjectSpec("2016/North/Alpha", "North", "Alpha", 2016, workflow="mini"), actor="a", now=now)
    for spec, fragment in ((ProjectSpec("k", "East", "Alpha", 2016, workflow="mini"), "not a district"),
                           (ProjectSpec("k", "South", "Alpha", 2016, workflow="mini"), "it is in North"),
                           (ProjectSpec("2017/North/Beta", "North", "Beta", 2016, workflow="mini"), "says year"),
                           (ProjectSpec("k2", "North", "Alpha", 2016, workflow="mini"), "--allow-duplicate")):
        with pytest.raises((InvalidInput, AlreadyExists), match=fragment):
            svc.add_project(spec, actor="a", now=now)


@pytest.mark.parametrize("block,fragment", [
    ("identity: [a]\n", "identity must be a mapping"),
    ("identity:\n  colour: red\n", "colour"),
    ("identity:\n  key: 12\n", "identity key must be text"),
    ("identity:\n  key: '{year}-{district}'\n", "identity key must be text"),
    ("identity:\n  places:\n    North: Alpha\n", "must be a list"),
    ("identity:\n  places:\n    North: []\n", "a list of dong names"),
])
def test_a_bad_identity_section_is_reported_with_its_line(block, fragment) -> None:
    from engine.errors import WorkflowDefinitionError
    from engine.loader import load_text

    with pytest.raises(WorkflowDefinitionError) as info:
        load_text(MINI + block, "mini.yaml")
    import re

    assert fragment in str(info.value), str(info.value)
    line = int(re.search(r"mini\.yaml:(\d+)", str(info.value)).group(1))
    assert line > MINI.count("\n"), str(info.value)  # on the identity section's own lines
