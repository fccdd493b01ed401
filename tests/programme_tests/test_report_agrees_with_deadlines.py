"""The report's late list applies the same deadline rules as `dongflow overdue` (engine.deadlines).

The report has its own pass over open projects (it reads first-entry times only when it must, to
stay fast over 100,000 projects); this test holds it to the deadline engine on the demo portfolio
at several as-of dates, stage by stage of the course.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from cli import cli


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('agree') / 'demo.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "demo"])
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize("as_of", ["2016-02-25", "2016-03-20", "2016-04-15", "2016-05-20", "2016-06-20"])
def test_late_list_equals_the_overdue_command(demo_db: str, as_of: str) -> None:
    runner = CliRunner()
    report = runner.invoke(cli, ["--db", demo_db, "--lang", "en", "report", "--section", "late", "--format", "csv",
                                 "--as-of", as_of])
    assert report.exit_code == 0, report.output
    rows = list(csv.DictReader(io.StringIO(report.stdout.lstrip("\ufeff"))))
    overdue = runner.invoke(cli, ["--db", demo_db, "overdue", "--as-of", as_of, "--json"])
    assert overdue.exit_code == 0, overdue.output
    findings = json.loads(overdue.stdout)

    worst: dict[str, int] = {}
    for f in findings:
        if f["level"] in ("overdue", "escalated"):
            worst[f["key"]] = max(worst.get(f["key"], 0), f["days_late"])
    at_risk = {f["key"] for f in findings if f["level"] == "at_risk"}

    late_in_report = {r["Key"]: int(r["Days late"]) for r in rows if r["Level"] in ("Overdue", "Escalated")}
    risk_in_report = {r["Key"] for r in rows if r["Earliest completion"]}
    assert late_in_report == worst
    assert risk_in_report == at_risk
    assert {r["Key"] for r in rows} == set(worst) | at_risk
    assert worst or at_risk, "the demo has late projects on every one of these dates"
