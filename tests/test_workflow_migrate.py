"""`dongflow workflow migrate ID --to N`: dry run, real run, refusals, all or nothing, bad input
(SQLite and PostgreSQL), and the `migrated` event in the pure replay."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from support import assert_one_error, dump
from wfkit import write_variant

from cli import cli
from engine import project as proj
from storage.db import Database
from storage.repository import SqlProjectStore

SURVEY = "2017-성동구-마장동"     # stays in survey
AGREED = "2017-성동구-사근동"     # agreement (previous state: survey)
TENDERS = "2017-종로구-사직동"    # failed_tenders = 3
HELD = "2016-종로구-교남동"       # on hold from survey
ALL = (SURVEY, AGREED, TENDERS, HELD)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def portfolio(runner, initialised_db):
    """Four projects on version 1 of the shipped workflow, in different states."""
    db = ["--db", initialised_db]
    for key in ALL:
        year, gu, dong = key.split("-")
        ok(runner.invoke(cli, [*db, "project", "add", key, "--gu", gu, "--dong", dong, "--year", year,
                               "--actor", "kim"]))
    ok(runner.invoke(cli, [*db, "participation", "add", AGREED, "resident_meeting", "--date", "2017-01-10",
                           "--actor", "kim"]))
    ok(runner.invoke(cli, [*db, "advance", AGREED, "agree", "--actor", "kim"]))
    ok(runner.invoke(cli, [*db, "fact", "set", TENDERS, "failed_tenders", "3", "--actor", "kim"]))
    ok(runner.invoke(cli, [*db, "advance", HELD, "hold", "--note", "예산", "--actor", "kim"]))
    return initialised_db


def projects(url: str) -> dict[str, dict]:
    return {p["key"]: p for p in json.loads(ok_invoke(["--db", url, "status", "--json"]))}


def ok_invoke(args: list[str]) -> str:
    from click.testing import CliRunner

    return ok(CliRunner().invoke(cli, args))


def test_dry_run_lists_moves_and_refusals_and_changes_nothing(runner, portfolio, tmp_path) -> None:
    folder = tmp_path / "wf"
    write_variant(folder, max_failed_tenders=2)
    before = dump(portfolio)
    out = ok(runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                 "space-improvement", "--to", "2", "--dry-run"]))
    assert f"would move: {SURVEY}  v1 -> v2  survey" in out
    assert f"refused: {TENDERS}  v1 survey: fact failed_tenders = 3: 3 is above the largest allowed, 2" in out
    assert "would move 3 projects to space-improvement version 2, 1 refused; nothing was changed" in out
    assert "would publish space-improvement version 2" in out
    assert dump(portfolio) == before
    data = json.loads(ok(runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                             "space-improvement", "--to", "2", "--dry-run", "--json"])))
    assert sorted(m["key"] for m in data["would_move"]) == sorted([SURVEY, AGREED, HELD])
    assert [r["key"] for r in data["refused"]] == [TENDERS] and data["dry_run"] is True
    assert dump(portfolio) == before


def test_a_real_run_moves_the_rest_in_one_transaction_with_an_event_each(runner, portfolio, tmp_path) -> None:
    folder = tmp_path / "wf"
    write_variant(folder, max_failed_tenders=2)
    versions = {k: p["version"] for k, p in projects(portfolio).items()}
    out = ok(runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                 "space-improvement", "--to", "2", "--note", "2017 과정", "--actor", "office"]))
    assert "moved 3 projects to space-improvement version 2, 1 refused" in out
    assert "published space-improvement version 2" in out
    after = projects(portfolio)  # read without the folder: version 2 is stored now
    assert {k: p["workflow_version"] for k, p in after.items()} == {SURVEY: 2, AGREED: 2, HELD: 2, TENDERS: 1}
    for key in (SURVEY, AGREED, HELD):
        assert after[key]["version"] == versions[key] + 1
        assert after[key]["state"] == {SURVEY: "survey", AGREED: "agreement", HELD: "on_hold"}[key]
    assert after[TENDERS]["version"] == versions[TENDERS]
    history = json.loads(ok(runner.invoke(cli, ["--db", portfolio, "history", AGREED, "--json"])))
    last = history[-1]
    assert (last["kind"], last["actor"], last["note"], last["from"], last["to"]) == (
        "migrated", "office", "2017 과정", "agreement", "agreement")
    assert last["data"]["from_version"] == 1 and last["data"]["to_version"] == 2
    table = ok(runner.invoke(cli, ["--db", portfolio, "history", AGREED]))
    assert "migrated" in table and "v1 agreement -> v2" in table
    # The stored rows are what the pure replay of their events gives.
    db = Database(portfolio)
    try:
        for project, events in SqlProjectStore(db).all_histories():
            replayed = proj.replay(events)
            assert (replayed.state, replayed.previous_state, replayed.facts, replayed.version) == (
                project.state, project.previous_state, dict(project.facts), project.version)
            assert replayed.reached == dict(project.reached)
    finally:
        db.dispose()
    # And they keep working on version 2: resume returns to where the project was held.
    ok(runner.invoke(cli, ["--db", portfolio, "advance", HELD, "resume", "--actor", "kim"]))
    again = ok(runner.invoke(cli, ["--db", portfolio, "workflow", "migrate", "space-improvement", "--to", "2"]))
    assert "moved 0 projects" in again and "1 refused" in again and "3 already on it" in again


def test_a_renamed_state_is_refused_unless_mapped(runner, portfolio, tmp_path) -> None:
    folder = tmp_path / "wf"
    write_variant(folder, rename_survey=True)
    db = ["--db", portfolio, "--workflows", str(folder)]
    dry = ok(runner.invoke(cli, [*db, "workflow", "migrate", "space-improvement", "--to", "2", "--dry-run"]))
    assert f"refused: {SURVEY}  v1 survey: state survey is not in version 2; map it: --map survey=STATE" in dry
    assert f"refused: {AGREED}  v1 agreement: its previous state survey" in dry
    assert f"refused: {HELD}  v1 on_hold: its previous state survey" in dry
    out = ok(runner.invoke(cli, [*db, "workflow", "migrate", "space-improvement", "--to", "2", "--map",
                                 "survey=site_survey", "--where", "gu=성동구"]))
    assert "moved 2 projects" in out and "0 refused" in out
    after = projects(portfolio)
    assert (after[SURVEY]["state"], after[SURVEY]["workflow_version"]) == ("site_survey", 2)
    assert (after[AGREED]["previous_state"], after[HELD]["workflow_version"]) == ("site_survey", 1)
    # The first-entry time of survey counts for site_survey (milestones and as-of reads see it).
    status = ok(runner.invoke(cli, ["--db", portfolio, "status", SURVEY]))
    assert "site_survey" in status


@pytest.mark.parametrize(("mapping", "final"), [("survey=completed", "completed"), ("survey=cancelled", "cancelled")])
@pytest.mark.parametrize("dry_run", [False, True])
def test_mapping_a_running_state_onto_a_final_state_is_refused(runner, portfolio, tmp_path, mapping, final,
                                                                dry_run) -> None:
    """--map renames a state; it never finishes a project. Mapping survey (running) onto completed
    would record a completion (and its date) that never happened: one line, exit 3, nothing written."""
    folder = tmp_path / "wf"
    write_variant(folder, rename_survey=True)
    before = dump(portfolio)
    result = runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                 "space-improvement", "--to", "2", "--map", mapping,
                                 *(["--dry-run"] if dry_run else [])])
    line = assert_one_error(result, 3, f"{final} is a final state", "advance")
    assert line.startswith("Error: --map: ")
    assert dump(portfolio) == before
    assert {p["state"] for p in projects(portfolio).values()} == {"survey", "agreement", "on_hold"}


def test_where_selects_by_gu_year_and_state(runner, portfolio, tmp_path) -> None:
    folder = tmp_path / "wf"
    write_variant(folder)
    db = ["--db", portfolio, "--workflows", str(folder)]
    out = json.loads(ok(runner.invoke(cli, [*db, "workflow", "migrate", "space-improvement", "--to", "2",
                                            "--where", "year=2017,state=survey", "--json"])))
    assert sorted(m["key"] for m in out["moved"]) == [SURVEY, TENDERS]
    out = json.loads(ok(runner.invoke(cli, [*db, "workflow", "migrate", "space-improvement", "--to", "2",
                                            "--where", "gu=종로,state=보류", "--json"])))
    assert [m["key"] for m in out["moved"]] == [HELD]


def test_all_or_nothing_when_a_project_changed_meanwhile(runner, portfolio, tmp_path, monkeypatch) -> None:
    """A coordinator advances a project between the check and the write: nothing moves, and the target
    version (which the run would have published) is not stored either."""
    from engine import workflow_migration

    folder = tmp_path / "wf"
    write_variant(folder)
    real_plan = workflow_migration.plan_migration

    def plan_then_someone_advances(*args, **kwargs):
        plan = real_plan(*args, **kwargs)
        ok(runner.invoke(cli, ["--db", portfolio, "advance", AGREED, "present_design", "--actor", "lee"]))
        return plan

    monkeypatch.setattr(workflow_migration, "plan_migration", plan_then_someone_advances)
    before = projects(portfolio)
    result = runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                 "space-improvement", "--to", "2"])
    assert_one_error(result, 6, AGREED, "changed by someone else")
    after = projects(portfolio)
    assert {k: p["workflow_version"] for k, p in after.items()} == {k: 1 for k in ALL}
    assert after[AGREED]["state"] == "design_review"  # the coordinator's move, and only that
    assert {k: p["version"] for k, p in after.items() if k != AGREED} == {
        k: p["version"] for k, p in before.items() if k != AGREED}
    from test_workflow_store import stored

    assert [(w, v) for w, v, _, _ in stored(portfolio)] == [("space-improvement", 1)]


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["--to", "2", "--map", "survey"], 3, "--map: 'survey' is not OLD_STATE=NEW_STATE"),
    (["--to", "2", "--map", "survey=nowhere"], 3, "nowhere is not a state of space-improvement@2"),
    (["--to", "2", "--map", "nowhere=survey"], 3, "nowhere is not a state of any version"),
    (["--to", "2", "--where", "district=성동구"], 3, "--where: unknown name 'district'"),
    (["--to", "2", "--where", "state=nowhere"], 3, "--where state: 'nowhere' names no state"),
    (["--to", "2", "--where", "year=abc"], 3, "--where year: 'abc' is not a year"),
    (["--to", "2", "--where", "gu=nowhere"], 3, "--where gu: 'nowhere' names no district"),
    (["--to", "2", "--where", "gu"], 3, "--where: 'gu' is not NAME=VALUE"),
    (["--to", "9"], 4, "no workflow space-improvement version 9"),
    (["--to", "0"], 3, "--to: 0 is below the smallest allowed, 1"),
    (["--to", "２"], 3, "--to: '２' is not written with the digits 0-9"),
    (["--to", "2", "--where", "year=２０１６"], 3, "--where year: '２０１６' is not written with the digits 0-9"),
])
def test_bad_input_writes_nothing(runner, portfolio, tmp_path, args, code, fragment) -> None:
    folder = tmp_path / "wf"
    write_variant(folder)
    before = dump(portfolio)
    result = runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                 "space-improvement", *args])
    if code == 2:
        assert result.exit_code == 2 and fragment in result.output
    else:
        assert_one_error(result, code, fragment)
    assert dump(portfolio) == before


def test_an_unknown_workflow_and_a_version_not_stored(runner, portfolio) -> None:
    before = dump(portfolio)
    assert_one_error(runner.invoke(cli, ["--db", portfolio, "workflow", "migrate", "nope", "--to", "2"]), 4,
                     "no workflow nope")
    # Version 2 is neither stored nor in a folder given: not found, nothing written.
    assert_one_error(runner.invoke(cli, ["--db", portfolio, "workflow", "migrate", "space-improvement", "--to",
                                         "2"]), 4, "no workflow space-improvement version 2")
    assert dump(portfolio) == before


def test_replay_of_a_migration_is_pure() -> None:
    t0 = dt.datetime(2017, 1, 2, tzinfo=dt.timezone.utc)
    created = proj.Event("k", 1, proj.CREATED, "survey", "kim", t0, data={"facts": {"a": 1}})
    moved = proj.Event("k", 2, proj.TRANSITION, "agreement", "kim", t0 + dt.timedelta(days=3), trigger="agree",
                       from_state="survey")
    project = proj.Project("k", "성동구", "마장동", 2017, "wf", 1, "agreement", dt.date(2017, 7, 1),
                           t0 + dt.timedelta(days=3), {"a": 1}, {"survey": t0, "agreement": t0 + dt.timedelta(days=3)},
                           "survey", 2, t0)
    after, event = proj.migrate(project, 2, "agreement", "site_survey", {"b": 0}, {"survey": "site_survey"},
                                actor="office", now=t0 + dt.timedelta(days=9), note="v2")
    replayed = proj.replay([created, moved, event])
    assert (replayed.state, replayed.previous_state, replayed.facts, replayed.version) == (
        "agreement", "site_survey", {"a": 1, "b": 0}, 3)
    assert replayed.reached == after.reached == {"survey": t0, "site_survey": t0,
                                                 "agreement": t0 + dt.timedelta(days=3)}
    assert replayed.entered_at == project.entered_at == after.entered_at  # the stage did not change
    assert (after.workflow_version, event.kind, event.data["from_version"]) == (2, "migrated", 1)


class _Writer:
    def __init__(self) -> None:
        self.calls: list = []

    def apply_migration(self, moves, workflows) -> None:
        self.calls.append(("migrate", list(moves), list(workflows)))

    def publish(self, source):
        self.calls.append(("publish", source))
        return source, True


@pytest.mark.parametrize(("role", "districts", "allowed"), [
    ("officer", (), True), ("admin", (), False), ("coordinator", ("성동구",), False), ("viewer", (), False)])
def test_only_the_operator_and_officers_publish_and_migrate(catalog, role, districts, allowed) -> None:
    from support import MemoryStore
    from wfkit import variant

    from engine.access import Principal
    from engine.errors import Forbidden
    from engine.ports import ProjectQuery
    from engine.service import ProjectSpec, Service
    from engine.workflow_migration import WorkflowAdmin
    from engine.workflow_versions import WorkflowSource

    store = MemoryStore()
    now = dt.datetime(2017, 1, 2, tzinfo=dt.timezone.utc)
    Service(store, catalog).add_project(ProjectSpec(SURVEY, "성동구", "마장동", 2017), actor="kim", now=now)
    writer = _Writer()
    admin = WorkflowAdmin(store, writer, catalog, Principal.of("someone", role, districts))
    wf = catalog.latest("space-improvement")
    source = WorkflowSource.of(wf.id, wf.version, variant(1))
    if allowed:
        admin.publish(wf, source, now=now)
        plan = admin.migrate(wf.id, 1, mapping={}, query=ProjectQuery(), dry_run=False, now=now)
        assert plan.unchanged == [SURVEY] and writer.calls[0][1].published_by == "someone"
    else:
        with pytest.raises(Forbidden):
            admin.publish(wf, source, now=now)
        with pytest.raises(Forbidden):
            admin.migrate(wf.id, 1, mapping={}, query=ProjectQuery(), dry_run=True, now=now)
        assert writer.calls == []


def test_a_fact_the_new_version_lacks_or_types_otherwise_is_a_refusal(catalog) -> None:
    import dataclasses

    from engine.workflow_migration import plan_migration

    v1 = catalog.latest("space-improvement")
    facts = dict(v1.facts)
    facts["design_revisions"] = dataclasses.replace(facts["design_revisions"], type="string")
    del facts["failed_tenders"]
    v2 = dataclasses.replace(v1, version=2, facts=facts)
    now = dt.datetime(2017, 1, 2, tzinfo=dt.timezone.utc)
    project, _ = proj.new_project(v1, key=SURVEY, gu="성동구", dong="마장동", year=2017, target=None, actor="kim",
                                  now=now)
    plan = plan_migration([project], {1: v1}, v2, {}, actor="office", now=now)
    assert plan.moves == [] and len(plan.refusals) == 1
    reason = plan.refusals[0].reason
    assert "fact design_revisions = 0 is not a string" in reason and "fact failed_tenders is not a fact of version 2" in reason


# -- property: histories made by the engine, with migrations back and forth, replay to the stored project ----

from hypothesis import given, settings
from hypothesis import strategies as st

STEPS = st.lists(st.one_of(
    st.tuples(st.just("advance"), st.sampled_from(["agree", "present_design", "request_revision", "resubmit_design",
                                                   "approve_design", "announce_tender", "tender_failed", "award",
                                                   "complete", "hold", "resume", "cancel"])),
    st.tuples(st.just("fact"), st.sampled_from(["resident_meetings", "design_revisions"]), st.integers(0, 5)),
    st.tuples(st.just("migrate"), st.booleans()),
), max_size=30)


def _two_version_catalog():
    from support import without_participation
    from wfkit import variant

    from engine.catalog import Catalog
    from engine.loader import load_text
    from workflows import SHIPPED_DIR

    shipped = Catalog.from_dirs([SHIPPED_DIR]).get("space-improvement", 1)
    return without_participation(Catalog([shipped, load_text(variant(2, rename_survey=True), "v2.yaml")]))


TWO_VERSIONS = _two_version_catalog()


@settings(max_examples=60, deadline=None)
@given(STEPS)
def test_histories_with_migrations_replay_to_the_stored_project(steps) -> None:
    from support import MemoryStore

    from engine.errors import DongflowError
    from engine.service import ProjectSpec, Service
    from engine.workflow_migration import plan_migration

    service = Service(MemoryStore(), TWO_VERSIONS)
    t = dt.datetime(2017, 1, 2, tzinfo=dt.timezone.utc)
    service.add_project(ProjectSpec("k", "성동구", "마장동", 2017, workflow="space-improvement"), actor="a", now=t)
    versions = {1: TWO_VERSIONS.get("space-improvement", 1), 2: TWO_VERSIONS.get("space-improvement", 2)}
    for step in steps:
        t += dt.timedelta(hours=1)
        project = service.project("k")
        try:
            if step[0] == "advance":
                service.advance("k", step[1], actor="a", now=t, note="why")
            elif step[0] == "fact":
                service.set_fact("k", step[1], str(step[2]), actor="a", now=t)
            else:
                to = 1 if project.workflow_version == 2 else 2
                mapping = {"survey": "site_survey"} if to == 2 else {"site_survey": "survey"}
                plan = plan_migration([project], versions, versions[to], mapping if step[1] else {}, actor="m", now=t)
                for move in plan.moves:
                    service.store.save(move.after, move.event)
        except DongflowError:
            pass
    project = service.project("k")
    events = service.history("k")
    replayed = proj.replay(events)
    assert (replayed.state, replayed.previous_state, replayed.facts, replayed.reached, replayed.entered_at,
            replayed.version) == (project.state, project.previous_state, dict(project.facts), dict(project.reached),
                                  project.entered_at, project.version)
    on = TWO_VERSIONS.get("space-improvement", project.workflow_version)
    assert on.has_state(project.state)  # a migration never leaves a project in a state its version lacks
    assert project.previous_state is None or on.has_state(project.previous_state)


def test_a_run_that_moves_nothing_publishes_nothing(runner, portfolio, tmp_path) -> None:
    folder = tmp_path / "wf"
    write_variant(folder, rename_survey=True)
    before = dump(portfolio)
    out = json.loads(ok(runner.invoke(cli, ["--db", portfolio, "--workflows", str(folder), "workflow", "migrate",
                                            "space-improvement", "--to", "2", "--where", "state=survey", "--json"])))
    assert out["moved"] == [] and len(out["refused"]) == 2 and out["publishes"] is None
    assert dump(portfolio) == before


def test_as_of_before_a_migration_shows_the_old_version_and_state(runner, initialised_db, tmp_path) -> None:
    """A past as-of read rebuilds the version too: before a migration that renamed its state, the
    project stood in the old state of the old version (not an old state name under the new version)."""
    folder = tmp_path / "wf"
    write_variant(folder, rename_survey=True)
    db = ["--db", initialised_db]
    year, gu, dong = SURVEY.split("-")
    ok(runner.invoke(cli, [*db, "project", "add", SURVEY, "--gu", gu, "--dong", dong, "--year", year,
                           "--at", "2017-01-02", "--actor", "kim"]))
    ok(runner.invoke(cli, [*db, "--workflows", str(folder), "workflow", "migrate", "space-improvement", "--to", "2",
                           "--map", "survey=site_survey"]))
    then = json.loads(ok(runner.invoke(cli, [*db, "status", SURVEY, "--json", "--as-of", "2017-02-01"])))[0]
    now = json.loads(ok(runner.invoke(cli, [*db, "status", SURVEY, "--json"])))[0]
    assert (then["state"], then["workflow_version"]) == ("survey", 1)
    assert (now["state"], now["workflow_version"]) == ("site_survey", 2)
    listing = json.loads(ok(runner.invoke(cli, [*db, "status", "--json", "--as-of", "2017-02-01"])))
    assert [(p["state"], p["workflow_version"]) for p in listing] == [("survey", 1)]
    overdue = ok(runner.invoke(cli, [*db, "overdue", "--as-of", "2017-06-20", "--json"]))
    assert SURVEY in overdue
    report = runner.invoke(cli, [*db, "report", "--as-of", "2017-02-01"])
    assert report.exit_code == 0, report.output
