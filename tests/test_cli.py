"""The ``dongflow`` command through click's CliRunner, on every backend where it touches the database.

Every error path is held to the same contract: its exit code, exactly one ``Error:`` line on stderr,
no traceback, and the database exactly as it was (a dump of every row before and after).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

import commands.common as cli_common
from cli import cli
from render.table import width
from storage.db import SCHEMA_REVISION
from support import assert_one_error, dump

SEOUL = dt.timezone(dt.timedelta(hours=9))
KEY = "2016-성동구-마장동"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, now: dt.datetime):
    """The CLI's one clock read, fixed (and movable: ``clock.set(...)``)."""

    class Clock:
        value = now

        def set(self, value: dt.datetime) -> None:
            self.value = value

    c = Clock()
    monkeypatch.setattr(cli_common.App, "now", lambda self: c.value)
    return c


@pytest.fixture
def run(runner, initialised_db, clock):
    """Run dongflow against the initialised test database."""

    def invoke(*args: str, **kw):
        return runner.invoke(cli, ["--db", initialised_db, *args], **kw)

    invoke.url = initialised_db
    return invoke


@pytest.fixture
def one(run):
    """The database holds one project, KEY, in survey (created at ``now``)."""
    result = run("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "김민준")
    assert result.exit_code == 0, result.output
    return run


def status_json(run, *args: str) -> list[dict]:
    result = run("status", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --------------------------------------------------------------------------------------------------
# init


def test_init_twice_is_safe(runner, db_url) -> None:
    first = runner.invoke(cli, ["init", "--db", db_url])
    assert first.exit_code == 0, first.output
    assert f"created the dongflow schema (revision {SCHEMA_REVISION})" in first.stdout
    after_first = dump(db_url)
    assert after_first["alembic_version"] == [(SCHEMA_REVISION,)]
    second = runner.invoke(cli, ["--db", db_url, "init"])
    assert second.exit_code == 0, second.output
    assert f"schema already at revision {SCHEMA_REVISION}; nothing to do" in second.stdout
    assert dump(db_url) == after_first


def test_init_refuses_a_folder_that_is_not_there_instead_of_creating_it(runner, tmp_path) -> None:
    path = tmp_path / "new" / "deeper" / "dongflow.db"
    for args in (["init", "--db", str(path)], ["--db", f"sqlite:///{path}", "demo"]):
        result = runner.invoke(cli, args)  # a bare path is a SQLite file
        assert result.exit_code == 3, result.output
        assert result.stderr == (f"Error: --db: the folder {path.parent} does not exist; create it first "
                                 "(dongflow creates only its default folder)\n")
        assert not (tmp_path / "new").exists()
    (tmp_path / "new" / "deeper").mkdir(parents=True)
    assert runner.invoke(cli, ["init", "--db", str(path)]).exit_code == 0
    assert path.exists()


def test_init_creates_the_default_folder_on_a_fresh_machine(runner, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DONGFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "fresh" / "share"))
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "share" / "dongflow" / "dongflow.db").exists()


def test_default_database_comes_from_the_environment(runner, tmp_path, monkeypatch) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("DONGFLOW_DATABASE_URL", f"sqlite:///{path}")
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert path.exists()
    monkeypatch.delenv("DONGFLOW_DATABASE_URL")
    result = runner.invoke(cli, ["init"])  # the documented default: $XDG_DATA_HOME/dongflow/dongflow.db
    assert result.exit_code == 0, result.output
    assert (tmp_path / "xdg-data" / "dongflow" / "dongflow.db").exists()


# --------------------------------------------------------------------------------------------------
# project add, fact set, advance


def test_project_add_and_status_json(one, now) -> None:
    (p,) = status_json(one)
    assert p["key"] == KEY
    assert {k: p[k] for k in ("gu", "dong", "year", "workflow", "workflow_version", "state", "target", "version")} == {
        "gu": "성동구", "dong": "마장동", "year": 2016, "workflow": "space-improvement", "workflow_version": 1,
        "state": "survey", "target": "2016-07-01", "version": 1,
    }
    assert dt.datetime.fromisoformat(p["entered_at"]) == now
    assert p["entered_at"].endswith("+09:00")  # shown in the office's time zone
    assert p["state_label"] == "현장조사"
    assert p["facts"] == {"resident_meetings": 0, "design_revisions": 0, "failed_tenders": 0}


