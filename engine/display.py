"""How a moment appears in a message: in the user's time zone, with the zone named.

The engine never reads configuration; the edge (the CLI, a web request) says which zone the person
reading works in, once, with :func:`display_zone`, and every message the engine builds shows times
there: ``2016-04-01 00:00 KST``, not the stored UTC instant (which would show the day before for a
Seoul date at midnight). Without a zone set, messages use UTC, named as such.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from contextvars import ContextVar

_ZONE: ContextVar[dt.tzinfo] = ContextVar("dongflow_display_zone", default=dt.timezone.utc)


def set_display_zone(zone: dt.tzinfo) -> None:
    """Show times in ``zone`` from now on, in this context (the CLI: the whole command)."""
    _ZONE.set(zone)


@contextlib.contextmanager
def display_zone(zone: dt.tzinfo) -> Iterator[None]:
    """Show times in ``zone`` inside the block (e.g. one web request)."""
    token = _ZONE.set(zone)
    try:
        yield
    finally:
        _ZONE.reset(token)


def show_time(moment: dt.datetime, zone: dt.tzinfo | None = None) -> str:
    """``moment`` in the display zone (or ``zone``), to the minute, named: ``2016-04-01 00:00 KST``."""
    zone = zone or _ZONE.get()
    local = moment.astimezone(zone)
    name = local.tzname() or ""
    if not name.isalpha():  # a zone without an abbreviation ("+04"): name it by its key
        name = str(getattr(zone, "key", "") or name)
    return f"{local:%Y-%m-%d %H:%M} {name}".rstrip()
