"""Accounts: users with passwords, API tokens, and signing in (password or bearer token).

* Passwords are hashed with Argon2id (argon2-cffi, its RFC 9106 default parameters) and never stored,
  shown or taken as a command-line argument. A hash made with older parameters is upgraded at sign-in.
* A token is ``dft_<prefix>_<secret>``: the prefix (public, stored) finds the row, the SHA-256 of the
  whole token is compared with :func:`hmac.compare_digest` (constant time). The token itself is shown
  once, when it is created, and never stored.
* Signing in fails with one and the same :class:`NotAuthenticated` for an unknown name, a wrong
  password, a disabled account, or a bad, expired or revoked token; an unknown name costs the same
  Argon2 verification as a known one, so neither the answer nor its timing tells whether a name exists.
* Managing accounts needs a principal that ``can_admin`` (an admin, or the CLI's operator).

Time comes in as ``now``; storage is behind :class:`AccountStore`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Collection, Sequence
from typing import Any, Protocol

from engine.access import Principal, check_role_districts
from engine.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from engine.values import clean_text

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOKEN_PREFIX = "dft"
TOUCH_EVERY = dt.timedelta(minutes=1)
"""A token's ``last_used_at`` is written at most this often (not a write per request)."""
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class AccountStore(Protocol):
    def add_user(self, values: dict[str, Any]) -> None: ...
    def user(self, name: str) -> Any: ...
    def users(self) -> list[Any]: ...
    def update_user(self, name: str, values: dict[str, Any]) -> None: ...
    def add_token(self, values: dict[str, Any], owner: str | None) -> None: ...
    def token_by_prefix(self, prefix: str) -> tuple[Any, Any] | None: ...
    def tokens(self) -> list[Any]: ...
    def update_token(self, name: str, values: dict[str, Any]) -> None: ...
    def touch_token(self, token_id: int, now: dt.datetime, older_than: dt.datetime) -> None: ...