def test_project_add_with_target_and_workflow(run) -> None:
    result = run("project", "add", "k", "--gu", "성동구", "--dong", "마장동", "--year", "2017",
                 "--workflow", "space-improvement", "--target", "2017-08-15", "--actor", "a")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "added k: 현장조사 (survey), space-improvement@1, target 2017-08-15"
    assert status_json(run)[0]["target"] == "2017-08-15"


def test_a_user_workflow_folder_is_used(run, tmp_path) -> None:
    from support import DATA

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "mini.yaml").write_text((DATA / "workflows" / "good" / "mini.yaml").read_text())
    result = run("project", "add", "m", "--gu", "g", "--dong", "d", "--year", "2016", "--workflow", "mini",
                 "--actor", "a", "--workflows", str(mine))
    assert result.exit_code == 0, result.output
    assert "mini@1" in result.stdout
    result = run("status", "--json", "--workflows", str(mine))
    assert json.loads(result.stdout)[0]["state"] == "start"


def meet(one, count: str = "1") -> None:
    """A resident meeting recorded: the guard of `agree` counts them (resident_meetings >= 1)."""
    result = one("participation", "add", KEY, "resident_meeting", "--date", "2016-03-01", "--count", count,
                 "--actor", "a")
    assert result.exit_code == 0, result.output


def test_fact_set_then_advance(one) -> None:
    result = one("fact", "set", KEY, "design_revisions", "2", "--actor", "김민준", "--note", "보완 2회")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{KEY}: design_revisions = 2"
    result = one("participation", "add", KEY, "resident_meeting", "--date", "2016-03-01", "--count", "2",
                 "--actor", "김민준")
    assert result.exit_code == 0, result.output
    result = one("advance", KEY, "agree", "--actor", "김민준")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{KEY}: 현장조사 -> 사업협약 (agree, 2016-03-02 18:30 KST, by 김민준)")
    (p,) = status_json(one)
    assert (p["state"], p["previous_state"], p["version"]) == ("agreement", "survey", 4)
    assert (p["facts"]["resident_meetings"], p["facts"]["design_revisions"]) == (2, 2)


def test_a_fact_counting_participation_is_not_set_by_hand(one) -> None:
    before = dump(one.url)
    result = one("fact", "set", KEY, "resident_meetings", "2", "--actor", "a")
    assert_one_error(result, 3, "resident_meetings counts recorded resident_meeting events",
                     "dongflow participation add")
    assert dump(one.url) == before


def test_advance_actor_from_the_environment(one, monkeypatch) -> None:
    monkeypatch.setenv("DONGFLOW_ACTOR", "이서연")
    result = one("advance", KEY, "hold", "--note", "예산")
    assert result.exit_code == 0, result.output
    assert "by 이서연" in result.stdout


def test_advance_back_dated_in_local_time(one, clock, now) -> None:
    clock.set(now + dt.timedelta(days=3))
    result = one("advance", KEY, "hold", "--actor", "a", "--note", "x", "--at", "2016-03-03T10:00")
    assert result.exit_code == 0, result.output
    events = json.loads(one("history", KEY, "--json").stdout)
    assert events[-1]["at"] == "2016-03-03T10:00:00+09:00"
    assert dt.datetime.fromisoformat(events[-1]["recorded_at"]) == now + dt.timedelta(days=3)


def test_tender_failures_are_counted_and_shown(one) -> None:
    meet(one)
    for trigger in ("agree", "present_design", "approve_design", "announce_tender", "tender_failed", "tender_failed"):
        assert one("advance", KEY, trigger, "--actor", "a").exit_code == 0
    (p,) = status_json(one)
    assert p["state"] == "tender" and p["facts"]["failed_tenders"] == 2
    history = one("history", KEY)
    assert "발주 -> 발주 (failed_tenders=2)" in history.stdout


# --------------------------------------------------------------------------------------------------
# Error paths: exit code, one line, database unchanged


