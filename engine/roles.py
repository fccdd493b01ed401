"""The roles an account can have (constants only: the CLI reads them at start-up, so nothing heavy here).

The rules are in :mod:`engine.access`.
"""

from __future__ import annotations

ADMIN = "admin"
OFFICER = "officer"
COORDINATOR = "coordinator"
VIEWER = "viewer"
OPERATOR = "operator"
"""The CLI's principal (not a role an account can have)."""

ROLES = (ADMIN, OFFICER, COORDINATOR, VIEWER)
ROLE_HELP = {
    ADMIN: "users and tokens; reads every district",
    OFFICER: "every district, read and write",
    COORDINATOR: "their districts, read and write",
    VIEWER: "read only: their districts, or all",
}
