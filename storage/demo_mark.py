"""The demo database knows it is the demo, and the day its data stands on.

`dongflow demo` builds histories that stop on its as-of date (20 May 2016 by default). Checked as of
today, every one of its projects is years late, so a scheduler (which always checks as of today) or
an `alerts run` without `--as-of` would send hundreds of meaningless alerts. The demo therefore
records its as-of date as a row of the ``jobs`` table (the job ``demo``, last successful as of that
day) in the same transaction as its data; the alert commands read it and refuse to run as of today
on the demo, naming the `--as-of` to use. Dumps carry the row, so a restored demo is still one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, insert, select

from storage.db import Database
from storage.tables import metadata

DEMO_JOB = "demo"
_JOBS = metadata.tables["jobs"]


def mark_demo(conn: Connection, as_of: dt.date, now: dt.datetime) -> None:
    """Record, inside the demo's own transaction, that this database is the demo as of ``as_of``."""
    conn.execute(delete(_JOBS).where(_JOBS.c.name == DEMO_JOB))
    conn.execute(insert(_JOBS).values(name=DEMO_JOB, last_success_as_of=as_of, last_success_at=now))


def demo_as_of(db: Database) -> dt.date | None:
    """The day the demo's data stands on, or None when the database is not the demo."""
    with db.read() as conn:
        return conn.execute(select(_JOBS.c.last_success_as_of).where(_JOBS.c.name == DEMO_JOB)).scalar()
