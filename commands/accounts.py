"""Accounts for the web app and the API: `dongflow user ...` and `dongflow token ...`.

The CLI is the operator's tool on the server: it may manage every account. Passwords are read from
standard input (one line) or prompted for twice, never taken as an argument (they would stay in the
shell history and the process list).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

import click

from commands.common import App, _h, _json, app_options, pass_app
from engine.roles import ROLE_HELP, ROLES
from engine.errors import InvalidInput

ROLE_TEXT = "; ".join(f"{r}: {h}" for r, h in ROLE_HELP.items())


def _operator(app: App) -> object:
    from engine.access import Principal

    return Principal.operator()


def _read_password(prompt: str) -> str:
    """One line from stdin when it is not a terminal (scripts), else a hidden prompt, twice."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("no password on standard input", field="password")
        return line.rstrip("\r\n")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True)


@click.group()
def user() -> None:
    """Accounts that sign in to the web app: add, change password, list, disable."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help=f"What the user may do ({ROLE_TEXT}).")
@click.option("--gu", "districts", multiple=True, metavar="GU",
              help="A district the user works on (repeatable). Coordinators need one; viewers without: all.")
@click.option("--display", "display_name", help='The name shown in the app, e.g. "김민준".')
@app_options
@pass_app
def user_add(app: App, name: str, role: str, districts: Sequence[str], display_name: str | None) -> None:
    """Add a user; the password is read from standard input or prompted for (never an argument)."""
    from engine.accounts import check_password, clean_name

    clean_name(name)
    app.accounts.check_role_districts(role, districts)  # before asking for a password
    password = check_password(_read_password("Password"))
    row = app.accounts.add_user(_operator(app), name, role, password, districts=districts,  # type: ignore[arg-type]
                                display_name=display_name, now=app.now())
    where = ", ".join(row.districts) or _h(app, "전체 구", "every district")
    click.echo(f"added user {row.name} ({row.role}; {where})")


@user.command("passwd")
@click.argument("name")
@app_options
@pass_app
def user_passwd(app: App, name: str) -> None:
    """Set a user's password (read from standard input or prompted for)."""
    from engine.accounts import check_password

    if app.accounts.store.user(name) is None:
        from engine.errors import NotFound

        raise NotFound(f"no user {name!r}")
    password = check_password(_read_password("New password"))
    app.accounts.set_password(_operator(app), name, password, now=app.now())  # type: ignore[arg-type]
    click.echo(f"password of {name} changed")


@user.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@app_options
@pass_app
def user_disable(app: App, name: str, enable: bool) -> None:
    """Disable an account: it can no longer sign in, and its sessions and tokens stop working at once."""
    app.accounts.set_disabled(_operator(app), name, not enable)  # type: ignore[arg-type]
    if not enable:  # signed out everywhere, as the web page does: enabling again revives no session
        from engine.accounts import clean_name
        from storage.web_sessions import SqlSessionStore

        SqlSessionStore(app.db).delete_user(clean_name(name))
    click.echo(f"{'enabled' if enable else 'disabled'} user {name}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@app_options
@pass_app
def user_list(app: App, as_json: bool) -> None:
    """List the users: name, display name, role, districts, disabled, created."""
    from storage.accounts import UserPublic

    users = [UserPublic.model_validate(u, from_attributes=True) for u in app.accounts.users(_operator(app))]
    if as_json:
        _json([u.model_dump(mode="json") for u in users])
        return
    if not users:
        click.echo(_h(app, "사용자가 없습니다. dongflow user add NAME --role admin 으로 만드세요.",
                      "No users yet; create one with: dongflow user add NAME --role admin"))
        return
    from render.table import table

    click.echo(table(
        [_h(app, "이름", "name"), _h(app, "표시 이름", "display"), _h(app, "역할", "role"),
         _h(app, "구", "districts"), _h(app, "상태", "status"), _h(app, "생성", "created")],
        [[u.name, u.display_name or "", u.role, ", ".join(u.districts) or _h(app, "전체", "all"),
          _h(app, "사용 중지", "disabled") if u.disabled else _h(app, "사용", "active"), app.local(u.created_at)]
         for u in users]))


@click.group()
def token() -> None:
    """API tokens for other systems (Authorization: Bearer TOKEN): create, list, revoke."""


@token.command("create")
@click.argument("name")
@click.option("--user", "owner", metavar="USER", help="Act as this user (their role, districts and name).")
@click.option("--role", type=click.Choice(ROLES), help="The token's own role, when it acts for no user.")
@click.option("--gu", "districts", multiple=True, metavar="GU", help="A district of the token's role (repeatable).")
@click.option("--expires", metavar="DATE", help="Last day the token works (YYYY-MM-DD; default: never expires).")
@app_options
@pass_app
def token_create(app: App, name: str, owner: str | None, role: str | None, districts: Sequence[str],
                 expires: str | None) -> None:
    """Create an API token and print it once (only its hash is stored: keep it somewhere safe).

    `token create kim` makes a token that acts as the user kim; `--user` names the user for a token
    of another name, `--role` (and `--gu`) gives a token for another system a role of its own.
    """
    from engine.values import parse_date

    if owner is None and role is None and not districts:
        if app.accounts.store.user(name) is None:
            raise InvalidInput(f"there is no user {name!r}: give --user USER, or --role for a token of its own",
                               field="--role")
        owner = name

    expires_at = None
    if expires is not None:
        day = parse_date(expires, "--expires")
        expires_at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), app.tz).astimezone(dt.timezone.utc)
    secret = app.accounts.create_token(_operator(app), name, now=app.now(), owner=owner,  # type: ignore[arg-type]
                                       role=role, districts=districts, expires_at=expires_at)
    click.echo(secret)
    click.echo(_h(app, f"토큰 {name}: 지금 한 번만 표시됩니다. 안전한 곳에 보관하세요.",
                  f"token {name}: shown this once only; keep it somewhere safe."), err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@app_options
@pass_app
def token_list(app: App, as_json: bool) -> None:
    """List API tokens (never the tokens themselves): owner or role, expiry, revoked, last used."""
    tokens = app.accounts.tokens(_operator(app))  # type: ignore[arg-type]
    if as_json:
        _json([t.model_dump(mode="json") for t in tokens])
        return
    if not tokens:
        click.echo(_h(app, "토큰이 없습니다.", "No tokens."))
        return
    from render.table import table

    now = app.now()

    def state(t: object) -> str:
        if t.revoked_at is not None:  # type: ignore[attr-defined]
            return _h(app, "폐기", "revoked")
        if t.expires_at is not None and t.expires_at <= now:  # type: ignore[attr-defined]
            return _h(app, "만료", "expired")
        return _h(app, "유효", "active")

    click.echo(table(
        [_h(app, "이름", "name"), "prefix", _h(app, "사용자/역할", "user/role"), _h(app, "구", "districts"),
         _h(app, "만료", "expires"), _h(app, "상태", "status"), _h(app, "마지막 사용", "last used")],
        [[t.name, t.prefix, t.owner or t.role or "", ", ".join(t.districts), app.local(t.expires_at), state(t),
          app.local(t.last_used_at)] for t in tokens]))


@token.command("revoke")
@click.argument("name")
@app_options
@pass_app
def token_revoke(app: App, name: str) -> None:
    """Revoke an API token: it stops working at once (the row stays, for the record)."""
    app.accounts.revoke_token(_operator(app), name, now=app.now())  # type: ignore[arg-type]
    click.echo(f"revoked token {name}")
