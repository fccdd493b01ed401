"""`dongflow user ...` and `dongflow token ...`: accounts made by the operator on the server."""

from __future__ import annotations

import json

import pytest

from cli import cli
from support import assert_one_error, dump

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setattr("engine.accounts.default_hasher",
                        lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def _accounts(url: str):  # type: ignore[no-untyped-def]
    from engine.accounts import AccountService
    from storage.accounts import SqlAccountStore
    from storage.db import Database

    return AccountService(SqlAccountStore(Database(url)))


def test_user_add_list_passwd_disable(runner, initialised_db: str) -> None:
    db = ["--db", initialised_db]
    added = runner.invoke(cli, ["user", "add", "kim", "--role", "coordinator", "--gu", "성동구", "--gu", "광진구",
                                "--display", "김민준", *db], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "added user kim (coordinator; 광진구, 성동구)" in added.stdout
    assert PASSWORD not in added.output
    listed = json.loads(runner.invoke(cli, ["user", "list", "--json", *db]).stdout)
    assert [(u["name"], u["display_name"], u["role"], u["districts"], u["disabled"]) for u in listed] == [
        ("kim", "김민준", "coordinator", ["광진구", "성동구"], False)]
    assert "password" not in json.dumps(listed) and "argon2" not in json.dumps(listed)
    table = runner.invoke(cli, ["user", "list", *db]).stdout
    assert "김민준" in table and "coordinator" in table

    accounts = _accounts(initialised_db)
    assert accounts.authenticate("kim", PASSWORD).districts == frozenset({"성동구", "광진구"})
    changed = runner.invoke(cli, ["user", "passwd", "kim", *db], input="another long secret\n")
    assert changed.exit_code == 0, changed.output
    from engine.errors import NotAuthenticated

    with pytest.raises(NotAuthenticated):
        accounts.authenticate("kim", PASSWORD)
    assert accounts.authenticate("kim", "another long secret").name == "kim"
    assert runner.invoke(cli, ["user", "disable", "kim", *db]).exit_code == 0
    with pytest.raises(NotAuthenticated):
        accounts.authenticate("kim", "another long secret")
    assert json.loads(runner.invoke(cli, ["user", "list", "--json", *db]).stdout)[0]["disabled"] is True


@pytest.mark.parametrize("args,stdin,code,fragment", [
    (["user", "add", "kim", "--role", "coordinator"], PASSWORD, 3, "at least one district"),
    (["user", "add", "kim", "--role", "officer", "--gu", "성동구"], PASSWORD, 3, "every district"),
    (["user", "add", "kim", "--role", "viewer"], "short\n", 3, "10 to 1024 characters"),
    (["user", "add", "kim", "--role", "viewer"], "", 3, "no password"),
    (["user", "add", "bad name", "--role", "viewer"], PASSWORD, 3, "letters a-z"),
    (["user", "add", "kim", "--role", "root"], PASSWORD, 2, "root"),
    (["user", "passwd", "nobody"], PASSWORD, 4, "no user"),
    (["user", "disable", "nobody"], "", 4, "no user"),
    (["token", "create", "t", "--user", "nobody"], "", 4, "no user"),
    (["token", "create", "t"], "", 3, "no user 't'"),
    (["token", "create", "t", "--gu", "성동구"], "", 3, "--role"),
    (["token", "create", "t", "--role", "viewer", "--expires", "2001-01-01"], "", 3, "not in the future"),
    (["token", "create", "t", "--role", "coordinator"], "", 3, "at least one district"),
    (["token", "revoke", "nothing"], "", 4, "no token"),
    (["user", "add", "kim", "--role", "coordinator", "--gu", "성동구", "--gu", "성동"], PASSWORD, 3,
     "unknown district '성동' (valid: 종로구, 중구, "),
    # refused before the password is read (there is none on stdin):
    (["user", "add", "kim", "--role", "viewer", "--gu", "Gangnam"], "", 3, "unknown district 'Gangnam'"),
    (["token", "create", "t", "--role", "viewer", "--gu", "없는구"], "", 3, "unknown district '없는구'"),
])
def test_bad_account_commands_change_nothing(runner, initialised_db: str, args, stdin, code, fragment) -> None:
    before = dump(initialised_db)
    result = runner.invoke(cli, [*args, "--db", initialised_db], input=stdin)
    if code == 2:
        assert result.exit_code == 2 and fragment in result.output
    else:
        assert_one_error(result, code, fragment)
    assert dump(initialised_db) == before


def test_names_are_unique_across_users_and_tokens(runner, initialised_db: str) -> None:
    db = ["--db", initialised_db]
    assert runner.invoke(cli, ["user", "add", "kim", "--role", "viewer", *db], input=PASSWORD).exit_code == 0
    assert_one_error(runner.invoke(cli, ["user", "add", "kim", "--role", "viewer", *db], input=PASSWORD), 6,
                     "already exists")
    assert_one_error(runner.invoke(cli, ["token", "create", "kim", "--role", "viewer", *db]), 6, "user named")
    assert runner.invoke(cli, ["token", "create", "city", "--role", "officer", *db]).exit_code == 0
    assert_one_error(runner.invoke(cli, ["user", "add", "city", "--role", "viewer", *db], input=PASSWORD), 6,
                     "token named")


def test_token_is_shown_once_and_stored_hashed(runner, initialised_db: str) -> None:
    db = ["--db", initialised_db]
    runner.invoke(cli, ["user", "add", "kim", "--role", "coordinator", "--gu", "성동구", *db], input=PASSWORD)
    created = runner.invoke(cli, ["token", "create", "kim-laptop", "--user", "kim", "--expires", "2099-12-31", *db])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("dft_") and len(token) > 50
    assert "shown this once" in created.stderr or "한 번만" in created.stderr
    everything = json.dumps(dump(initialised_db), default=str)
    assert token not in everything and token.split("_", 2)[2] not in everything
    listed = runner.invoke(cli, ["token", "list", "--json", *db])
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "kim-laptop" and row["owner"] == "kim" and row["expires_at"].startswith("2099-12-31T15:00")  # the end of the day in Seoul
    assert token not in listed.stdout and "hash" not in listed.stdout
    accounts = _accounts(initialised_db)
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    me = accounts.authenticate_token(token, now=now)
    assert (me.name, me.role, me.via) == ("kim", "coordinator", "token")
    assert runner.invoke(cli, ["token", "revoke", "kim-laptop", *db]).exit_code == 0
    from engine.errors import NotAuthenticated

    with pytest.raises(NotAuthenticated):
        accounts.authenticate_token(token, now=now)
    table = runner.invoke(cli, ["token", "list", "--lang", "en", *db]).stdout
    assert "revoked" in table


def test_a_token_named_after_a_user_acts_as_them(runner, initialised_db: str) -> None:
    db = ["--db", initialised_db]
    runner.invoke(cli, ["user", "add", "kim", "--role", "viewer", "--gu", "성동구", *db], input=PASSWORD)
    created = runner.invoke(cli, ["token", "create", "kim", "--expires", "2099-01-01", *db])
    assert created.exit_code == 0, created.output
    (row,) = json.loads(runner.invoke(cli, ["token", "list", "--json", *db]).stdout)
    assert (row["name"], row["owner"], row["role"]) == ("kim", "kim", None)
    import datetime as dt

    me = _accounts(initialised_db).authenticate_token(created.stdout.strip(), now=dt.datetime.now(dt.timezone.utc))
    assert (me.name, me.role, me.districts) == ("kim", "viewer", frozenset({"성동구"}))
    assert_one_error(runner.invoke(cli, ["token", "create", "kim", *db]), 6, "already exists")


def test_an_office_gets_an_account_before_its_first_project(runner, initialised_db: str) -> None:
    """Any of Seoul's 25 districts is valid, projects or not (the database here holds none)."""
    db = ["--db", initialised_db]
    added = runner.invoke(cli, ["user", "add", "lee", "--role", "coordinator", "--gu", "강동구", *db], input=PASSWORD)
    assert added.exit_code == 0 and "(coordinator; 강동구)" in added.stdout, added.output
    made = runner.invoke(cli, ["token", "create", "gangdong-feed", "--role", "viewer", "--gu", "강동구", *db])
    assert made.exit_code == 0, made.output
