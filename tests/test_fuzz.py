"""Fuzzing the two readers of user files (Hypothesis): the workflow loader and the CSV importer.

Whatever they are given -- arbitrary text and bytes, or near-valid files (the shipped workflow with
parts replaced by values of any type, lines deleted, repeated or garbled; CSV with shuffled and aliased
headers, quoting, odd delimiters and encodings) -- they either succeed or raise InvalidInput, the
project's own error type; never anything else. The importer is also all or nothing: after an error
the store is unchanged, after a success it holds exactly the rows imported.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.csv_input import read_records
from engine.errors import InvalidInput
from engine.loader import load_file, load_text
from engine.project import replay
from engine.service import IMPORT_ALIASES, IMPORT_COLUMNS, IMPORT_REQUIRED, Service
from support import DATA, MemoryStore
from workflows import SHIPPED_DIR

CATALOG = Catalog.from_dirs([SHIPPED_DIR])
SHIPPED_TEXT = (SHIPPED_DIR / "space-improvement.yaml").read_text(encoding="utf-8")
MINI_TEXT = (DATA / "workflows" / "good" / "mini.yaml").read_text(encoding="utf-8")
NOW = dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc)
EXAMPLES = int(os.environ.get("DONGFLOW_FUZZ_EXAMPLES", "150"))
"""Moderate by default; raise it for a long hunt (``DONGFLOW_FUZZ_EXAMPLES=5000``)."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def loads_or_refuses(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
        event("loaded")
    except InvalidInput as exc:
        event("refused")
        assert str(exc)  # a message, and (being InvalidInput) exit code 3
        assert exc.exit_code == 3


# ------------------------------------------------------------------------------------------------
# The workflow loader


@FUZZ
@given(st.text())
def test_loader_any_text(text: str) -> None:
    loads_or_refuses(text)


@FUZZ
@given(st.binary(max_size=2000))
def test_loader_any_bytes_from_a_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.yaml"
        path.write_bytes(data)
        try:
            load_file(path)
        except InvalidInput:
            pass


SPECIAL_STRINGS = ["", " ", "*", "@previous", "on", "off", "yes", "no", "null", "~", "07-01", "02-30", "-30d", "+0d",
                   "1e9999", "survey", "completed", "resident_meetings >= 1", "x >=", ">= 1", "!!python/none", "&a",
                   "space-improvement", "\x00", "ㄱ", "１２"]
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.sampled_from(SPECIAL_STRINGS)
           | st.text(max_size=12) | st.dates())
KEYS = sorted({"id", "version", "title", "description", "target", "calendar", "warnings", "facts", "states", "transitions",
               "milestones", "trigger", "source", "dest", "guards", "counts", "note_required", "state", "due", "label",
               "type", "default", "initial", "final", "expected_days", "ko", "en", "fact", "op", "value"})
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3), max_leaves=10)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths(value, (*prefix, index))
    return out


SHIPPED_DATA = yaml.safe_load(SHIPPED_TEXT)
SHIPPED_PATHS = [p for p in paths(SHIPPED_DATA) if p]


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """The shipped workflow with a few parts replaced, deleted or added, of any type."""
    doc = copy.deepcopy(SHIPPED_DATA)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(SHIPPED_PATHS))
        parent: Any = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
            if action == "replace":
                parent[last] = draw(values)
            elif action == "delete":
                del parent[last]
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(KEYS))] = draw(values)
            else:
                parent.insert(last, draw(values))
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier mutation removed or replaced this path (e.g. a list by None)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(mutated_documents())
def test_loader_near_valid_documents(text: str) -> None:
    loads_or_refuses(text)


@st.composite
def garbled_texts(draw: st.DrawFn) -> str:
    """A valid workflow file with lines deleted, repeated, re-indented, garbled, or cut short."""
    lines = draw(st.sampled_from([SHIPPED_TEXT, MINI_TEXT])).splitlines()
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "repeat", "indent", "dedent", "garble", "insert"]))
        if action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = " " * draw(st.integers(1, 4)) + lines[i]
        elif action == "dedent":
            lines[i] = lines[i].lstrip()
        elif action == "garble":
            cut = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut] + draw(st.text(max_size=8)) + lines[i][cut:]
        else:
            lines.insert(i, draw(st.text(max_size=30)))
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@FUZZ
@given(garbled_texts())
def test_loader_garbled_files(text: str) -> None:
    loads_or_refuses(text)


# ------------------------------------------------------------------------------------------------
# The CSV importer


def import_into(store: Any, data: bytes) -> tuple[int | None, InvalidInput | None]:
    service = Service(store, CATALOG)
    try:
        return service.import_csv(io.BytesIO(data), "fuzz.csv", actor="fuzzer", now=NOW), None
    except InvalidInput as exc:
        return None, exc


