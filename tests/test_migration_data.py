"""Upgrading a database that holds data, for every step of the migration history (SQLite and
PostgreSQL): a database made at revision R and filled there, then upgraded to R's successor, keeps
every row of every table it had; before the upgrade every command says "run: dongflow db upgrade"
(exit 7) and changes nothing; after it, the commands work on the old data.

The pairs come from the Alembic scripts, so a new migration is covered without touching this file.
If it adds a table that later steps start from, ``fill`` must learn to put rows in it (it says so).
"""

from __future__ import annotations

import datetime as dt
import json
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, Table, insert, select

from cli import cli
from programme import demo as demo_data
from storage import schema
from storage.db import SCHEMA_REVISION, Database
from storage.repository import event_values, project_values
from storage.tables import metadata
from support import assert_one_error, dump
from workflows import SHIPPED_DIR

DEMO_AS_OF = dt.date(2016, 5, 20)


def migration_steps() -> list[tuple[str, str]]:
    script = ScriptDirectory.from_config(schema._config())
    steps = [(sc.down_revision, sc.revision) for sc in script.walk_revisions() if sc.down_revision is not None]
    return sorted(steps)  # type: ignore[arg-type]


def test_there_is_at_least_one_step_and_the_last_ends_at_the_head() -> None:
    steps = migration_steps()
    assert steps and steps[-1][1] == SCHEMA_REVISION
    assert all(isinstance(a, str) for a, _ in steps)  # no merge points


def table_at_revision(db: Database, name: str) -> Table:
    """The current definition of ``name`` (its column types, e.g. UTC datetimes), cut down to the
    columns the database has at its present revision: what code of that time would have written."""
    have = {c["name"] for c in _inspect(db).get_columns(name)}
    current = metadata.tables[name]
    return Table(name, MetaData(), *[Column(c.name, c.type, primary_key=c.primary_key)
                                     for c in current.columns if c.name in have])


def _inspect(db: Database) -> Any:
    from sqlalchemy import inspect

    return inspect(db.engine)


