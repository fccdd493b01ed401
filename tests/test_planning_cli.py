"""Planning through the CLI, on SQLite and PostgreSQL: blackouts, baselines, risk, backtest, delays,
calendar files (parsed back with an independent parser), status's latest starts; bad input writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

import commands.common as cli_common
from cli import cli
from support import assert_one_error, dump

KEY = "2016-성동구-마장동"
OTHER = "2016-종로구-삼청동"


@pytest.fixture
def run(runner, initialised_db, monkeypatch):
    monkeypatch.setattr(cli_common.App, "now", lambda self: dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc))

    def invoke(*args: str):
        return runner.invoke(cli, ["--db", initialised_db, "--lang", "en", *args])

    invoke.url = initialised_db
    for key, gu, dong in ((KEY, "성동구", "마장동"), (OTHER, "종로구", "삼청동")):
        result = invoke("project", "add", key, "--gu", gu, "--dong", dong, "--year", "2016", "--actor", "kim",
                        "--at", "2016-01-04 09:00")
        assert result.exit_code == 0, result.output
    return invoke


def _json_of(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_blackouts_add_list_remove_and_move_latest_starts(run) -> None:
    before = {x["state"]: x["latest_start"] for x in _json_of(run("status", KEY, "--json"))[0]["latest_starts"]}
    assert list(before) == ["survey", "agreement", "design_review", "detailed_design", "tender", "construction"]
    result = run("blackout", "add", KEY, "--from", "2016-06-07", "--to", "2016-06-10", "--reason", "선거 투표소")
    assert result.exit_code == 0 and "blackout #1 added" in result.output
    assert run("blackout", "add", "--gu", "성동구", "--from", "2016-04-13", "--reason", "festival").exit_code == 0
    assert run("blackout", "add", "--all", "--from", "2016-12-30", "--to", "2016-12-31", "--reason", "closing").exit_code == 0
    listed = _json_of(run("blackout", "list", "--json"))
    assert [(b["id"], b["scope"], b["target"], b["from"], b["to"]) for b in listed] == [
        (2, "gu", "성동구", "2016-04-13", "2016-04-13"), (1, "project", KEY, "2016-06-07", "2016-06-10"),
        (3, "all", None, "2016-12-30", "2016-12-31")]
    after = {x["state"]: x["latest_start"] for x in _json_of(run("status", KEY, "--json"))[0]["latest_starts"]}
    # Construction: 55 days back from 1 July is Saturday 7 May; 6 and 5 May are holidays: 4 May. With
    # 7-10 June blacked out (four working days), 59 days back: Tuesday 3 May. The other project keeps 4 May.
    assert (before["construction"], after["construction"]) == ("2016-05-04", "2016-05-03")
    other = {x["state"]: x["latest_start"] for x in _json_of(run("status", OTHER, "--json"))[0]["latest_starts"]}
    assert other == before
    assert run("blackout", "remove", "1").exit_code == 0
    assert {x["state"]: x["latest_start"] for x in _json_of(run("status", KEY, "--json"))[0]["latest_starts"]} == before


@pytest.mark.parametrize("args,fragment,code", [
    (("blackout", "add", KEY, "--all", "--from", "2016-06-01", "--reason", "x"), "exactly one of", 3),
    (("blackout", "add", "--all", "--from", "2016-06-03", "--to", "2016-06-01", "--reason", "x"), "before --from", 3),
    (("blackout", "add", "--all", "--from", "2016-02-30", "--reason", "x"), "--from", 3),
    (("blackout", "add", "2016-없는-키", "--from", "2016-06-01", "--reason", "x"), "2016-없는-키", 4),
    (("blackout", "add", "--all", "--from", "2016-06-01", "--reason", " "), "--reason", 3),
    (("blackout", "remove", "99"), "no blackout #99", 4),
    (("baseline", "set", "2016-없는-키"), "2016-없는-키", 4),
    (("baseline", "show", KEY), "no baseline yet", 3),
    (("risk", "backtest", "--from", "2016-05-01", "--to", "2016-04-01", "--as-of", "2016-06-01"), "before --from", 3),
    (("risk", "backtest", "--from", "2016-01-01", "--to", "2016-05-01", "--every", "0", "--as-of", "2016-06-01"),
     "--every", 3),
    (("calendar", "-o", "out.txt"), "write an .ics file", 3),
])
def test_bad_input_is_one_line_and_writes_nothing(run, args, fragment, code, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = dump(run.url)
    assert_one_error(run(*args), code, fragment)
    assert dump(run.url) == before
    assert not (tmp_path / "out.txt").exists()


def test_baseline_taken_on_agreement_and_set(run) -> None:
    assert run("participation", "add", KEY, "resident_meeting", "--date", "2016-01-20").exit_code == 0
    result = run("advance", KEY, "agree", "--actor", "kim", "--at", "2016-02-01 10:00")
    assert result.exit_code == 0, result.output
    shown = _json_of(run("baseline", "show", KEY, "--as-of", "2016-03-01", "--json"))
    assert shown["source"] == "auto" and shown["taken_on"] == "2016-02-01"
    planned = {m["milestone"]: m for m in shown["milestones"]}
    assert planned["agreement_signed"]["actual"] == "2016-02-01" and planned["agreement_signed"]["variance_days"] == 0
    assert planned["completed"]["planned"] > "2016-06-01"
    result = run("baseline", "set", KEY, "--as-of", "2016-03-01", "--actor", "kim")
    assert result.exit_code == 0, result.output
    again = _json_of(run("baseline", "show", KEY, "--as-of", "2016-03-01", "--json"))
    assert again["source"] == "set" and again["taken_on"] == "2016-03-01"
    assert all(m["variance_days"] == 0 for m in again["milestones"])
    assert "variance from the baseline (2016-03-01, set)" in run("status", KEY, "--as-of", "2016-03-01").output


def test_status_json_carries_latest_starts_and_cutoffs(run) -> None:
    [item] = _json_of(run("status", KEY, "--json", "--as-of", "2016-03-02"))
    starts = {x["state"]: x for x in item["latest_starts"]}
    assert starts["survey"]["entered"] == "2016-01-04"
    assert starts["agreement"]["passed"] is True  # 160 days of course before 1 July: agreement by mid-January
    assert item["level"] in ("late_start", "at_risk", "overdue", "escalated")
    [cut] = item["cutoffs"]
    assert cut["id"] == "construction_contract" and cut["date"] == "2016-10-01" and cut["at_risk"] is False
    text = run("status", KEY, "--as-of", "2016-03-02").output
    assert "Agreement: start by" in text and "days ago" in text
    overdue = _json_of(run("overdue", "--json", "--as-of", "2016-03-02", "--level", "late_start"))
    assert {x["key"] for x in overdue} == {KEY, OTHER}
    assert {x["milestone"] for x in overdue} == {"start:agreement"}


def test_risk_delays_and_calendar(run, tmp_path) -> None:
    ranked = _json_of(run("risk", "--json", "--as-of", "2016-03-02"))
    assert {x["key"] for x in ranked} == {KEY, OTHER}
    assert all(0.0 <= x["probability"] <= 1.0 and "declared durations" in x["basis"] for x in ranked)
    assert "expected to miss" in run("risk", "--as-of", "2016-03-02").output
    late = _json_of(run("delays", "--json", "--as-of", "2016-03-02"))
    assert late and all(sum(line["days"] for line in d["lines"]) == d["lateness_days"] for d in late)
    out = tmp_path / "seongdong.ics"
    result = run("calendar", "--gu", "성동구", "-o", str(out), "--as-of", "2016-03-02")
    assert result.exit_code == 0, result.output
    import vobject

    cal = vobject.readOne(out.read_text("utf-8"))
    events = cal.contents["vevent"]
    uids = [e.uid.value for e in events]
    assert len(uids) == len(set(uids)) and len({u.split("/")[0] for u in uids}) == 1  # one project's
    assert all(e.description.value.startswith(KEY + ":") for e in events)
    assert any(u.endswith("/milestone/completed@dongflow") for u in uids)
    assert any("/start/" in u for u in uids)
    assert cal.contents["x-wr-timezone"][0].value == "Asia/Seoul"
    # Exported again: the same UIDs (a re-import updates the events).
    second = tmp_path / "again.ics"
    assert run("calendar", "--gu", "성동구", "-o", str(second), "--as-of", "2016-03-02").exit_code == 0
    assert [e.uid.value for e in vobject.readOne(second.read_text("utf-8")).contents["vevent"]] == uids


def test_backtest_on_a_small_record(run) -> None:
    found = _json_of(run("risk", "backtest", "--from", "2016-01-10", "--to", "2016-03-01", "--as-of", "2016-08-01",
                         "--json"))
    assert found["predictions"] == 2 * len(range(0, 51, 14))  # two projects, open at every date, both missed
    assert found["observed_miss_rate"] == 1.0 and 0.0 <= found["brier"] <= 1.0
    assert sum(row["count"] for row in found["calibration"]) == found["predictions"]
    text = run("risk", "backtest", "--from", "2016-01-10", "--to", "2016-03-01", "--as-of", "2016-08-01").output
    assert "Brier score" in text and "median-only forecast" in text


def test_the_nightly_check_alerts_a_passed_latest_start(run) -> None:
    result = run("alerts", "run", "--as-of", "2016-02-05", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = [x for x in result.output.splitlines() if "would alert" in x]
    # Back from 1 July with the declared days: construction by 4 May (7 May is a Saturday, 5-6 May
    # holidays), tender by 12 April (13 April, election day), detailed design by 8 March, design review
    # by 16 February, agreement by 2 February. On 5 February that has passed, while the first milestone
    # (agreement, 22 February) is not even due soon and the median forecast (survey over, 146 days
    # ahead: 30 June) still holds the target: only the latest start tells.
    assert len(lines) == 2 and all("start:agreement" in x and "late start" in x for x in lines), result.output
    assert run("alerts", "run", "--as-of", "2016-02-05").exit_code == 0
    listed = _json_of(run("alerts", "list", "--json"))
    assert {(a["key"], a["milestone"], a["level"]) for a in listed} >= {
        (KEY, "start:agreement", "late_start"), (OTHER, "start:agreement", "late_start")}


def _uids(run, tmp_path, name: str, *args: str) -> dict[str, str]:
    import vobject

    out = tmp_path / name
    result = run("calendar", "-o", str(out), "--as-of", "2016-03-02", *args)
    assert result.exit_code == 0, result.output
    events = vobject.readOne(out.read_text("utf-8")).contents["vevent"]
    uids = {e.uid.value: e.description.value for e in events}
    assert len(uids) == len(events)  # unique per deadline
    return uids


def test_calendar_uids_survive_a_key_edit_and_stay_unique(run, tmp_path) -> None:
    """A UID names the project by its id, not its key: after `project edit --key` a re-imported file
    (or a refreshed feed) updates the same events instead of adding a second copy of each."""
    before = _uids(run, tmp_path, "before.ics")
    assert {d.split(":")[0] for d in before.values()} == {KEY, OTHER}
    assert not any(KEY in uid or OTHER in uid for uid in before)
    new_key = "2016-성동구-마장동-a"
    assert run("project", "edit", KEY, "--key", new_key, "--note", "key typo", "--actor", "kim").exit_code == 0
    after = _uids(run, tmp_path, "after.ics")
    assert set(after) == set(before)
    assert {d.split(":")[0] for d in after.values()} == {new_key, OTHER}
    # Two projects never share a UID, and a project's UIDs all share its prefix.
    prefixes = {uid.split("/")[0] for uid in after}
    assert len(prefixes) == 2
    # A new project under the old key gets UIDs of its own.
    assert run("project", "add", KEY, "--gu", "성동구", "--dong", "마장동", "--year", "2016", "--actor", "kim",
               "--at", "2016-01-04 09:00", "--allow-duplicate").exit_code == 0
    third = _uids(run, tmp_path, "third.ics")
    assert set(after) < set(third) and len({uid.split("/")[0] for uid in third}) == 3