def check_import(data: bytes) -> None:
    store = MemoryStore()
    before = store.snapshot()
    count, error = import_into(store, data)
    event("refused" if error is not None else "imported")
    if error is not None:
        assert store.snapshot() == before  # nothing was imported
        # Bad rows are invalid input (3); when every bad row has the same kind of problem (all name
        # an unknown workflow: 4), the file's error keeps that kind's code, as `project add` would.
        kinds = {problem.exit_code for problem in getattr(error, "problems", [error])}
        assert error.exit_code == (kinds.pop() if len(kinds) == 1 else 3)
        assert error.exit_code in (3, 4, 6)
        return
    assert count == len(store.projects) > 0
    for key, project in store.projects.items():
        (created,) = store.history[key]
        assert replay([created]).state == project.state == CATALOG.get(project.workflow_id).initial.id


@FUZZ
@given(st.binary(max_size=3000))
def test_import_any_bytes(data: bytes) -> None:
    check_import(data)


@FUZZ
@given(st.binary(max_size=3000))
def test_read_records_any_bytes(data: bytes) -> None:
    try:
        for record in read_records(io.BytesIO(data), "f.csv", IMPORT_COLUMNS, IMPORT_REQUIRED, IMPORT_ALIASES):
            assert record.problem is not None or set(record.values) >= set(IMPORT_REQUIRED)
    except InvalidInput:
        pass


HEADER_NAMES = {name: [name, name.upper(), *IMPORT_ALIASES.get(name, ())] for name in IMPORT_COLUMNS}
field_text = (st.text(max_size=15) | st.sampled_from(["", " ", "성동구", "마장동", "2016", "2016-07-01", "space-improvement",
                                                       'a "quoted" one', "a,b", "line\nbreak", "\ufeff", "１２"]))
year_text = st.integers(1990, 2110).map(str) | st.sampled_from(["", "20x6", "2016.0", " 2016 ", "２０１６"]) | st.text(max_size=5)
date_text = st.dates().map(str) | st.sampled_from(["", "2016-02-30", "2016/07/01", "2016.07.01", "July"]) | st.text(max_size=8)


@st.composite
def near_valid_csv(draw: st.DrawFn) -> bytes:
    optional = [c for c in IMPORT_COLUMNS if c not in IMPORT_REQUIRED]
    names = [*IMPORT_REQUIRED, *draw(st.lists(st.sampled_from(optional), max_size=2, unique=True))]
    names = draw(st.permutations(names))
    if draw(st.integers(0, 9)) == 0:
        names = names[:-1]  # a column missing (maybe a required one)
    if draw(st.integers(0, 9)) == 0:
        names = [*names, draw(st.sampled_from(IMPORT_COLUMNS))]  # a column twice
    header = [draw(st.sampled_from(HEADER_NAMES[n])) for n in names]
    if draw(st.integers(0, 9)) == 0:
        header.append(draw(st.text(max_size=6)))  # an unknown column
    rows = []
    for _ in range(draw(st.integers(1, 6)) if draw(st.integers(0, 9)) else 0):
        row = []
        for n in names:
            if draw(st.integers(0, 24)):  # mostly a good value, so that whole files get imported too
                good = {"key": st.integers(0, 10**6).map(lambda i: f"2016-fuzz-{i}"), "gu": st.just("성동구"),
                        "dong": st.sampled_from(["마장동", "사근동", "금호2·3가동"]), "year": st.sampled_from(["2016", "2017"]),
                        "workflow": st.sampled_from(["", "space-improvement"]),
                        "target": st.sampled_from(["", "2017-07-01", "2017-12-31"]),
                        "started": st.sampled_from(["", "2016-01-04", "2016-01-04T09:30"])}[n]
                row.append(draw(good))
            else:
                row.append(draw({"year": year_text, "target": date_text, "started": date_text}.get(n, field_text)))
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))] or row + ["extra"]
        rows.append(row)
    if rows and draw(st.integers(0, 4)) == 0:
        rows.append(list(draw(st.sampled_from(rows))))  # a duplicate row (and key)
    delimiter = draw(st.sampled_from([",", ",", ";", "\t"]))
    out = io.StringIO()
    if draw(st.booleans()):
        writer = csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
        writer.writerow(header)
        writer.writerows(rows)
    else:  # written by hand: no quoting at all
        out.write("\n".join(delimiter.join(r) for r in [header, *rows]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "cp949", "cp949", "utf-16", "latin-1"]))
    return out.getvalue().encode(encoding, errors="replace")


@FUZZ
@given(near_valid_csv())
def test_import_near_valid_csv(data: bytes) -> None:
    check_import(data)


@pytest.fixture(scope="module")
def sqlite_service(tmp_path_factory):
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from storage.schema import upgrade

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    upgrade(db)
    yield SqlProjectStore(db)
    db.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=near_valid_csv())
def test_import_near_valid_csv_into_sqlite(sqlite_service, data: bytes) -> None:
    from support import dump

    store = sqlite_service
    url = store.db.url
    before = dump(url)
    count, error = import_into(store, data)
    after = dump(url)
    if error is not None:
        assert after == before
    else:
        assume(count)
        assert len(after["projects"]) == len(before["projects"]) + count
        assert len(after["events"]) == len(before["events"]) + count