def fill(db: Database, catalog) -> None:
    """The demo portfolio (283 projects, ~2,000 events) and, where the revision has them, alerts,
    their deliveries and the job row; all through plain INSERTs at the database's revision."""
    present = set(_inspect(db).get_table_names()) - {"alembic_version"}
    known = {"projects", "events", "alerts", "alert_deliveries", "jobs", "alert_events", "alert_destinations",
             *PROGRAMME_ROWS, "users", "api_tokens", "workflow_versions", "blackouts", "baselines",
             "web_sessions", "signin_attempts", "check_marks", "check_basis"}
    assert present <= known, f"fill() does not know how to put rows in {sorted(present - known)}; teach it"
    dongs = demo_data.read_dongs(files("programme").joinpath("data/seoul-dongs-2016.csv").read_bytes())
    items = demo_data.build(catalog, dongs, as_of=DEMO_AS_OF, tz=ZoneInfo("Asia/Seoul"))
    projects = table_at_revision(db, "projects")
    events = table_at_revision(db, "events")
    cut = lambda table, values: {k: v for k, v in values.items() if k in table.c}  # noqa: E731
    at = dt.datetime(2016, 5, 20, 17, tzinfo=dt.timezone.utc)
    with db.engine.begin() as conn:
        ids = conn.execute(insert(projects).returning(projects.c.id, sort_by_parameter_order=True),
                           [cut(projects, project_values(p)) for p, _ in items]).scalars().all()
        conn.execute(insert(events), [cut(events, event_values(e, pid)) for (_, evs), pid in zip(items, ids) for e in evs])
        if "alerts" in present:
            alerts = table_at_revision(db, "alerts")
            alert_ids = conn.execute(insert(alerts).returning(alerts.c.id, sort_by_parameter_order=True), [
                cut(alerts, {"project_id": pid, "milestone": "works_started", "level": level, "due_date": dt.date(2016, 5, 2),
                             "days": 18, "reason": f"{p.key}: 착공 기한 경과", "as_of": DEMO_AS_OF, "created_at": at})
                for n, ((p, _), pid) in enumerate(zip(items, ids)) if n % 7 == 0
                for level in ("overdue", "escalated")
            ]).scalars().all()
            if "alert_deliveries" in present:
                deliveries = table_at_revision(db, "alert_deliveries")
                conn.execute(insert(deliveries), [
                    cut(deliveries, {"alert_id": aid, "channel": channel, "recipient": recipient,
                                     "status": ("sent", "failed", "pending")[n % 3], "attempts": n % 3,
                                     "last_error": "timed out" if n % 3 == 1 else None, "next_attempt_at": at,
                                     "sent_at": at if n % 3 == 0 else None})
                    for n, aid in enumerate(alert_ids)
                    for channel, recipient in (("file", "-"), ("email", "seongdong@seoul.example"))
                ])
            if "alert_events" in present:
                events_t = table_at_revision(db, "alert_events")
                conn.execute(insert(events_t), [
                    {"alert_id": aid, "kind": "acknowledged", "actor": "office", "at": at, "as_of": DEMO_AS_OF,
                     "note": "업체와 통화함"} for aid in alert_ids[::5]
                ])
        if "alert_destinations" in present:
            conn.execute(insert(table_at_revision(db, "alert_destinations")), [
                {"channel": "file", "recipient": "-", "added_at": at},
                {"channel": "email", "recipient": "seongdong@seoul.example", "added_at": at},
            ])
        if "jobs" in present:
            jobs = table_at_revision(db, "jobs")
            conn.execute(insert(jobs), [cut(jobs, {"name": "alerts", "last_success_as_of": DEMO_AS_OF,
                                                   "last_success_at": at, "last_error": None})])
        if "workflow_versions" in present:
            from engine.workflow_versions import content_hash

            text = (SHIPPED_DIR / "space-improvement.yaml").read_text(encoding="utf-8")
            conn.execute(insert(table_at_revision(db, "workflow_versions")), [
                {"workflow_id": "space-improvement", "version": 1, "source": text, "content_hash": content_hash(text),
                 "published_at": at, "published_by": "migration-test"}])
        who = {"actor": "migration-test", "recorded_at": at}
        for name, make in PROGRAMME_ROWS.items():
            if name in present:
                table = table_at_revision(db, name)
                conn.execute(insert(table), [cut(table, {**who, **values}) for values in make(ids)])
        if "blackouts" in present:
            conn.execute(insert(table_at_revision(db, "blackouts")), [
                {**who, "scope": "gu", "target": "성동구", "start_date": dt.date(2016, 4, 13),
                 "end_date": dt.date(2016, 4, 13), "reason": "국회의원 선거 투표소"},
                {**who, "scope": "all", "target": None, "start_date": dt.date(2016, 5, 2),
                 "end_date": dt.date(2016, 5, 3), "reason": "축제"}])
        if "web_sessions" in present:
            conn.execute(insert(table_at_revision(db, "web_sessions")), [
                {"id_hash": "ab" * 32, "user_name": "kim", "csrf_token": "cd" * 32, "created_at": at,
                 "last_seen_at": at, "expires_at": at + dt.timedelta(hours=8), "address": "127.0.0.1"}])
            conn.execute(insert(table_at_revision(db, "signin_attempts")), [
                {"account": "kim", "address": "127.0.0.1", "at": at}])
        if "check_marks" in present:
            conn.execute(insert(table_at_revision(db, "check_marks")), [
                {"project_id": pid, "version": 1, "recheck_on": dt.date(2016, 6, 1), "findings": 0} for pid in ids[:20]])
            conn.execute(insert(table_at_revision(db, "check_basis")), [
                {"name": "alerts", "basis": "0" * 64, "as_of": DEMO_AS_OF}])
        if "baselines" in present:
            conn.execute(insert(table_at_revision(db, "baselines")), [
                {**who, "project_id": ids[0], "milestone": "works_started", "planned": dt.date(2016, 5, 1),
                 "taken_on": dt.date(2016, 2, 20)}])
        if "users" in present:
            users = table_at_revision(db, "users")
            user_ids = conn.execute(insert(users).returning(users.c.id, sort_by_parameter_order=True), [
                cut(users, {"name": name, "display_name": display, "role": role, "districts": gus, "disabled": False,
                            "created_at": at, "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
                            "password_changed_at": at})
                for name, display, role, gus in (("kim", "김민준", "coordinator", ["성동구"]),
                                                 ("boss", None, "admin", []))]).scalars().all()
            if "api_tokens" in present:
                tokens = table_at_revision(db, "api_tokens")
                conn.execute(insert(tokens), [
                    cut(tokens, {"name": "kim-laptop", "prefix": "0123456789ab", "token_hash": "0" * 64,
                                 "owner_id": user_ids[0], "role": None, "districts": [], "created_at": at,
                                 "created_by": "boss", "expires_at": None, "revoked_at": None, "last_used_at": at}),
                    cut(tokens, {"name": "city", "prefix": "ba9876543210", "token_hash": "1" * 64, "owner_id": None,
                                 "role": "officer", "districts": [], "created_at": at, "created_by": "boss",
                                 "expires_at": at + dt.timedelta(days=365), "revoked_at": None,
                                 "last_used_at": None})])


