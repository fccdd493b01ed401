"""Checking and normalising values at the edge, before they reach a project.

Table models do not validate (``T(state=123)`` is accepted), so every value a user types or a CSV
row carries passes through here first. Text is NFC-normalised: Hangul typed on macOS arrives
decomposed (NFD) and would otherwise never match the same name typed on Windows.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput

MAX_TEXT = 200
MIN_YEAR, MAX_YEAR = 2000, 2100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: object, field: str, *, max_len: int = MAX_TEXT, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"must be text, not {value!r}", field=field)
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        if required:
            raise InvalidInput("must not be empty", field=field)
        return ""
    if _CONTROL.search(text):
        raise InvalidInput(f"contains a control character: {text!r}", field=field)
    if len(text) > max_len:
        raise InvalidInput(f"is longer than {max_len} characters", field=field)
    return text


_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


def ascii_integer(text: str) -> int:
    """A whole number written with the ASCII digits 0-9 (and an optional sign), else ValueError.

    ``int()`` also reads Arabic-Indic ('٣'), full-width ('３') and every other Unicode decimal digit,
    and underscores ('1_0'): a count typed with them would be stored as a number nobody wrote."""
    text = text.strip()
    if not _ASCII_INTEGER.fullmatch(text):
        raise ValueError(f"{text!r} is not written with the digits 0-9")
    return int(text)


def lookup_text(value: str | None, field: str = "text") -> str | None:
    """Text used to look something up (a key, a district): NFC like stored text, outer spaces dropped.
    Stored text never holds control characters (``clean_text``), and PostgreSQL refuses a NUL even in a
    comparison, so a lookup with one is invalid input rather than a database error."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    if _CONTROL.search(text):
        raise InvalidInput(f"contains a control character: {text[:50]!r}", field=field)
    return text


def clean_note(value: str | None, field: str = "note") -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > 2000:
        raise InvalidInput("is longer than 2000 characters", field=field)
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        raise InvalidInput("contains a control character", field=field)
    return text or None


def parse_year(value: object, field: str = "year") -> int:
    text = str(value).strip() if value is not None else ""
    try:
        year = int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a year", field=field) from None
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"{year} is outside {MIN_YEAR}-{MAX_YEAR}", field=field)
    return year


def parse_date(value: object, field: str = "date") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip() if value is not None else ""
    for candidate in (text, text.replace(".", "-").replace("/", "-")):
        try:
            day = dt.date.fromisoformat(candidate)
        except ValueError:
            continue
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise InvalidInput(f"{text} is outside the years {MIN_YEAR}-{MAX_YEAR}", field=field)
        return day
    raise InvalidInput(f"{text!r} is not a date (write YYYY-MM-DD)", field=field)


def parse_datetime(value: str, tz: ZoneInfo, field: str = "at") -> dt.datetime:
    """An ISO date or date-time; without an offset it is local time in ``tz`` (a date: its midnight)."""
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date-time (write YYYY-MM-DD or YYYY-MM-DDTHH:MM)", field=field
        ) from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise InvalidInput(f"{text} is outside the years {MIN_YEAR}-{MAX_YEAR}", field=field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(dt.timezone.utc)
