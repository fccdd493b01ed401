"""Fixtures for the web and API tests: a database with projects in two districts, one user and one
token per role, and a TestClient on the real application (every test on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from webkit import CHEAP_HASHER, OTHER, OWN, PASSWORD, seed


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small parameters in tests (the real ones cost ~0.3 s per hash here, by design)."""
    monkeypatch.setattr("engine.accounts.default_hasher", lambda: CHEAP_HASHER)


@dataclass
class Site:
    url: str
    client: Any
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(who), **kw)

    def post(self, path: str, who: str | None = None, **kw: Any) -> Any:
        return self.client.post(path, headers=self.headers(who), **kw)


@pytest.fixture
def site(initialised_db: str) -> Iterator[Site]:
    from fastapi.testclient import TestClient

    from web.app import create_app
    from web.context import WebSettings

    tokens, keys = seed(initialised_db)
    app = create_app(WebSettings(db_url=initialised_db))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(initialised_db, client, app, tokens, keys)


__all__ = ["OWN", "OTHER", "PASSWORD", "dt"]
