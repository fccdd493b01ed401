"""The listing contract (issue 9): every listing takes --json / --jsonl / --pretty through one writer,
rows that concern a project carry its fields, filter values are checked, output suffixes too."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from render.output import BATCH, PROJECT_FIELDS, Listing, format_for_suffix, listing_of

AS_OF = "2016-05-20"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from cli import cli

    path = tmp_path_factory.mktemp("listing") / "demo.db"
    result = CliRunner().invoke(cli, ["--db", str(path), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return str(path)


@pytest.fixture
def run(demo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from cli import cli

    monkeypatch.setenv("DONGFLOW_DATABASE_URL", demo_db)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


KEY = "2015-성동구-금호1가동"

LISTINGS = [
    (("overdue", "--as-of", AS_OF), True),
    (("status", "--gu", "성동구", "--as-of", AS_OF), True),
    (("history", KEY), True),
    (("budget", "list"), None),  # project lines carry the fields, programme-wide ones do not
    (("participation", "list", KEY), True),
    (("participation", "list"), False),
    (("people", "list", "--gu", "성동구"), True),
    (("plan", "show"), False),
    (("alerts", "list"), True),
    (("workflow", "list"), False),
]


@pytest.mark.parametrize(("args", "about_projects"), LISTINGS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_listing_speaks_json_jsonl_and_pretty_json_with_the_same_rows(run, args, about_projects) -> None:  # type: ignore[no-untyped-def]
    compact = run(*args, "--json")
    assert compact.exit_code == 0, compact.output
    rows = json.loads(compact.stdout)
    assert isinstance(rows, list)
    assert compact.stdout == json.dumps(rows, ensure_ascii=False, separators=(",", ":")) + "\n"  # compact
    lines = run(*args, "--jsonl")
    assert lines.exit_code == 0
    assert [json.loads(line) for line in lines.stdout.splitlines()] == rows
    pretty = run(*args, "--json", "--pretty")
    assert json.loads(pretty.stdout) == rows
    if rows:
        assert pretty.stdout.startswith("[\n  {\n    ")
    for row in rows:
        if about_projects or (about_projects is None and row.get("key")):
            assert list(row)[: len(PROJECT_FIELDS)] == list(PROJECT_FIELDS), row
            assert all(row[f] is not None for f in PROJECT_FIELDS), row


def test_the_listings_that_must_have_rows_have_them(run) -> None:  # type: ignore[no-untyped-def]
    for args in (("overdue", "--as-of", AS_OF), ("history", KEY), ("budget", "list"), ("plan", "show"),
                 ("people", "list", "--gu", "성동구"), ("participation", "list", KEY)):
        assert json.loads(run(*args, "--json").stdout), args


def _listing_commands() -> list[str]:
    """Every command that has both --json and --jsonl (found from the CLI, so a new one is tested)."""
    import click

    from cli import cli

    def walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        out: list[tuple[str, click.Command]] = []
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                out += walk(command, f"{prefix}{name} ")
            else:
                out.append((f"{prefix}{name}", command))
        return out

    return [path for path, command in walk(cli)
            if {"--json", "--jsonl"} <= {opt for p in command.params for opt in getattr(p, "opts", ())}]


CLASH_ARGS = {"history": (KEY,)}
"""Arguments a listing command needs before its options are read (the others need none)."""


@pytest.mark.parametrize("path", _listing_commands())
@pytest.mark.parametrize(("options", "fragment"), [
    (("--json", "--jsonl"), "choose one of --json and --jsonl"),
    (("--jsonl", "--pretty"), "--pretty indents a JSON array"),
])
def test_clashing_output_options_are_invalid_input_on_every_listing(run, path, options, fragment) -> None:  # type: ignore[no-untyped-def]
    """Options that do not go together are checked by dongflow, not by click's parser: exit 3 (the
    README's table), one error line, nothing on stdout -- the same on every listing command."""
    from support import assert_one_error

    result = run(*path.split(), *CLASH_ARGS.get(path, ()), *options)
    assert_one_error(result, 3, fragment)
    assert result.stdout == ""


def test_the_listing_commands_are_found() -> None:
    found = _listing_commands()
    assert {"status", "history", "overdue", "alerts list", "workflow list", "delays"} <= set(found), found


@pytest.mark.parametrize(("args", "field", "listed"), [
    (("status", "--state", "building"), "--state", "construction (시공/Construction)"),
    (("status", "--gu", "강남"), None, None),  # a valid short name: no error
    (("status", "--gu", "부산진구"), "--gu", "성동구"),
    (("overdue", "--gu", "없는구"), "--gu", "종로구"),
    (("overdue", "--level", "late"), "--level", "escalated"),
    (("status", "--workflow", "nope"), "--workflow", "space-improvement"),
])
def test_a_filter_naming_nothing_is_an_error_listing_the_valid_values(run, args, field, listed) -> None:  # type: ignore[no-untyped-def]
    result = run(*args, "--as-of", AS_OF)
    if field is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 3 and result.stdout == ""
    assert field in result.stderr and "valid:" in result.stderr and listed in result.stderr


def test_korean_labels_name_states_levels_and_districts(run) -> None:  # type: ignore[no-untyped-def]
    by_id = json.loads(run("status", "--state", "construction", "--gu", "성동구", "--json", "--as-of", AS_OF).stdout)
    by_label = json.loads(run("status", "--state", "시공", "--gu", "성동", "--json", "--as-of", AS_OF).stdout)
    assert by_id == by_label and by_id and {r["state"] for r in by_id} == {"construction"}
    escalated = json.loads(run("overdue", "--level", "escalated", "--json", "--as-of", AS_OF).stdout)
    korean = json.loads(run("overdue", "--level", "기한 경과(상향 보고)", "--json", "--as-of", AS_OF).stdout)
    assert escalated == korean and {r["level"] for r in escalated} == {"escalated"}


def test_a_report_file_whose_suffix_names_no_format_is_refused_and_not_written(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("report.pdf", "report"):
        target = tmp_path / name
        result = run("report", "--as-of", AS_OF, "-o", str(target))
        assert result.exit_code == 3 and "names no supported format" in result.stderr and ".xlsx" in result.stderr
        assert not target.exists()
    ok = run("report", "--as-of", AS_OF, "--section", "plan", "-o", str(tmp_path / "r.md"))
    assert ok.exit_code == 0 and (tmp_path / "r.md").read_text("utf-8").startswith("#")


def test_the_writer_streams_batches_into_one_valid_array() -> None:
    rows = ({"n": i, "text": "금호2·3가동"} for i in range(2 * BATCH + 7))
    out = io.StringIO()
    assert Listing("json", stream=out).write(rows) == 2 * BATCH + 7
    parsed = json.loads(out.getvalue())
    assert [r["n"] for r in parsed] == list(range(2 * BATCH + 7)) and "금호2·3가동" in out.getvalue()
    for fmt, expected in (("json", "[]\n"), ("jsonl", "")):
        empty = io.StringIO()
        Listing(fmt, stream=empty).write(iter(()))
        assert empty.getvalue() == expected
    pretty = io.StringIO()
    Listing("json", pretty=True, stream=pretty).write([])
    assert json.loads(pretty.getvalue()) == []
    assert listing_of(False, False, True) == Listing("json", pretty=True)


def test_suffixes_map_to_formats_case_insensitively() -> None:
    assert format_for_suffix("A.XLSX", {".xlsx": "xlsx"}) == "xlsx"
    from engine.errors import InvalidInput

    with pytest.raises(InvalidInput, match="names no supported format"):
        format_for_suffix("a.docx", {".xlsx": "xlsx"})
