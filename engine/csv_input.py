"""Reading CSV files that people make in Excel: any of UTF-8, UTF-8 with BOM, or CP949.

Korean Excel saves "CSV" as CP949 unless told otherwise; a file that is not valid UTF-8 is read as
CP949, and one that is neither is refused with the line where decoding failed. Rows are streamed, so
a large file does not have to fit in memory. Every problem names the file, the line and the column.
Headers may be English or Korean (``key``/``키``, ``gu``/``구``/``자치구``, ...).
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from engine.errors import InvalidInput

MAX_FIELD = 10_000
"""Longest field accepted; anything longer is a broken file (e.g. a missing closing quote)."""
MAX_LINE = MAX_FIELD * 20
"""Longest physical line read; a longer one is refused after reading only this much of it."""

ENCODINGS = ("utf-8-sig", "cp949")


@dataclass(frozen=True)
class Record:
    line: int
    values: dict[str, str]
    problem: str | None = None
    """Set when the row itself is malformed (wrong number of fields); the caller reports it with
    the other bad rows instead of stopping at the first."""


def _detect_encoding(stream: BinaryIO, source: str) -> str:
    """UTF-8 if the whole file decodes as UTF-8, else CP949 if it decodes as that."""
    failures: list[tuple[str, int]] = []
    for encoding in ENCODINGS:
        stream.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        line = 1
        try:
            while chunk := stream.read(1 << 20):
                text = decoder.decode(chunk)
                line += text.count("\n")
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            # The line of the offending byte: lines decoded before this chunk, plus those before it in the chunk.
            failures.append((encoding, line + bytes(exc.object[: exc.start]).count(b"\n")))
            continue
        stream.seek(0)
        return encoding
    utf8_line = failures[0][1]
    raise InvalidInput(
        "the file is neither UTF-8 nor CP949 text (save it from Excel as 'CSV UTF-8')",
        file=source,
        line=utf8_line,
    )


def read_records(
    stream: BinaryIO,
    source: str,
    columns: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[Record]:
    """Yield each data row as {column: text}; raise InvalidInput for a file that cannot be read."""
    encoding = _detect_encoding(stream, source)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        first = text.readline(MAX_LINE + 1)
        if len(first) > MAX_LINE:
            raise InvalidInput(
                f"the header line is longer than {MAX_LINE} characters (is this a CSV file?)", file=source, line=1
            )
        if not first.strip():
            optional = [c for c in columns if c not in required]
            expected = ",".join(required) + (f"[,{','.join(optional)}]" if optional else "")
            raise InvalidInput(f"the file is empty (expected a header row: {expected})", file=source, line=1)
        delimiter = _delimiter(first)
        try:
            header = next(csv.reader([first], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            raise InvalidInput(f"malformed CSV header: {exc}", file=source, line=1) from None
        mapping = _map_header(header, columns, required, aliases or {}, source)
        reader = csv.reader(_limited(text, source), delimiter=delimiter, strict=True)
        line = 2
        while True:
            start = line
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InvalidInput(f"malformed CSV: {exc}", file=source, line=start) from None
            line = reader.line_num + 2
            if not any(cell.strip() for cell in row):
                continue
            wrong_count = f"{len(row)} fields but the header has {len(header)}"
            if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
                yield Record(start, {}, wrong_count)
                continue
            if any(mapping[name] >= len(row) for name in required):
                yield Record(start, {}, wrong_count)
                continue
            values = {
                name: unicodedata.normalize("NFC", row[index].strip()) if index < len(row) else ""
                for name, index in mapping.items()
            }
            yield Record(start, values)
    finally:
        text.detach()


def _limited(text: io.TextIOWrapper, source: str) -> Iterator[str]:
    """The physical lines after the header, never reading more than MAX_LINE characters of one (a
    100 MB file without line breaks must not be pulled into memory whole)."""
    line = 1
    while raw := text.readline(MAX_LINE + 1):
        line += 1
        if len(raw) > MAX_LINE:
            raise InvalidInput(f"line is longer than {MAX_LINE} characters", file=source, line=line)
        yield raw


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _map_header(
    header: list[str],
    columns: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, Sequence[str]],
    source: str,
) -> dict[str, int]:
    lookup: dict[str, str] = {}
    for name in columns:
        lookup[name.lower()] = name
        for alias in aliases.get(name, ()):
            lookup[unicodedata.normalize("NFC", alias).lower()] = name
    mapping: dict[str, int] = {}
    for index, raw in enumerate(header):
        cell = unicodedata.normalize("NFC", raw).strip().strip("\ufeff").lower()
        if not cell:
            continue
        name = lookup.get(cell)
        if name is None:
            raise InvalidInput(
                f"unknown column {raw.strip()!r} (expected: {','.join(columns)})", file=source, line=1
            )
        if name in mapping:
            raise InvalidInput(f"column {name!r} appears twice", file=source, line=1)
        mapping[name] = index
    missing = [c for c in required if c not in mapping]
    if missing:
        raise InvalidInput(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header must name: {','.join(required)})",
            file=source,
            line=1,
        )
    return mapping
