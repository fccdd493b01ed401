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


def digits_problem(text: str) -> str | None:
    """Why ``text`` cannot be a number or a date: it holds a digit other than the ASCII 0-9, else None.

    ``int()``, ``float()`` and ``Decimal()`` read every Unicode decimal digit: full-width ('２０１６'),
    Arabic-Indic ('٣') ...; ``str.isnumeric`` also catches the superscripts and fractions ('²', '½')
    that ``str.isdigit`` tests treat as digits. The one check every number and date dongflow reads
    passes through (:func:`ascii_digits`; the workflow loader reports it with its file line)."""
    if any(c.isnumeric() and not "0" <= c <= "9" for c in text):
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"{shown!r} is not written with the digits 0-9"
    return None


def ascii_digits(text: str, field: str) -> str:
    """``text`` unchanged, or :class:`InvalidInput` naming ``field`` and the value when it holds a
    digit other than 0-9 (one line: ``year: '２０１６' is not written with the digits 0-9``)."""
    problem = digits_problem(text)
    if problem is not None:
        raise InvalidInput(problem, field=field)
    return text


def ascii_integer(text: str) -> int:
    """A whole number written with the ASCII digits 0-9 (and an optional sign), else ValueError.

    ``int()`` also reads Arabic-Indic ('٣'), full-width ('３') and every other Unicode decimal digit,
    and underscores ('1_0'): a count typed with them would be stored as a number nobody wrote."""
    text = text.strip()
    if not _ASCII_INTEGER.fullmatch(text):
        raise ValueError(f"{text!r} is not written with the digits 0-9")
    return int(text)


def whole_number(value: object, field: str, *, minimum: int | None = None, maximum: int | None = None,
                 what: str = "a whole number") -> int:
    """A whole number a user typed (an option, a form field, a CSV cell), or :class:`InvalidInput`
    naming ``field`` and the value: digits other than 0-9 (:func:`ascii_digits`), text that is not
    ``what``, or a number outside ``minimum``-``maximum``. An ``int`` (a default) is only range-checked."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = ascii_digits(str(value).strip() if value is not None else "", field)
        try:
            number = ascii_integer(text)
        except ValueError:
            raise InvalidInput(f"{text!r} is not {what}", field=field) from None
    if minimum is not None and maximum is not None and not minimum <= number <= maximum:
        raise InvalidInput(f"{number} is outside {minimum}-{maximum}", field=field)
    if minimum is not None and number < minimum:
        raise InvalidInput(f"{number} is below the smallest allowed, {minimum}", field=field)
    if maximum is not None and number > maximum:
        raise InvalidInput(f"{number} is above the largest allowed, {maximum}", field=field)
    return number


_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)


def parse_clock(value: str, field: str) -> tuple[int, int]:
    """A time of day ``HH:MM`` (the scheduler's run time) as (hour, minute), digits 0-9 only."""
    text = ascii_digits(value.strip(), field)
    m = _CLOCK.fullmatch(text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise InvalidInput(f"{text!r} is not a time HH:MM", field=field)
    return int(m.group(1)), int(m.group(2))


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
    return whole_number(value, field, minimum=MIN_YEAR, maximum=MAX_YEAR, what="a year")


def parse_date(value: object, field: str = "date") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = ascii_digits(str(value).strip() if value is not None else "", field)
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
    text = ascii_digits(value.strip(), field)  # the C fromisoformat is ASCII-only; its pure-Python twin is not
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
