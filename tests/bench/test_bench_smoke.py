"""The benchmark still runs: generator and every measurement, at a tiny size (about 20 s).

Runs ``bench/run.py`` exactly as documented (docs/benchmark.md), on 200 projects, each figure once,
and checks the JSON it writes; the numbers themselves are not judged here.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--size", "200", "--repeat", "1", "--warmup", "0",
         "--only", "help,status,check,overdue,alerts-dry-run,advance,import,report",
         "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| figure" in done.stdout
    [result] = (tmp_path / "out").glob("*-200.json")
    info = json.loads(result.read_text("utf-8"))

    portfolio = info["portfolio"]
    assert portfolio["projects"] == 200
    assert set(portfolio["by_workflow"]) == {"space-improvement", "small-repair"}
    assert portfolio["districts"] >= 20 and len(portfolio["years"]) >= 8
    assert {"survey", "construction", "completed", "on_hold", "cancelled", "works"} <= set(portfolio["by_state"])
    assert info["machine"]["cores"] and info["machine"]["python"]

    figures = {f["id"]: f for f in info["figures"]}
    assert {"help", "status", "check", "check-next-night", "overdue", "alerts-dry-run", "advance", "import",
            "report"} <= set(figures)
    for name in ("help", "status", "check", "check-next-night", "overdue", "advance", "import"):
        f = figures[name]
        assert f["measured"] > 0 and f["floor"] > 0 and f["ratio"] > 0, f
        assert isinstance(f["met"], bool) or name == "check", f  # the full check has no goal of its own
    # The next night's check counts what the full check counts, having assessed only some projects.
    night = figures["check-next-night"]
    assert (night["rows_checked"], night["findings"]) == (figures["check"]["rows_checked"], figures["check"]["findings"])
    assert 0 <= night["assessed"] < night["rows_checked"]
    assert figures["check"]["rows_checked"] > 0 and figures["check"]["findings"] > 0
    assert 0 < figures["check"]["peak_rss_mb"] < 2000
    # The SpiffWorkflow peer swept its store and advanced its own instances in the same run.
    assert figures["check"]["peer"]["instances"] > 0 and figures["check"]["vs_peer"] > 0
    assert figures["advance"]["peer_measured"] > 0 and figures["advance"]["vs_peer"] > 0
    assert figures["overdue"]["rows"] > 0
    dry = figures["alerts-dry-run"]  # no target of its own: measured beside its floor
    assert dry["measured"] > 0 and dry["floor"] > 0 and dry["findings"] > 0 and dry["met"] is None, dry
    assert figures["report"]["measured"] > 0

    # Every generated history replays to its project (the generator writes through the service, which
    # checks it); the run's copy also took the benchmark's advances, each with exactly one event.
    [db] = (tmp_path / "work").glob("run-200.db")
    conn = sqlite3.connect(db)
    try:
        mismatched = conn.execute(
            "SELECT count(*) FROM projects p "
            "WHERE p.version != (SELECT count(*) FROM events e WHERE e.project_id = p.id)"
        ).fetchone()[0]
    finally:
        conn.close()
    assert mismatched == 0


@pytest.mark.slow
@pytest.mark.external_service
def test_postgresql_figures_run_at_a_tiny_size(tmp_path: Path) -> None:
    from support import postgres_url, require_postgres

    require_postgres()
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--size", "120", "--repeat", "1", "--warmup", "0",
         "--only", "pg", "--pg", postgres_url(), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = (tmp_path / "out").glob("*-120.json")
    figures = {f["id"]: f for f in json.loads(result.read_text("utf-8"))["figures"]}
    assert set(figures) == {"pg-check", "pg-check-next-night", "pg-advance-1", "pg-advance-8", "pg-import"}
    for f in figures.values():
        assert f["measured"] > 0 and f["floor"] > 0, f