PROGRAMME_ROWS: dict[str, Any] = {
    "project_budgets": lambda ids: [{"project_id": ids[0], "year": 2016, "allocated": 150_000_000,
                                     "executed": 90_000_000, "note": "1차"}],
    "programme_budgets": lambda ids: [{"item": "운영", "year": 2016, "allocated": 3_000_000_000, "executed": 0,
                                       "note": None}],
    "participation": lambda ids: [{"project_id": ids[1], "kind": "resident_meeting", "held_on": dt.date(2016, 3, 3),
                                   "times": 2, "note": "주민 회의"},
                                  {"project_id": None, "kind": "briefing", "held_on": dt.date(2016, 2, 1), "times": 1,
                                   "note": None}],
    "project_people": lambda ids: [{"project_id": ids[0], "role": "architect", "name": "이건축",
                                    "contact": "010-0000-0000"}],
    "plan_quarters": lambda ids: [{"year": 2016, "quarter": 2, "completions": 80}],
    "plan_years": lambda ids: [{"year": 2016, "budget": 12_000_000_000}],
}
"""A row or two for each programme table (schema 0003), given the ids of the filled projects."""


def rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (not alembic_version), as the database holds it now."""
    meta = MetaData()
    meta.reflect(db.engine)
    out = {}
    with db.engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            if name != "alembic_version":
                order = list(table.primary_key.columns)
                out[name] = [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]
    return out


@pytest.fixture
def at_revision(db_url: str, catalog):
    """A database made at revision ``rev`` and filled with data there."""

    def make(rev: str) -> Database:
        db = Database(db_url)
        schema.upgrade(db, rev)
        assert db.current_revision() == rev
        fill(db, catalog)
        return db

    return make


@pytest.mark.parametrize(("rev", "next_rev"), migration_steps(), ids=lambda r: r)
def test_upgrading_a_filled_database_loses_nothing(at_revision, runner, db_url, rev, next_rev, tmp_path,
                                                  monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # default alert channels, not the developer's
    monkeypatch.delenv("DONGFLOW_CONFIG", raising=False)
    db = at_revision(rev)
    before = rows(db)
    assert before["projects"] and before["events"]
    key = before["projects"][0]["key"]
    progressing = next(p["key"] for p in before["projects"] if p["state"] not in ("completed", "cancelled"))
    snapshot = dump(db_url)
    csv = tmp_path / "p.csv"
    csv.write_text("key,gu,dong,year\n2017-성동구-마장동,성동구,마장동,2017\n", encoding="utf-8")

    # Before the upgrade: every command that needs the schema refuses, in one line, and writes nothing.
    outdated = f"the database schema is at revision {rev}, this dongflow needs {SCHEMA_REVISION}; run: dongflow db upgrade"
    for args in (["status"], ["status", key], ["status", "--json", "--year", "2016"], ["history", key],
                 ["advance", progressing, "hold", "--note", "x", "--actor", "a"],
                 ["fact", "set", key, "resident_meetings", "3", "--actor", "a"],
                 ["project", "add", "2017-성동구-사근동", "--gu", "성동구", "--dong", "사근동", "--year", "2017", "--actor", "a"],
                 ["project", "import", str(csv), "--actor", "a"], ["overdue", "--as-of", "2016-05-20"],
                 ["alerts", "run", "--as-of", "2016-05-20"], ["alerts", "list"], ["workflow", "graph", "--project", key],
                 ["dump", str(tmp_path / "d.json")]):
        result = runner.invoke(cli, ["--db", db_url, *args])
        assert_one_error(result, 7, outdated)
        assert result.stdout == ""
    assert dump(db_url) == snapshot
    current = runner.invoke(cli, ["db", "current", "--db", db_url])
    assert current.exit_code == 0 and f"revision {rev};" in current.stdout and "needs: dongflow db upgrade" in current.stdout

    # The upgrade: the CLI's own command for the last step; the same function, stopped at next_rev, for earlier ones.
    if next_rev == SCHEMA_REVISION:
        upgraded = runner.invoke(cli, ["db", "upgrade", "--db", db_url])
        assert upgraded.exit_code == 0, upgraded.output
        assert upgraded.stdout.strip().endswith(f"upgraded from {rev} to {next_rev}")
    else:
        assert schema.upgrade(db, next_rev) == (rev, next_rev)
    assert db.current_revision() == next_rev

    # Nothing lost: every table that was there still has every row, column by column.
    after = rows(db)
    for name, old in before.items():
        assert name in after, f"table {name} is gone"
        kept = [{k: row[k] for k in old[0]} for row in after[name]] if old else after[name]
        assert kept == old, f"rows of {name} changed"
    db.dispose()

    # And the commands work on the old data (at the head; earlier steps are upgraded on the way).
    assert runner.invoke(cli, ["db", "upgrade", "--db", db_url]).exit_code == 0
    listing = runner.invoke(cli, ["status", "--json", "--db", db_url])
    assert listing.exit_code == 0, listing.output
    assert {p["key"] for p in json.loads(listing.stdout)} == {p["key"] for p in before["projects"]}
    for args in (["status", key], ["history", key], ["overdue", "--as-of", "2016-05-20"]):
        result = runner.invoke(cli, ["--db", db_url, *args])
        assert result.exit_code == 0, (args, result.output)
    moved = runner.invoke(cli, ["--db", db_url, "advance", progressing, "hold", "--note", "업그레이드 후", "--actor", "a"])
    assert moved.exit_code == 0, moved.output
    added = runner.invoke(cli, ["--db", db_url, "project", "import", str(csv), "--actor", "a"])
    assert added.exit_code == 0, added.output
    alerts = runner.invoke(cli, ["--db", db_url, "alerts", "run", "--as-of", "2016-05-20"])
    assert alerts.exit_code == 0, alerts.output


def test_the_workflows_step_stores_the_versions_projects_use(at_revision, runner, db_url, tmp_path, monkeypatch) -> None:
    """0009_workflows: every (workflow, version) the projects use is stored, from the shipped workflows and
    the --workflows folders the upgrade is given; one found nowhere is named in a warning, not a crash, and
    the projects on a stored version are read afterwards without any folder."""
    from sqlalchemy import update

    from engine.workflow_versions import content_hash
    from storage.repository import P
    from storage.workflow_store import W
    from wfkit import variant, write_variant

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    rev = next(a for a, b in migration_steps() if b == "0009_workflows")
    db = at_revision(rev)
    keys = [p["key"] for p in rows(db)["projects"]]
    on_v2, on_v3 = keys[:3], keys[3:5]
    with db.engine.begin() as conn:
        conn.execute(update(P).where(P.c.key.in_(on_v2)).values(workflow_version=2))
        conn.execute(update(P).where(P.c.key.in_(on_v3)).values(workflow_version=3))
    before = rows(db)
    folder = tmp_path / "kim-workflows"
    write_variant(folder)
    upgraded = runner.invoke(cli, ["db", "upgrade", "--db", db_url, "--workflows", str(folder)])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from {rev} to {SCHEMA_REVISION}" in upgraded.stdout
    assert "2 projects use workflow space-improvement version 3, which is not stored" in upgraded.stderr
    assert "dongflow workflow publish FILE" in upgraded.stderr
    after = rows(db)
    for name, old in before.items():
        assert [{k: row[k] for k in old[0]} for row in after[name]] == old, name
    shipped = (SHIPPED_DIR / "space-improvement.yaml").read_text(encoding="utf-8")
    assert [(r["workflow_id"], r["version"], r["content_hash"], r["source"]) for r in after["workflow_versions"]] == [
        ("space-improvement", 1, content_hash(shipped), shipped),
        ("space-improvement", 2, content_hash(variant(2)), variant(2))]
    with db.engine.connect() as conn:
        assert conn.execute(select(W.c.published_by)).scalars().all() == ["dongflow db upgrade (0009_workflows)"] * 2
    db.dispose()
    # Read without the folder: version 2 from the database; version 3 is a clear "not found", no traceback.
    assert runner.invoke(cli, ["--db", db_url, "status", on_v2[0]]).exit_code == 0
    assert_one_error(runner.invoke(cli, ["--db", db_url, "status", on_v3[0]]), 4, "no workflow space-improvement version 3")
    again = runner.invoke(cli, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0 and "version 3" in again.stderr  # said again until it is published
    # Its projects can be moved to a stored version (their version's file is gone, their state is not).
    moved = runner.invoke(cli, ["--db", db_url, "workflow", "migrate", "space-improvement", "--to", "1",
                                "--where", f"year={on_v3[0][:4]}", "--json"])
    assert moved.exit_code == 0, moved.output
    assert set(on_v3) <= {m["key"] for m in json.loads(moved.stdout)["moved"]}
    assert runner.invoke(cli, ["--db", db_url, "status", on_v3[0]]).exit_code == 0
    assert "version 3" not in runner.invoke(cli, ["db", "upgrade", "--db", db_url]).stderr
