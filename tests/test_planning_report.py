"""The report's planning sections on the demo (SQLite and PostgreSQL): baseline variance, the delay
ledger per owner (its totals agree with the projects' lateness), and fiscal cut-offs with the amount
the budget section notes."""

from __future__ import annotations

import csv
import io
import json

from cli import cli


def test_planning_sections_on_the_demo(runner, initialised_db) -> None:
    run = lambda *a: runner.invoke(cli, ["--db", initialised_db, "--lang", "en", *a])  # noqa: E731
    assert run("demo").exit_code == 0
    default = run("report", "--as-of", "2016-05-20", "--format", "md").stdout
    assert "Variance from the baseline" not in default  # asked for by name (or --section all)
    result = run("report", "--as-of", "2016-05-20", "--section", "baseline,delays,cutoffs", "--format", "csv")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Variance from the baseline" in text and "Where the days were lost" in text

    late = json.loads(run("delays", "--json", "--as-of", "2016-05-20").stdout)
    assert late and all(sum(x["days"] for x in d["lines"]) == d["lateness_days"] for d in late)
    rows = list(csv.reader(io.StringIO(text.split("Where the days were lost (by owner)")[1])))
    total = next(r for r in rows if r and r[0] == "Total")
    lost, made_up = int(total[1].replace(",", "")), int(total[2].replace(",", ""))
    assert lost - made_up == sum(d["lateness_days"] for d in late)
    assert int(total[3]) == len(late)

    # Late September: projects not yet in tender cannot have construction contracted by 1 October.
    result = run("report", "--as-of", "2016-09-20", "--section", "budget,cutoffs", "--format", "md")
    assert result.exit_code == 0, result.output
    cut = result.stdout.split("Fiscal cut-offs")[1]
    [line] = [x for x in cut.splitlines() if x.startswith("| **Total**")]
    at_risk = int(line.split("|")[4].strip(" *"))
    assert at_risk > 0
    assert f"Carry-over risk: {at_risk} projects forecast past a fiscal cut-off" in result.stdout
    found = json.loads(run("overdue", "--json", "--as-of", "2016-09-20", "--level", "cutoff_risk").stdout)
    assert len({x["key"] for x in found}) == at_risk
