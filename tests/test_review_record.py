"""Found by review (branch review-record): corrections meeting the planning records.

A project's blackouts follow it when `project edit --key` renames it; a retired project takes no
more changes, blackouts and baselines included. SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

import commands.common as cli_common
from cli import cli
from support import assert_one_error, dump

KEY = "2016-성동구-마장동"
NEW_KEY = "2016-성동구-마장동-a"


@pytest.fixture
def run(runner, initialised_db, monkeypatch):
    monkeypatch.setattr(cli_common.App, "now", lambda self: dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc))

    def invoke(*args: str):
        return runner.invoke(cli, ["--db", initialised_db, "--lang", "en", *args])

    invoke.url = initialised_db
    result = invoke("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "kim",
                    "--at", "2016-01-04 09:00")
    assert result.exit_code == 0, result.output
    return invoke


def _latest_starts(run, key: str) -> dict[str, str]:
    result = run("status", key, "--json")
    assert result.exit_code == 0, result.output
    return {x["state"]: x["latest_start"] for x in json.loads(result.stdout)[0]["latest_starts"]}


def test_a_project_blackout_follows_a_key_edit(run) -> None:
    plain = _latest_starts(run, KEY)
    assert run("blackout", "add", KEY, "--from", "2016-06-07", "--to", "2016-06-10", "--reason", "투표소").exit_code == 0
    blacked = _latest_starts(run, KEY)
    assert blacked != plain
    result = run("project", "edit", KEY, "--key", NEW_KEY, "--note", "key typo")
    assert result.exit_code == 0, result.output
    # Still the same project's window: it still moves its latest starts, lists under the new key,
    # and can be removed (it used to point at the old key: orphaned, and `remove` said not found).
    assert _latest_starts(run, NEW_KEY) == blacked
    listed = json.loads(run("blackout", "list", "--json").stdout)
    assert [(b["scope"], b["target"]) for b in listed] == [("project", NEW_KEY)]
    assert run("blackout", "remove", str(listed[0]["id"])).exit_code == 0
    assert _latest_starts(run, NEW_KEY) == plain


def test_a_new_project_under_the_old_key_does_not_inherit_the_blackout(run) -> None:
    assert run("blackout", "add", KEY, "--from", "2016-06-07", "--to", "2016-06-10", "--reason", "투표소").exit_code == 0
    assert run("project", "edit", KEY, "--key", NEW_KEY, "--note", "key typo").exit_code == 0
    result = run("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "kim",
                 "--at", "2016-01-04 09:00", "--allow-duplicate")
    assert result.exit_code == 0, result.output
    listed = json.loads(run("blackout", "list", "--json").stdout)
    assert [b["target"] for b in listed] == [NEW_KEY]


@pytest.mark.parametrize("args", [
    ("blackout", "add", KEY, "--from", "2016-06-07", "--reason", "x"),
    ("baseline", "set", KEY, "--as-of", "2016-02-01"),
])
def test_a_retired_project_takes_no_blackout_or_baseline(run, args) -> None:
    assert run("project", "retire", KEY, "--note", "entered by mistake").exit_code == 0
    before = dump(run.url)
    assert_one_error(run(*args), 5, "retired")
    assert dump(run.url) == before


def test_status_key_as_of_says_retired_whether_or_not_it_changed_after_that_day(run) -> None:
    # An entry after 10 January makes the as-of read rebuild the project; one before does not.
    result = run("participation", "add", KEY, "resident_meeting", "--date", "2016-02-01")
    assert result.exit_code == 0, result.output
    assert run("project", "retire", KEY, "--note", "entered by mistake").exit_code == 0
    for day in ("2016-01-10", "2016-02-15"):
        result = run("status", KEY, "--as-of", day, "--json")
        assert result.exit_code == 0, (day, result.output)
        row = json.loads(result.stdout)[0]
        assert row["retired_at"], (day, row)
    # A day before it was entered: not there yet; and no listing shows it, past or present.
    assert_one_error(run("status", KEY, "--as-of", "2016-01-03"), 4, "did not exist yet")
    for day in ("2016-01-10", "2016-02-15"):
        assert json.loads(run("status", "--as-of", day, "--json").stdout) == []


def test_baseline_set_as_of_a_day_before_the_project_existed_is_refused(run) -> None:
    before = dump(run.url)
    # It used to take a plan for 2014 (agreement 2014-01-14 ... completion 2014-06-04).
    assert_one_error(run("baseline", "set", KEY, "--as-of", "2014-01-01"), 3, "did not exist yet")
    assert dump(run.url) == before
    assert run("baseline", "set", KEY, "--as-of", "2016-01-04").exit_code == 0


def test_bulk_refusal_of_a_retired_listed_key_names_the_key_once(run, tmp_path) -> None:
    other = "2016-성동구-사근동"
    assert run("project", "add", other, "--gu", "성동구", "--dong", "사근동", "--year", "2016", "--actor", "kim",
               "--at", "2016-01-04 09:00").exit_code == 0
    assert run("project", "retire", other, "--note", "entered by mistake").exit_code == 0
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n{other}\n", encoding="utf-8")
    before = dump(run.url)
    result = run("advance", "--keys-from", str(keys), "hold", "--actor", "kim", "--note", "x")
    assert result.exit_code == 5, result.output
    assert f"{other}: {other}" not in result.output and f"{other}: cannot hold" in result.output
    assert dump(run.url) == before
    dry = run("advance", "--keys-from", str(keys), "hold", "--actor", "kim", "--note", "x", "--dry-run", "--json")
    refused = json.loads(dry.stdout)["refused"]
    assert [(r["key"], r["reason"].startswith("cannot hold")) for r in refused] == [(other, True)]


def _state_on(run, day: str) -> tuple[str, str]:
    result = run("status", KEY, "--as-of", day, "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)[0]
    listed = [r for r in json.loads(run("status", "--as-of", day, "--json").stdout) if r["key"] == KEY]
    assert [(r["state"], r["entered_at"]) for r in listed] == [(row["state"], row["entered_at"])]
    for r in json.loads(run("overdue", "--as-of", day, "--json").stdout):
        if r["key"] == KEY:
            assert (r["state"], r["entered_at"]) == (row["state"], row["entered_at"]), (day, r)
    return row["state"], row["entered_at"][:10]


def test_a_move_at_the_wrong_date_can_be_undone_and_recorded_at_the_right_earlier_date(run) -> None:
    assert run("participation", "add", KEY, "resident_meeting", "--date", "2016-01-05").exit_code == 0
    assert run("advance", KEY, "agree", "--actor", "kim", "--at", "2016-01-20").exit_code == 0
    assert run("undo", KEY, "--note", "협약식 날짜 착오: 1월 10일").exit_code == 0
    # It was refused: the undone move still counted as the latest change of state (rule 3).
    result = run("advance", KEY, "agree", "--actor", "kim", "--at", "2016-01-10")
    assert result.exit_code == 0, result.output
    # Still refused before the meeting its guard needs (rule 4), and before the creation (rule 2).
    assert run("status", KEY, "--json").exit_code == 0
    assert _state_on(run, "2016-01-09") == ("survey", "2016-01-04")
    for day in ("2016-01-10", "2016-01-15", "2016-01-25", "2016-03-01"):
        assert _state_on(run, day) == ("agreement", "2016-01-10"), day
    # Undone again: as if it never moved, on every day.
    assert run("undo", KEY, "--note", "아직 협약 전").exit_code == 0
    for day in ("2016-01-09", "2016-01-15", "2016-01-25", "2016-03-01"):
        assert _state_on(run, day) == ("survey", "2016-01-04"), day


def test_after_an_undo_a_move_is_still_not_dated_before_the_standing_ones(run) -> None:
    assert run("participation", "add", KEY, "resident_meeting", "--date", "2016-01-05").exit_code == 0
    assert run("advance", KEY, "agree", "--actor", "kim", "--at", "2016-01-10").exit_code == 0
    assert run("advance", KEY, "present_design", "--actor", "kim", "--at", "2016-01-20").exit_code == 0
    assert run("undo", KEY, "--note", "wrong date").exit_code == 0
    before = dump(run.url)
    assert_one_error(run("advance", KEY, "present_design", "--actor", "kim", "--at", "2016-01-08"), 3,
                     "before the project entered its current state")
    assert dump(run.url) == before
    assert run("advance", KEY, "present_design", "--actor", "kim", "--at", "2016-01-12").exit_code == 0
    assert _state_on(run, "2016-01-11") == ("agreement", "2016-01-10")
    assert _state_on(run, "2016-01-25") == ("design_review", "2016-01-12")


# -- property: undone moves re-recorded at earlier dates (Hypothesis, in memory) -----------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engine.catalog import Catalog  # noqa: E402
from engine.errors import DongflowError  # noqa: E402
from engine.project import replay, replay_until  # noqa: E402
from engine.service import ProjectSpec, Service  # noqa: E402
from support import MemoryStore, without_participation  # noqa: E402
from workflows import SHIPPED_DIR  # noqa: E402

CATALOG = without_participation(Catalog.from_dirs([SHIPPED_DIR]))
WORKFLOW = CATALOG.latest("space-improvement")
START = dt.datetime(2016, 1, 4, 0, 0, tzinfo=dt.timezone.utc)
STEP = st.one_of(st.tuples(st.just("advance"), st.integers(0, 5), st.integers(0, 30)),
                 st.tuples(st.just("undo"), st.just(0), st.just(0)))


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=25))
def test_backdated_moves_and_undos_rebuild_the_stored_project_on_every_day(steps) -> None:
    store = MemoryStore()
    service = Service(store, CATALOG)
    now = START + dt.timedelta(days=400)
    service.add_project(ProjectSpec("k", "성동구", "마장동", 2016), actor="w", now=now, at=START)
    service.set_fact("k", "resident_meetings", "2", actor="w", now=now, at=START)
    for kind, pick, back in steps:
        now += dt.timedelta(hours=1)
        before, history = store.get("k"), store.events("k")
        try:
            if kind == "undo":
                service.undo("k", actor="w", now=now, note="n")
            else:
                ready = [t for t, unmet in WORKFLOW.unmet_guards(before.state, before.facts).items() if not unmet]
                if not ready:
                    continue
                at = max(START, before.entered_at) + dt.timedelta(days=back)
                service.advance("k", ready[pick % len(ready)], actor="w", now=now, at=at, note="n")
        except DongflowError as exc:
            assert exc.exit_code in (3, 5), exc
            assert (store.get("k"), store.events("k")) == (before, history)
            continue
        project, events = store.get("k"), store.events("k")
        stored = (project.state, project.previous_state, dict(project.reached), project.entered_at)
        for r in (replay(events), replay_until(events)):  # recorded order, effective order: one record
            assert (r.state, r.previous_state, r.reached, r.entered_at) == stored
        # On each day, the state is the one of the latest standing move dated by then.
        for day in range(0, 400, 7):
            cutoff = START + dt.timedelta(days=day, hours=12)
            then = replay_until(events, cutoff)
            assert then is not None and then.entered_at <= cutoff
            assert then.state == project.state or then.entered_at <= project.entered_at


@pytest.mark.parametrize("mapping", ["survey=completed", "survey=cancelled", "survey=agreement"])
def test_migrate_map_cannot_move_a_project_to_another_state_of_the_new_version(run, tmp_path, mapping) -> None:
    from wfkit import write_variant

    folder = tmp_path / "wf"
    write_variant(folder)  # version 2 with the same states
    before = dump(run.url)
    # It moved the project to `completed` (or anywhere) without a transition, its first entry of the
    # new state taken from the old one: a completion the report counted, on the day survey began.
    result = run("--workflows", str(folder), "workflow", "migrate", "space-improvement", "--to", "2",
                 "--map", mapping, "--note", "x")
    assert_one_error(result, 3, "survey is a state of space-improvement@2")
    assert dump(run.url) == before


@pytest.mark.parametrize("extra", [("--gu", "종로구"), ("--state", "시공"), ("--year", "2017"),
                                   ("--gu", "종로구", "--as-of", "2016-02-01")])
def test_status_key_with_a_list_filter_is_refused_not_ignored_or_misread(run, extra) -> None:
    # The filter was ignored (the 성동구 project shown for --gu 종로구), or with --as-of the project
    # "did not exist yet" (exit 4): options that do not go together are exit 3.
    assert_one_error(run("status", KEY, *extra), 3, "do not go together")


@pytest.mark.parametrize("args,code,fragment", [
    (("status", "--year", "99999999999999999999"), 3, "--year"),
    (("overdue", "--year", "99999999999999999999"), 3, "--year"),
    (("risk", "--year", "99999999999999999999"), 3, "--year"),
    (("delays", "--year", "99999999999999999999"), 3, "--year"),
    (("calendar", "-o", "x.ics", "--year", "99999999999999999999"), 3, "--year"),
    (("budget", "list", "--year", "99999999999999999999"), 3, "--year"),
    (("blackout", "remove", "99999999999999999999999"), 4, "no blackout"),
    (("blackout", "remove", "3000000000"), 4, "no blackout"),
    (("workflow", "migrate", "space-improvement", "--to", "3000000000"), 4, "no workflow"),
    (("workflow", "show", "space-improvement", "--version", "99999999999999999999"), 4, "no workflow"),
])
def test_huge_numbers_are_one_clear_error_not_an_internal_or_database_error(run, args, code, fragment,
                                                                               tmp_path, monkeypatch) -> None:
    # They overflowed the driver: exit 1 (internal error) on SQLite, 7 (database problem) on PostgreSQL.
    monkeypatch.chdir(tmp_path)
    before = dump(run.url)
    assert_one_error(run(*args), code, fragment)
    assert dump(run.url) == before


def test_backtest_with_a_step_longer_than_the_range_replays_one_day(run) -> None:
    result = run("risk", "backtest", "--from", "2016-01-10", "--to", "2016-01-20", "--every", "99999999999",
                 "--as-of", "2016-03-01", "--json")
    assert result.exit_code == 0, result.output


def test_undo_racing_another_writer_is_a_conflict_not_an_internal_error(store, core_catalog) -> None:
    from engine.errors import ChangedMeanwhile
    from programme.places import identity_rules

    now = dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc)
    svc = Service(store, core_catalog, identity_rules())
    start = now - dt.timedelta(days=30)
    svc.add_project(ProjectSpec(KEY, "성동구", "마장동", 2016), actor="kim", now=now, at=start)
    svc.set_fact(KEY, "resident_meetings", "2", actor="kim", now=now, at=start)
    svc.advance(KEY, "agree", actor="kim", now=now, at=start + dt.timedelta(days=5))
    read_events = store.events

    def events_after_another_writer(key):  # someone records a fact between the undo's two reads
        store.events = read_events
        svc.set_fact(KEY, "design_revisions", "1", actor="lee", now=now)
        return read_events(key)

    store.events = events_after_another_writer
    with pytest.raises(ChangedMeanwhile):  # was a ValueError: exit 1, "internal error"
        svc.undo(KEY, actor="kim", now=now, note="wrong")
    assert svc.project(KEY).state == "agreement"
