"""Workflows are data in the database: publish, every project's version stored, reads that need no
local folder (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select

from cli import cli
from engine.workflow_versions import content_hash
from storage.db import Database
from storage.workflow_store import W
from support import assert_one_error, dump
from wfkit import SHIPPED_TEXT, variant, write_variant

KEY = "2017-성동구-마장동"
ADD = ["project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2017", "--actor", "kim"]


def stored(url: str) -> list[tuple[str, int, str, str]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return [(r.workflow_id, r.version, r.content_hash, r.published_by)
                    for r in conn.execute(select(W).order_by(W.c.workflow_id, W.c.version))]
    finally:
        db.dispose()


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


# -- publish ------------------------------------------------------------------------------------------------


def test_publish_stores_once_and_is_idempotent(runner, initialised_db, tmp_path) -> None:
    file = write_variant(tmp_path / "wf")
    out = ok(runner.invoke(cli, ["--db", initialised_db, "workflow", "publish", str(file), "--actor", "office"]))
    assert "published space-improvement@2" in out
    rows = stored(initialised_db)
    assert rows == [("space-improvement", 2, content_hash(variant(2)), "office")]
    before = dump(initialised_db)
    # The same content again (even with Windows line endings): a no-op that says so.
    file.write_bytes(variant(2).replace("\n", "\r\n").encode("utf-8-sig"))
    again = ok(runner.invoke(cli, ["--db", initialised_db, "workflow", "publish", str(file), "--actor", "other"]))
    assert "already published with this content" in again and "office" in again and "nothing to do" in again
    assert dump(initialised_db) == before


def test_publishing_other_content_under_a_stored_version_is_refused(runner, initialised_db, tmp_path) -> None:
    file = write_variant(tmp_path / "wf")
    ok(runner.invoke(cli, ["--db", initialised_db, "workflow", "publish", str(file)]))
    before = dump(initialised_db)
    changed = write_variant(tmp_path / "other", title="바뀐 제목")
    result = runner.invoke(cli, ["--db", initialised_db, "workflow", "publish", str(changed)])
    assert_one_error(result, 6, str(changed), "space-improvement version 2 differs from the version stored",
                     "give your file a higher version")
    assert dump(initialised_db) == before


def test_publish_validates_with_the_loader(runner, initialised_db, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(variant(2).replace("    dest: agreement\n", "    dest: nowhere\n", 1), encoding="utf-8")
    before = dump(initialised_db)
    result = runner.invoke(cli, ["--db", initialised_db, "workflow", "publish", str(bad)])
    assert result.exit_code == 3 and f"{bad}:" in result.stderr and "nowhere" in result.stderr
    assert dump(initialised_db) == before
    missing = runner.invoke(cli, ["--db", initialised_db, "workflow", "publish", str(tmp_path / "nope.yaml")])
    assert_one_error(missing, 3, "nope.yaml")
    assert dump(initialised_db) == before


def test_publish_needs_the_schema(runner, db_url, tmp_path) -> None:
    file = write_variant(tmp_path / "wf")
    assert_one_error(runner.invoke(cli, ["--db", db_url, "workflow", "publish", str(file)]), 7, "dongflow init")


# -- every project's version is stored; reads need no local folder ------------------------------------------


def test_project_add_stores_its_version_in_the_same_transaction(runner, initialised_db) -> None:
    assert stored(initialised_db) == []
    ok(runner.invoke(cli, ["--db", initialised_db, *ADD]))
    assert stored(initialised_db) == [("space-improvement", 1, content_hash(SHIPPED_TEXT), "kim")]
    ok(runner.invoke(cli, ["--db", initialised_db, "project", "add", "2017-성동구-사근동", "--gu", "성동구",
                           "--dong", "사근동", "--year", "2017", "--actor", "lee"]))
    assert len(stored(initialised_db)) == 1  # stored once


def test_a_refused_add_stores_no_version(runner, initialised_db, tmp_path) -> None:
    ok(runner.invoke(cli, ["--db", initialised_db, *ADD]))
    before = dump(initialised_db)
    folder = tmp_path / "wf"
    write_variant(folder)
    again = runner.invoke(cli, ["--db", initialised_db, "--workflows", str(folder), *ADD])
    assert_one_error(again, 6, "already exists")
    assert dump(initialised_db) == before  # version 2 was not stored either


def test_import_stores_the_version_from_a_local_folder(runner, initialised_db, tmp_path) -> None:
    folder = tmp_path / "wf"
    write_variant(folder)
    csv = tmp_path / "p.csv"
    csv.write_text("key,gu,dong,year\n2017-성동구-마장동,성동구,마장동,2017\n2017-성동구-사근동,성동구,사근동,2017\n",
                   encoding="utf-8")
    ok(runner.invoke(cli, ["--db", initialised_db, "--workflows", str(folder), "project", "import", str(csv),
                           "--actor", "kim"]))
    assert [(w, v) for w, v, _, _ in stored(initialised_db)] == [("space-improvement", 2)]
    listing = json.loads(ok(runner.invoke(cli, ["--db", initialised_db, "status", "--json"])))
    assert {p["workflow_version"] for p in listing} == {2}


def test_two_working_folders_one_database(runner, initialised_db, tmp_path, monkeypatch) -> None:
    """Issue 9: a project started with a version from one coordinator's local --workflows folder must
    not make status/report fail for every other coordinator (`no workflow space-improvement version 2`)."""
    kim, lee = tmp_path / "kim", tmp_path / "lee"
    write_variant(kim / "my-workflows")
    lee.mkdir()
    monkeypatch.chdir(kim)
    added = ok(runner.invoke(cli, ["--db", initialised_db, "--workflows", "my-workflows", *ADD, "--at", "2017-01-02"]))
    assert "space-improvement@2" in added
    ok(runner.invoke(cli, ["--db", initialised_db, "participation", "add", KEY, "resident_meeting", "--date",
                           "2017-01-20", "--actor", "kim"]))

    monkeypatch.chdir(lee)  # another coordinator: no my-workflows folder here
    db = ["--db", initialised_db]
    status = json.loads(ok(runner.invoke(cli, [*db, "status", KEY, "--json", "--as-of", "2017-03-01"])))
    assert status[0]["workflow_version"] == 2 if isinstance(status, list) else status["workflow_version"] == 2
    for args in (["status"], ["status", KEY], ["history", KEY], ["report", "--as-of", "2017-03-01"],
                 ["overdue", "--as-of", "2017-03-01"], ["alerts", "run", "--as-of", "2017-03-01"],
                 ["workflow", "graph", "--project", KEY], ["workflow", "show", "space-improvement", "--version", "2"],
                 ["advance", KEY, "agree", "--actor", "lee"]):
        result = runner.invoke(cli, [*db, *args])
        assert result.exit_code == 0, (args, result.output)
        assert "no workflow" not in result.output
    shown = json.loads(ok(runner.invoke(cli, [*db, "workflow", "show", "space-improvement", "--json"])))
    assert (shown["version"], shown["published"], shown["content_hash"]) == (2, True, content_hash(variant(2)))
    assert shown["published_by"] == "kim" and shown["published_at"]
    listing = ok(runner.invoke(cli, [*db, "workflow", "list", "--json"]))
    assert json.loads(listing)[0]["stored_versions"] == [2]


def test_a_local_file_that_differs_from_the_stored_version_is_an_error(runner, initialised_db, tmp_path) -> None:
    write_variant(tmp_path / "kim")
    ok(runner.invoke(cli, ["--db", initialised_db, "--workflows", str(tmp_path / "kim"), *ADD]))
    other = write_variant(tmp_path / "lee", title="다른 내용")
    before = dump(initialised_db)
    for args in (["status", KEY], ["project", "add", "2017-성동구-사근동", "--gu", "성동구", "--dong", "사근동",
                                   "--year", "2017", "--actor", "lee"]):
        result = runner.invoke(cli, ["--db", initialised_db, "--workflows", str(tmp_path / "lee"), *args])
        assert_one_error(result, 6, str(other), "differs from the version stored", "higher version")
    assert dump(initialised_db) == before
    # The same content in another folder is fine.
    write_variant(tmp_path / "same")
    ok(runner.invoke(cli, ["--db", initialised_db, "--workflows", str(tmp_path / "same"), "status", KEY]))


def test_the_stored_content_wins_over_a_shipped_file(runner, initialised_db) -> None:
    """A shipped file changed without a new version: the projects keep the content they were started on."""
    text = variant(1, title="저장된 제목")
    db = Database(initialised_db)
    try:
        with db.write() as conn:
            conn.execute(insert(W).values(workflow_id="space-improvement", version=1, source=text,
                                          content_hash=content_hash(text), published_at=dt_now(),
                                          published_by="office"))
    finally:
        db.dispose()
    shown = json.loads(ok(runner.invoke(cli, ["--db", initialised_db, "workflow", "show", "space-improvement",
                                              "--json"])))
    assert shown["title"]["ko"] == "저장된 제목" and shown["content_hash"] == content_hash(text)
    ok(runner.invoke(cli, ["--db", initialised_db, *ADD]))  # and adding a project does not store the file's
    assert [h for _, _, h, _ in stored(initialised_db)] == [content_hash(text)]


def test_without_a_database_the_shipped_workflows_are_listed_unpublished(runner, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    shown = json.loads(ok(runner.invoke(cli, ["--db", url, "workflow", "show", "space-improvement", "--json"])))
    assert shown["published"] is False and shown["content_hash"] == content_hash(SHIPPED_TEXT)
    assert not (tmp_path / "none.db").exists()  # a read creates no database


def test_a_long_running_process_sees_versions_published_later(initialised_db, tmp_path) -> None:
    """The web server and the scheduler load the catalog once: a version stored afterwards is fetched
    when a project first needs it, and the listings refresh."""
    from storage.workflow_store import SqlWorkflowWriter, load_catalog
    from engine.workflow_versions import WorkflowSource

    db = Database(initialised_db)
    try:
        catalog = load_catalog(db)
        assert catalog.versions("space-improvement") == [1]
        source = WorkflowSource.of("space-improvement", 2, variant(2))
        import dataclasses

        SqlWorkflowWriter(db).publish(dataclasses.replace(source, published_at=dt_now(), published_by="x"))
        assert catalog.latest("space-improvement").version == 1  # until asked for, or refreshed
        assert catalog.get("space-improvement", 2).version == 2
        assert catalog.source(("space-improvement", 2)).published
        SqlWorkflowWriter(db).publish(dataclasses.replace(WorkflowSource.of("space-improvement", 3, variant(3)),
                                                          published_at=dt_now(), published_by="x"))
        catalog.refresh()
        assert catalog.versions("space-improvement") == [1, 2, 3]
    finally:
        db.dispose()


@pytest.mark.parametrize("missing", ["nothing", "schema"])
def test_commands_on_a_database_without_the_schema_still_say_run_init(runner, tmp_path, missing) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    if missing == "schema":
        ok(runner.invoke(cli, ["--db", url, "init"]))
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE workflow_versions"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0007_accounts'"))
        engine.dispose()
        assert_one_error(runner.invoke(cli, ["--db", url, "status"]), 7, "dongflow db upgrade")
    else:
        (tmp_path / "x.db").touch()
        assert_one_error(runner.invoke(cli, ["--db", url, "status"]), 7, "dongflow init")


def dt_now():
    import datetime as dt

    return dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.timezone.utc)


def test_the_light_sqlite_check_agrees_with_the_database_class(tmp_path, monkeypatch) -> None:
    from storage.db import default_url, normalize_url
    from storage.sqlite_path import absent_sqlite_file, default_sqlite_file

    monkeypatch.chdir(tmp_path)
    assert normalize_url(default_url()) == normalize_url(str(default_sqlite_file()))
    (tmp_path / "there.db").touch()
    for url in (None, "there.db", "missing.db", str(tmp_path / "there.db"), f"sqlite:///{tmp_path / 'missing.db'}",
                "sqlite:///there.db", "sqlite:///missing.db", "postgresql://127.0.0.1:1/x"):
        db = Database(url or default_url())
        try:
            expected = db.sqlite_path is not None and not db.exists()
        finally:
            db.dispose()
        assert absent_sqlite_file(url) == expected, url


def test_stored_versions_are_parsed_once_per_content_hash(tmp_path, monkeypatch) -> None:
    import engine.loader
    from engine.workflow_versions import WorkflowSource
    from storage.workflow_store import StoredParser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = WorkflowSource.of("space-improvement", 2, variant(2))
    first = StoredParser()(source)
    assert (first.id, first.version, first.source) == ("space-improvement", 2, "database:space-improvement@2")

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(engine.loader, "load_text", no_parsing)
    assert StoredParser()(source) == first  # from the cache, in a new parser (a new process)
    with pytest.raises(AssertionError, match="parsed again"):
        StoredParser()(WorkflowSource.of("space-improvement", 2, variant(2, title="다른 내용")))