def default_hasher() -> Any:
    """The Argon2id hasher (argon2-cffi's defaults: RFC 9106's low-memory profile, 64 MiB)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


def clean_name(value: object, field: str = "name") -> str:
    name = clean_text(value, field, max_len=100)
    if not set(name) <= NAME_CHARS:
        raise InvalidInput(f"{name!r}: use letters a-z, digits and . _ - @ only", field=field)
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise InvalidInput(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password")
    if password != password.strip() or "\n" in password or "\r" in password:
        raise InvalidInput("a password must not start or end with spaces or contain a line break", field="password")
    return password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccountService:
    def __init__(self, store: AccountStore, hasher: Any = None, districts: Collection[str] | None = None) -> None:
        self.store = store
        self.hasher = hasher if hasher is not None else default_hasher()
        self.districts = None if districts is None else tuple(districts)
        """The districts a user or token may be limited to (the doors pass the programme's list,
        programme.places.seoul_districts); one not among them is refused. None: any name."""
        self._dummy_hash: str | None = None

    def check_role_districts(self, role: str, districts: Sequence[str]) -> tuple[str, ...]:
        """A role with its districts, validated (each district one there is); the districts cleaned."""
        return check_role_districts(role, districts, self.districts)

    # -- who may manage ---------------------------------------------------------------------
    @staticmethod
    def _admin(by: Principal, action: str) -> None:
        if not by.can_admin:
            raise Forbidden(by.describe(), action)

    # -- users ------------------------------------------------------------------------------
    def add_user(self, by: Principal, name: str, role: str, password: str, *, districts: Sequence[str] = (),
                 display_name: str | None = None, now: dt.datetime) -> Any:
        self._admin(by, "add users")
        name = clean_name(name)
        gus = self.check_role_districts(role, districts)
        display = clean_text(display_name, "display", max_len=200, required=False) or None
        values = {
            "name": name, "display_name": display, "role": role, "districts": list(gus), "disabled": False,
            "created_at": now, "password_hash": self.hasher.hash(check_password(password)),
            "password_changed_at": now,
        }
        self.store.add_user(values)
        return self.store.user(name)

    def set_password(self, by: Principal, name: str, password: str, *, now: dt.datetime,
                     current: str | None = None) -> None:
        """An admin sets anyone's password; a user may set their own by giving the ``current`` one
        (a session left open is not enough to take the account over)."""
        if by.name != name or by.via == "token":
            self._admin(by, "set another user's password")
        elif not by.can_admin:
            self._check_current(name, current)
        self.store.update_user(clean_name(name), {"password_hash": self.hasher.hash(check_password(password)),
                                                  "password_changed_at": now})

    def _check_current(self, name: str, current: str | None) -> None:
        from argon2.exceptions import InvalidHashError, VerificationError

        user = self.store.user(clean_name(name))
        try:
            self.hasher.verify(user.password_hash if user is not None else self._dummy(), current or "")
        except (VerificationError, InvalidHashError):
            raise InvalidInput("the current password is not right", field="current") from None

    def set_disabled(self, by: Principal, name: str, disabled: bool = True) -> None:
        self._admin(by, "disable users" if disabled else "enable users")
        self.store.update_user(clean_name(name), {"disabled": disabled})

    def set_role(self, by: Principal, name: str, role: str, districts: Sequence[str] = ()) -> None:
        self._admin(by, "change roles")
        gus = self.check_role_districts(role, districts)
        self.store.update_user(clean_name(name), {"role": role, "districts": list(gus)})

    def users(self, by: Principal) -> list[Any]:
        self._admin(by, "list users")
        return self.store.users()

    # -- tokens -----------------------------------------------------------------------------
    def create_token(self, by: Principal, name: str, *, now: dt.datetime, owner: str | None = None,
                     role: str | None = None, districts: Sequence[str] = (),
                     expires_at: dt.datetime | None = None) -> str:
        """Create a token and return it (the only time it is ever available)."""
        self._admin(by, "create tokens")
        name = clean_name(name)
        if owner is not None:
            if role is not None or districts:
                raise InvalidInput("a user's token acts with the user's role and districts; give no --role or --gu",
                                   field="role")
            gus: tuple[str, ...] = ()
        else:
            if role is None:
                raise InvalidInput("name the token's role (--role) or the user it acts for (--user)", field="role")
            gus = self.check_role_districts(role, districts)
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("the expiry date is not in the future", field="expires")
        prefix = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        self.store.add_token({
            "name": name, "prefix": prefix, "token_hash": token_hash(token), "role": role,
            "districts": list(gus), "created_at": now, "created_by": by.name, "expires_at": expires_at,
        }, clean_name(owner, "user") if owner is not None else None)
        return token

    def revoke_token(self, by: Principal, name: str, *, now: dt.datetime) -> None:
        self._admin(by, "revoke tokens")
        self.store.update_token(clean_name(name), {"revoked_at": now})

    def tokens(self, by: Principal) -> list[Any]:
        self._admin(by, "list tokens")
        return self.store.tokens()

    # -- signing in -------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, *, now: dt.datetime | None = None) -> Principal:
        """The principal for a name and password, or NotAuthenticated (the same for every cause)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        user = None
        try:
            user = self.store.user(clean_name(name))
        except InvalidInput:
            pass
        stored = user.password_hash if user is not None else self._dummy()
        try:
            self.hasher.verify(stored, password if isinstance(password, str) else "")
            ok = user is not None and not user.disabled
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            raise NotAuthenticated()
        if self.hasher.check_needs_rehash(stored):
            try:
                self.store.update_user(user.name, {"password_hash": self.hasher.hash(password)})
            except NotFound:
                raise NotAuthenticated() from None
        return Principal.of(user.name, user.role, user.districts, display_name=user.display_name, via="password")

    def principal_for(self, name: str, *, signed_in_at: dt.datetime | None = None) -> Principal:
        """The principal of a signed-in user (a session names its user): NotAuthenticated if the account
        is gone or disabled meanwhile, so a disabled user's open sessions stop working at once -- and,
        given when the session began (``signed_in_at``), if the password changed since (a reset ends
        the sessions opened with the old one)."""
        try:
            user = self.store.user(clean_name(name))
        except InvalidInput:
            user = None
        if user is None or user.disabled:
            raise NotAuthenticated()
        changed = user.password_changed_at
        if signed_in_at is not None and changed is not None and changed > signed_in_at:
            raise NotAuthenticated()
        return Principal.of(user.name, user.role, user.districts, display_name=user.display_name, via="password")

    def authenticate_token(self, token: str, *, now: dt.datetime) -> Principal:
        """The principal a bearer token acts as, or NotAuthenticated."""
        parts = token.split("_", 2) if isinstance(token, str) and len(token) <= 200 else []
        found = None
        if len(parts) == 3 and parts[0] == TOKEN_PREFIX and parts[1] and all(c in "0123456789abcdef" for c in parts[1]):
            found = self.store.token_by_prefix(parts[1])
        expected = found[0].token_hash if found is not None else "0" * 64
        matches = hmac.compare_digest(token_hash(token if isinstance(token, str) else ""), expected)
        if found is None or not matches:
            raise NotAuthenticated("invalid or missing token")
        row, owner = found
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            raise NotAuthenticated("invalid or missing token")
        if row.owner_id is not None:
            if owner is None or owner.disabled:
                raise NotAuthenticated("invalid or missing token")
            principal = Principal.of(owner.name, owner.role, owner.districts, display_name=owner.display_name,
                                     via="token")
        else:
            principal = Principal.of(row.name, row.role or "viewer", row.districts, via="token")
        if row.last_used_at is None or row.last_used_at < now - TOUCH_EVERY:
            self.store.touch_token(row.id, now, now - TOUCH_EVERY)
        return principal

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