ERRORS = [
    # (arguments, exit code, text the error line must contain)
    (["advance", KEY, "agree", "--actor", "a"], 5,
     f"{KEY}: cannot agree from survey: resident_meetings is 0, needs >= 1; allowed from survey: agree, hold, cancel"),
    (["advance", KEY, "award", "--actor", "a"], 5, "not allowed from this state; allowed from survey: agree, hold, cancel"),
    (["advance", KEY, "hold", "--actor", "a"], 5, "a note saying why is required (--note)"),
    (["advance", KEY, "fly", "--actor", "a"], 4, "its workflow has no trigger 'fly'; allowed from survey: agree, hold"),
    (["advance", "2099-nowhere", "agree", "--actor", "a"], 4, "no project with key '2099-nowhere'"),
    (["advance", KEY, "hold", "--actor", "a", "--note", "x", "--at", "yesterday"], 3, "--at: 'yesterday' is not a date-time"),
    (["advance", KEY, "hold", "--actor", "a", "--note", "x", "--at", "2016-03-01"], 3, "before the project entered"),
    (["advance", KEY, "hold", "--actor", "a", "--note", "x", "--at", "2016-03-09"], 3, "is in the future"),
    (["advance", KEY, "hold", "--actor", " ", "--note", "x"], 3, "actor: must not be empty"),
    (["project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "a"], 6,
     f"project {KEY} already exists"),
    (["project", "add", "k2", "--gu", "g", "--dong", "d", "--year", "16", "--actor", "a"], 3, "year: 16 is outside 2000-2100"),
    (["project", "add", "k2", "--gu", "g", "--dong", "d", "--year", "2016", "--target", "July", "--actor", "a"], 3,
     "target: 'July' is not a date"),
    (["project", "add", "k2", "--gu", "g", "--dong", "d", "--year", "2016", "--workflow", "nope", "--actor", "a"], 4,
     "workflow: no workflow nope (known: space-improvement)"),
    (["project", "add", "k\x07", "--gu", "g", "--dong", "d", "--year", "2016", "--actor", "a"], 3, "control character"),
    (["fact", "set", KEY, "design_revisions", "many", "--actor", "a"], 3, "fact design_revisions: 'many' is not a valid integer"),
    (["fact", "set", KEY, "budget", "1", "--actor", "a"], 3, "has no fact 'budget'"),
    (["fact", "set", "nope", "resident_meetings", "1", "--actor", "a"], 4, "no project with key 'nope'"),
    (["status", "nope"], 4, "no project with key 'nope'"),
    (["history", "nope"], 4, "no project with key 'nope'"),
    (["workflow", "show", "nope"], 4, "no workflow nope"),
    (["workflow", "graph", "--project", "nope"], 4, "no project with key 'nope'"),
    (["workflow", "graph", "mini", "--project", KEY], 3, "runs on space-improvement, not mini"),
    (["project", "import", "/nonexistent/file.csv", "--actor", "a"], 3, "cannot read"),
    (["status", "--workflows", "/nonexistent-folder"], 3, "not a folder of workflow files"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), ERRORS, ids=lambda v: v if isinstance(v, int) else None)
def test_error_paths_leave_the_database_unchanged(one, args, code, fragment) -> None:
    before = dump(one.url)
    result = one(*args)
    assert_one_error(result, code, fragment)
    assert result.stdout == ""
    assert dump(one.url) == before


def test_conflict_changed_by_someone_else(one, monkeypatch, now) -> None:
    """Another coordinator writes between our read and our save: exit 6, their change kept, ours not."""
    import engine.project
    from storage.db import Database
    from storage.repository import SqlProjectStore

    real = engine.project.apply_step
    seen = {}

    def interloper(project, step, **kw):
        other = Database(one.url)
        try:
            store = SqlProjectStore(other)
            p, e = engine.project.set_fact(store.get(project.key), "design_revisions", 5, actor="other", now=now)
            store.save(p, e)
        finally:
            other.dispose()
        seen["after"] = dump(one.url)
        return real(project, step, **kw)

    monkeypatch.setattr(engine.project, "apply_step", interloper)
    result = one("advance", KEY, "hold", "--actor", "me", "--note", "x")
    assert_one_error(result, 6, f"{KEY} was changed by someone else", "reload it")
    assert dump(one.url) == seen["after"]
    (p,) = status_json(one)
    assert (p["state"], p["facts"]["design_revisions"], p["version"]) == ("survey", 5, 2)


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["history", KEY],
        ["advance", KEY, "agree", "--actor", "a"],
        ["fact", "set", KEY, "design_revisions", "1", "--actor", "a"],
        ["project", "add", KEY, "--gu", "g", "--dong", "d", "--year", "2016", "--actor", "a"],
        ["workflow", "graph", "--project", KEY],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_missing_schema_is_exit_7_and_says_dongflow_init(runner, db_url, args) -> None:
    before = dump(db_url)
    result = runner.invoke(cli, ["--db", db_url, *args])
    assert_one_error(result, 7, "no dongflow schema yet; run: dongflow init")
    assert dump(db_url) == before


def test_missing_sqlite_file_is_not_created_by_a_read(runner, tmp_path) -> None:
    path = tmp_path / "absent.db"
    assert_one_error(runner.invoke(cli, ["status", "--db", str(path)]), 7, "dongflow init")
    assert not path.exists()


def test_older_schema_revision_is_refused(run) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(run.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    assert_one_error(run("status"), 7, f"schema is at revision 0000, this dongflow needs {SCHEMA_REVISION}")


@pytest.mark.parametrize(
    ("url", "code", "fragment"),
    [
        ("postgresql://postgres@127.0.0.1:1/nowhere", 7, "cannot use postgresql+psycopg://postgres@127.0.0.1:1/nowhere"),
        ("postgresql://u:s3cret@127.0.0.1:1/x", 7, "cannot use postgresql+psycopg://u:***@127.0.0.1:1/x"),
        ("mysql://u@h/db", 3, "unsupported database 'mysql'"),
        ("sqlite:///{tmp}/garbage.db", 7, "is not a dongflow database or is damaged"),
        ("sqlite:///{tmp}/no/such/folder/x.db", 7, "dongflow init"),
    ],
)
def test_bad_database_urls(runner, tmp_path, url, code, fragment) -> None:
    (tmp_path / "garbage.db").write_bytes(b"this is not a database" * 100)
    result = runner.invoke(cli, ["status", "--db", url.format(tmp=tmp_path)])
    assert_one_error(result, code, fragment)
    assert "s3cret" not in result.output  # passwords are never shown


def test_missing_required_option_is_a_usage_error(one) -> None:
    result = one("advance", KEY, "agree")
    assert result.exit_code == 2
    assert "Missing option '--actor'" in result.stderr and "Traceback" not in result.output


def test_internal_errors_are_one_line_too(one, monkeypatch) -> None:
    import engine.service

    def boom(*a, **k):
        raise RuntimeError("disk on fire\n(Background on this error at: https://sqlalche.me/e/21/xyz)")

    monkeypatch.setattr(engine.service.Service, "status", boom)
    assert_one_error(one("status"), 1, "internal error (RuntimeError: disk on fire)", "DONGFLOW_DEBUG=1")


# --------------------------------------------------------------------------------------------------
# status and history


@pytest.fixture
def several(run, now):
    rows = [("2016-성동구-마장동", "성동구", "마장동", "2016"), ("2016-성동구-금호4가동", "성동구", "금호4가동", "2016"),
            ("2015-성북구-월곡1동", "성북구", "월곡1동", "2015"), ("2016-도봉구-방학3동", "도봉구", "방학3동", "2016")]
    for key, gu, dong, year in rows:
        assert run("project", "add", key, "--gu", gu, "--dong", dong, "--year", year, "--actor", "a").exit_code == 0
    run("advance", "2016-도봉구-방학3동", "hold", "--actor", "a", "--note", "x")
    return run


def test_status_filters(several) -> None:
    keys = lambda *a: [p["key"] for p in status_json(several, *a)]  # noqa: E731
    assert keys() == sorted(keys())
    assert len(keys()) == 4
    assert keys("--gu", "성동구") == ["2016-성동구-금호4가동", "2016-성동구-마장동"]
    assert keys("--year", "2015") == ["2015-성북구-월곡1동"]
    assert keys("--state", "on_hold") == ["2016-도봉구-방학3동"]
    assert keys("--gu", "성동구", "--state", "on_hold") == []
    assert keys("2015-성북구-월곡1동") == ["2015-성북구-월곡1동"]


def test_status_table_is_aligned_with_korean_text(several) -> None:
    result = several("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header, rule, rows, total = lines[0], lines[1], lines[2:-1], lines[-1]
    assert header.split() == ["키", "구", "동", "연도", "단계", "진입", "다음", "마일스톤", "기한", "수준"]
    assert total.startswith("4 건 (기준일 ")
    assert len(rows) == 4 and "보류" in result.stdout
    starts = [m.start() for m in re.finditer(r"-+", rule)]  # each column starts where its rule starts
    for row in rows:
        for start in starts[1:]:
            cut = next(i for i in range(len(row) + 1) if width(row[:i]) >= start)
            assert width(row[:cut]) == start and row[cut - 2 : cut] == "  " and row[cut] != " ", (row, start)


def test_status_in_english(several) -> None:
    result = several("status", "--lang", "en", "--state", "on_hold")
    assert result.stdout.splitlines()[0].split() == [
        "key", "gu", "dong", "year", "state", "since", "next", "milestone", "due", "level"
    ]
    assert "On hold" in result.stdout and "1 projects" in result.stdout


def test_status_of_nothing(run) -> None:
    result = run("status")
    assert result.exit_code == 0 and result.stdout.strip() == "조건에 맞는 사업이 없습니다."
    assert status_json(run) == []


def test_status_of_one_project_lists_what_can_happen_next(one) -> None:
    result = one("status", KEY)
    assert result.exit_code == 0, result.output
    assert "현장조사 (survey)" in result.stdout
    assert "agree (needs resident_meetings >= 1), hold, cancel" in result.stdout


def test_history_json(one) -> None:
    one("fact", "set", KEY, "design_revisions", "1", "--actor", "b")
    meet(one)
    one("advance", KEY, "agree", "--actor", "c", "--note", "협약식")
    events = json.loads(one("history", KEY, "--json").stdout)
    assert [(e["seq"], e["kind"], e["trigger"], e["from"], e["to"], e["actor"], e["note"]) for e in events] == [
        (1, "created", None, None, "survey", "김민준", None),
        (2, "fact", None, "survey", "survey", "b", None),
        (3, "fact", None, "survey", "survey", "a", "participation: 주민참여 회의 +1"),
        (4, "transition", "agree", "survey", "agreement", "c", "협약식"),
    ]
    assert events[1]["data"] == {"name": "design_revisions", "old": 0, "new": 1}
    # a count raised by participation says by how much (replay adds it up whatever the order of dates)
    assert events[2]["data"] == {"name": "resident_meetings", "old": 0, "new": 1, "delta": 1}
    assert all(e["key"] == KEY and e["at"].endswith("+09:00") for e in events)
    table = one("history", KEY)
    assert table.exit_code == 0 and "현장조사 -> 사업협약" in table.stdout and "협약식" in table.stdout


# --------------------------------------------------------------------------------------------------
# workflow list / show / graph (no database needed, except graph --project)


def test_workflow_list_json(runner) -> None:
    result = runner.invoke(cli, ["workflow", "list", "--json"])
    assert result.exit_code == 0, result.output
    (wf,) = json.loads(result.stdout)
    assert (wf["id"], wf["version"], wf["versions"], wf["states"]) == ("space-improvement", 1, [1], 10)
    table = runner.invoke(cli, ["workflow", "list"])
    assert "찾아가는 동주민센터 공간개선" in table.stdout


def test_workflow_show_json_can_be_read_by_other_tools(runner) -> None:
    result = runner.invoke(cli, ["workflow", "show", "space-improvement", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["id"], data["version"]) == ("space-improvement", 1)
    states = {s["id"]: s for s in data["states"]}
    assert states["survey"]["label"] == {"ko": "현장조사", "en": "Site survey"}
    assert states["survey"]["initial"] is True and states["survey"]["final"] is False
    assert [s for s, v in states.items() if v["final"]] == ["completed", "cancelled"]
    transitions = {t["trigger"]: t for t in data["transitions"]}
    assert transitions["agree"]["source"] == ["survey"]
    assert transitions["agree"]["dest"] == "agreement"
    assert transitions["agree"]["guards"] == [{"fact": "resident_meetings", "op": ">=", "value": 1}]
    assert transitions["resume"]["dest"] == "@previous"
    assert all(isinstance(t["source"], list) and isinstance(t["guards"], list) for t in data["transitions"])
    assert [m["due"] for m in data["milestones"]][-1] == "+0d"


def test_workflow_show_table(runner) -> None:
    result = runner.invoke(cli, ["workflow", "show", "space-improvement", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "resident_meetings >= 1" in result.stdout and "(note required)" in result.stdout


def test_workflow_graph_mermaid_and_dot(runner) -> None:
    mermaid = runner.invoke(cli, ["workflow", "graph", "space-improvement"]).stdout
    assert "stateDiagram-v2" in mermaid
    assert "survey --> agreement: agree [resident_meetings >= 1]" in mermaid
    assert "on_hold --> tender: resume" in mermaid
    assert "s_active" not in "\n".join(line for line in mermaid.splitlines() if line.startswith("  class "))
    dot = runner.invoke(cli, ["workflow", "graph", "space-improvement", "--format", "dot"]).stdout
    assert dot.lstrip().startswith("digraph")
    assert 'survey -> agreement [label="agree [resident_meetings >= 1]"]' in dot
    assert "darksalmon" not in dot


def test_workflow_graph_highlights_the_projects_state(one) -> None:
    one("advance", KEY, "hold", "--actor", "a", "--note", "x")
    mermaid = one("workflow", "graph", "--project", KEY).stdout
    active = [line.split()[1] for line in mermaid.splitlines() if line.strip().startswith("class ") and "s_active" in line]
    assert active == ["on_hold"]
    dot = one("workflow", "graph", "space-improvement", "--project", KEY, "--format", "dot").stdout
    highlighted = [line.split()[0] for line in dot.splitlines() if "darksalmon" in line and "->" not in line]
    assert highlighted == ["on_hold"]


def test_workflow_graph_needs_an_id_or_a_project(runner) -> None:
    result = runner.invoke(cli, ["workflow", "graph"])
    assert result.exit_code == 3 and "name a workflow ID or give --project KEY" in result.stderr


# --------------------------------------------------------------------------------------------------
# demo and help


def test_demo_fills_the_database_and_every_history_replays(runner, db_url) -> None:
    from engine.project import replay
    from storage.db import Database
    from storage.repository import SqlProjectStore

    result = runner.invoke(cli, ["demo", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "added 283 demo projects (2015: 79, 2016: 204) as of 2016-05-20" in result.stdout
    projects = json.loads(runner.invoke(cli, ["status", "--json", "--db", db_url]).stdout)
    assert len(projects) == 283
    assert {p["state"] for p in projects if p["year"] == 2015} == {"completed"}
    assert len({p["state"] for p in projects if p["year"] == 2016}) >= 4  # at plausible, varied stages
    assert "2015-성동구-마장동" in {p["key"] for p in projects}
    db = Database(db_url)
    try:
        for project, events in SqlProjectStore(db).all_histories():
            r = replay(events)
            assert (r.state, r.version, r.facts, r.previous_state) == (
                project.state, project.version, dict(project.facts), project.previous_state), project.key
            assert max(e.at for e in events) <= dt.datetime(2016, 5, 21, tzinfo=SEOUL)
    finally:
        db.dispose()
    before = dump(db_url)
    again = runner.invoke(cli, ["demo", "--db", db_url])
    assert again.exit_code == 0 and "already holds the demo (283 projects); nothing to do" in again.stdout
    assert dump(db_url) == before


def test_demo_refuses_a_database_with_some_of_its_projects(run) -> None:
    run("project", "add", "2015-성동구-마장동", "--gu", "성동구", "--dong", "마장동", "--year", "2015", "--actor", "a")
    before = dump(run.url)
    assert_one_error(run("demo"), 3, "1 of the demo's projects already exist")
    assert dump(run.url) == before


def test_every_command_has_help(runner) -> None:
    def walk(group, path):
        for name, command in group.commands.items():
            yield [*path, name], command
            if hasattr(command, "commands"):
                yield from walk(command, [*path, name])

    for path, command in walk(cli, []):
        assert command.help, path
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.stdout, path


def test_decomposed_hangul_finds_the_same_project(one) -> None:
    """Hangul typed or pasted on macOS may arrive decomposed (NFD); it names the same project."""
    import unicodedata

    nfd_key = unicodedata.normalize("NFD", KEY)
    nfd_gu = unicodedata.normalize("NFD", "성동구")
    assert nfd_key != KEY
    assert [p["key"] for p in status_json(one, "--gu", nfd_gu)] == [KEY]
    assert [p["key"] for p in status_json(one, nfd_key)] == [KEY]
    assert one("participation", "add", nfd_key, "resident_meeting", "--date", "2016-03-01", "--actor", "a").exit_code == 0
    assert one("advance", nfd_key, "agree", "--actor", "a").exit_code == 0
    assert len(json.loads(one("history", nfd_key, "--json").stdout)) == 3


def test_user_workflow_folders_from_the_environment(runner, tmp_path, monkeypatch) -> None:
    import os

    from support import DATA

    first, second = tmp_path / "one", tmp_path / "two"
    for folder, name in ((first, "mini.yaml"), (second, "hold-resume.yaml")):
        folder.mkdir()
        (folder / name).write_text((DATA / "workflows" / "good" / name).read_text())
    monkeypatch.setenv("DONGFLOW_WORKFLOWS", f"{first}{os.pathsep}{second}")
    result = runner.invoke(cli, ["workflow", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert [w["id"] for w in json.loads(result.stdout)] == ["holdable", "mini", "space-improvement"]
