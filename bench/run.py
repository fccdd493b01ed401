"""dongflow benchmark: each figure beside its floor, measured in the same run.

    .venv/bin/python bench/run.py                 # 100k projects (the figures the README quotes)
    .venv/bin/python bench/run.py --size 1k       # a quick look; also 10k

Generates a portfolio of 1k, 10k or 100k projects over two workflows (the shipped one and
``bench/workflows/small-repair.yaml``), Seoul's 25 districts, cohorts 2016-2025 and every stage (see
bench/generate.py; built once per size and cached under bench/.work/), then measures:

* ``dongflow --help`` and ``dongflow status KEY`` as whole processes, against ``python -c "import
  click"`` and ``python -c "import sqlmodel"``: interleaved, several times, medians;
* the nightly check over the portfolio, against raw sqlite3 selecting the same rows (each in its own
  process, interleaved; peak memory is the check process's max RSS);
* sequential advances against raw sqlite3 doing the same UPDATE + INSERT per transaction, and a CSV
  import against raw sqlite3 executemany of the same rows (interleaved rounds in one process);
* ``dongflow report`` over the portfolio, if this tree has that command.

Whole processes run with ``PYTHONDONTWRITEBYTECODE`` unset and after warm-up runs, so compiled
bytecode is cached as in an installed dongflow; each is the ``dongflow`` script next to ``--python``
(default: this interpreter). Prints a table and writes ``bench/results/<date>-<size>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import generate  # noqa: E402

BENCH = ROOT / "bench"
WORKER = BENCH / "worker.py"


# -- helpers ----------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def child_env(cache: Path) -> dict[str, str]:
    """The environment of measured processes: bytecode cached, no stray dongflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGFLOW_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_CACHE_HOME"] = str(cache)
    env["DONGFLOW_LANG"] = "ko"
    return env


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], cpu: list[float] | None = None) -> float:
    """Wall time of one run of ``cmd``; its CPU time (user + system) is appended to ``cpu``."""
    before = child_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if cpu is not None:
        cpu.append(child_cpu() - before)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return seconds


def interleaved(measured: list[str], floor: list[str], env: dict[str, str], repeat: int, warmup: int) -> dict[str, Any]:
    """Run floor and measured alternately ``repeat`` times (after warm-up runs); medians and ratio."""
    for _ in range(warmup):
        timed(floor, env)
        timed(measured, env)
    m, f, mc, fc = [], [], [], []
    for _ in range(repeat):
        f.append(timed(floor, env, fc))
        m.append(timed(measured, env, mc))
    return {
        "measured_s": m,
        "floor_s": f,
        "measured": median(m),
        "floor": median(f),
        "ratio": median(m) / median(f),
        "pair_ratio_median": median([a / b for a, b in zip(m, f)]),
        "cpu": {"measured_s": mc, "floor_s": fc, "measured": median(mc), "floor": median(fc),
                "ratio": median(mc) / median(fc)},
    }


def worker(args: list[str], python: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([python, str(WORKER), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: worker {args[0]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("sqlalchemy", "sqlmodel", "pydantic", "transitions", "click"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": versions,
        "load_average_at_start": os.getloadavg(),
    }


# -- the portfolio ----------------------------------------------------------------------------


def catalog(workflow_dirs: list[Path]) -> Any:
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR

    return Catalog.from_dirs([SHIPPED_DIR, *workflow_dirs])


def portfolio(size: int, seed: int, workflow_dirs: list[Path], work: Path, rebuild: bool) -> Path:
    """The cached generated database for this size, seed and generator; built when missing."""
    name = f"portfolio-{size}-s{seed}-{generate.fingerprint(workflow_dirs)}.db"
    path = work / name
    if path.exists() and not rebuild:
        return path
    for old in work.glob(f"portfolio-{size}-*.db*"):
        old.unlink()
    tmp = work / (name + ".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    log(f"generating {size:,} projects (seed {seed}) into {path.name} ...")
    start = time.perf_counter()
    states = generate.build_database(f"sqlite:///{tmp}", catalog(workflow_dirs), size, seed)
    tmp.rename(path)
    log(f"  done in {time.perf_counter() - start:.1f} s: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
    return path


def peer_portfolio(pristine: Path, work: Path, sample: int) -> Path:
    """The SpiffWorkflow peer's store for (a sample of) this portfolio, built once and cached."""
    from bench import peer_spiff

    path = work / f"peer-{pristine.stem}-{peer_spiff.fingerprint()}-n{sample}.db"
    if path.exists():
        return path
    for old in work.glob(f"peer-{pristine.stem}-*.db"):
        old.unlink()
    log(f"building the SpiffWorkflow peer's store (up to {sample:,} of the projects, replayed) ...")
    start = time.perf_counter()
    counts = peer_spiff.build(pristine, path, sample)
    log(f"  done in {time.perf_counter() - start:.1f} s: {counts}")
    return path


def empty_template(work: Path) -> Path:
    """An empty database at the current schema (for the import figure)."""
    from storage.db import SCHEMA_REVISION, Database
    from storage.schema import upgrade

    path = work / f"empty-{SCHEMA_REVISION}.db"
    if not path.exists():
        tmp = work / "empty.building.db"
        tmp.unlink(missing_ok=True)
        db = Database(f"sqlite:///{tmp}")
        upgrade(db)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        tmp.rename(path)
    return path


def describe(db_path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db_path)
    try:
        out = {
            "projects": conn.execute("SELECT count(*) FROM projects").fetchone()[0],
            "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
            "by_workflow": dict(conn.execute("SELECT workflow_id, count(*) FROM projects GROUP BY 1").fetchall()),
            "by_state": dict(conn.execute("SELECT state, count(*) FROM projects GROUP BY 1 ORDER BY 1").fetchall()),
            "years": [r[0] for r in conn.execute("SELECT DISTINCT year FROM projects ORDER BY 1")],
            "districts": conn.execute("SELECT count(DISTINCT gu) FROM projects").fetchone()[0],
            "file_mb": round(db_path.stat().st_size / 1e6, 1),
        }
    finally:
        conn.close()
    return out


# -- the figures ------------------------------------------------------------------------------


def fig_help(ctx: dict[str, Any]) -> dict[str, Any]:
    r = interleaved([ctx["dongflow"], "--help"], [ctx["python"], "-c", "import click"], ctx["env"], ctx["repeat"],
                    ctx["warmup"])
    return {"figure": "dongflow --help, whole process", "floor_command": 'python -c "import click"', "unit": "s",
            "target": "<= 2x", "met": r["ratio"] <= 2.0, **r}


def status_key(db_path: Path) -> str:
    """An open project of the latest cohort, mid-course: its status shows every part."""
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(
            "SELECT key FROM projects WHERE workflow_id = 'space-improvement' AND state = 'construction' "
            "ORDER BY year DESC, key LIMIT 1"
        ).fetchone() or conn.execute("SELECT key FROM projects ORDER BY key LIMIT 1").fetchone()
    finally:
        conn.close()
    return row[0]


def fig_status(ctx: dict[str, Any]) -> dict[str, Any]:
    key = status_key(ctx["db_path"])
    cmd = [ctx["dongflow"], "--db", str(ctx["db_path"]), *ctx["wf_args"], "status", key,
           "--as-of", generate.AS_OF.isoformat()]
    r = interleaved(cmd, [ctx["python"], "-c", "import sqlmodel"], ctx["env"], ctx["repeat"], ctx["warmup"])
    return {"figure": f"dongflow status KEY on the {ctx['size_name']} database, whole process",
            "floor_command": 'python -c "import sqlmodel"', "unit": "s", "target": "<= 1.25x",
            "met": r["ratio"] <= 1.25, "key": key, **r}


def fig_check(ctx: dict[str, Any]) -> dict[str, Any]:
    db_url = f"sqlite:///{ctx['db_path']}"
    base = ["--db", db_url, *ctx["wf_worker"], "--as-of", generate.AS_OF.isoformat()]
    runs, floors, peers = [], [], []
    first = worker(["check", *base], ctx["python"], ctx["env"])  # warm-up (and the skip list)
    skip = json.dumps(first["skip_states"])
    peer_base = ["--db", f"sqlite:///{ctx['peer_path']}", *ctx["wf_worker"], "--as-of", generate.AS_OF.isoformat()]
    if ctx["warmup"]:
        worker(["check-floor", *base, "--skip-states", skip], ctx["python"], ctx["env"])
        worker(["peer-sweep", *peer_base], ctx["python"], ctx["env"])
    # The next night: marks made by a full check of the day before (as a real alert run leaves them).
    worker(["check-next-night", *base, "--prime"], ctx["python"], ctx["env"])
    nights = []
    for _ in range(ctx["repeat_check"]):
        floors.append(worker(["check-floor", *base, "--skip-states", skip], ctx["python"], ctx["env"]))
        runs.append(worker(["check", *base], ctx["python"], ctx["env"]))
        peers.append(worker(["peer-sweep", *peer_base], ctx["python"], ctx["env"]))
        nights.append(worker(["check-next-night", *base], ctx["python"], ctx["env"]))
    m = [r["seconds"] for r in runs]
    f = [r["seconds"] for r in floors]
    peak_mb = max(r["maxrss_kb"] for r in runs) / 1024
    ratio = median(m) / median(f)
    assert all(r["rows"] == floors[0]["rows"] for r in runs + floors), "check and floor read different rows"
    # The peer sweeps its (sampled) store: compared per open project, i.e. as a rate.
    rate = runs[0]["rows"] / median(m)
    peer_rate = peers[0]["rows"] / median([p["seconds"] for p in peers])
    peer_time = runs[0]["rows"] / peer_rate
    vs_peer = rate / peer_rate
    peer_cpu_rate = peers[0]["rows"] / median([p["cpu_seconds"] for p in peers])
    cpu_vs_peer = (runs[0]["rows"] / median([r["cpu_seconds"] for r in runs])) / peer_cpu_rate
    assert all(n["rows"] == runs[0]["rows"] and n["findings"] == runs[0]["findings"] for n in nights), \
        "the incremental check counts other projects or findings than the full one"
    n = [r["seconds"] for r in nights]
    night_rate = runs[0]["rows"] / median(n)
    night_peak = max(r["maxrss_kb"] for r in nights) / 1024
    next_night = {
        "id": "check-next-night",
        "figure": f"nightly check, the night after a real run (incremental), over {ctx['size_name']} projects",
        "floor_command": "raw sqlite3 selecting every open project's row", "unit": "s",
        "target": ">= 40x the peer's sweep, peak memory <= 200 MB",
        "met": night_rate / peer_rate >= 40 and night_peak <= 200,
        "peer": {"what": "the same SpiffWorkflow sweep, which loads every open instance every night",
                 "rate_per_s": peer_rate, "time_for_same_rows_s": peer_time},
        "peer_measured": peer_time, "vs_peer": night_rate / peer_rate,
        "measured_s": n, "floor_s": f, "measured": median(n), "floor": median(f), "ratio": median(n) / median(f),
        "pair_ratio_median": median([a / b for a, b in zip(n, f)]),
        "peak_rss_mb": round(night_peak, 1),
        "rows_checked": nights[0]["rows"], "assessed": nights[0]["assessed"], "findings": nights[0]["findings"],
        "method": "marks made by a full check as of the day before (committed); the check as of the as-of day reads "
                  "them, assesses the projects new, changed or due, and writes their marks, in one transaction "
                  "timed to its end and then rolled back (each repetition starts from the same marks)",
        "cpu": {"measured_s": [r["cpu_seconds"] for r in nights],
                "measured": median([r["cpu_seconds"] for r in nights]),
                "floor": median([r["cpu_seconds"] for r in floors]),
                "ratio": median([r["cpu_seconds"] for r in nights]) / median([r["cpu_seconds"] for r in floors]),
                "vs_peer": (runs[0]["rows"] / median([r["cpu_seconds"] for r in nights])) / peer_cpu_rate},
    }
    return [{
        "figure": f"full check (every open project assessed: the first run, a past day, new rules) over {ctx['size_name']} projects",
        "floor_command": "raw sqlite3 selecting the same rows", "unit": "s",
        "target": "- (the nightly run is incremental: next figure)",
        "met": None,
        "peer": {"what": "SpiffWorkflow sweep: load each open stored instance, refresh_waiting_tasks, do_engine_steps, "
                         "milestone levels", "instances": peers[0]["rows"], "seconds": [p["seconds"] for p in peers],
                 "rate_per_s": peer_rate, "time_for_same_rows_s": peer_time, "findings": peers[0]["findings"],
                 "cpu_s": [p["cpu_seconds"] for p in peers], "cpu_vs_peer": cpu_vs_peer,
                 "peak_rss_mb": round(max(p["maxrss_kb"] for p in peers) / 1024, 1)},
        "peer_measured": peer_time, "vs_peer": vs_peer,
        "measured_s": m, "floor_s": f, "measured": median(m), "floor": median(f), "ratio": ratio,
        "pair_ratio_median": median([a / b for a, b in zip(m, f)]),
        "peak_rss_mb": round(peak_mb, 1), "floor_peak_rss_mb": round(max(r["maxrss_kb"] for r in floors) / 1024, 1),
        "memory_method": "peak RSS of the check process (VmHWM of its own address space at its end; "
                         "interpreter and imports included)",
        "rows_checked": runs[0]["rows"], "findings": runs[0]["findings"], "levels": runs[0]["levels"],
        "cpu": {"measured_s": [r["cpu_seconds"] for r in runs], "floor_s": [r["cpu_seconds"] for r in floors],
                "measured": median([r["cpu_seconds"] for r in runs]),
                "floor": median([r["cpu_seconds"] for r in floors]),
                "ratio": median([r["cpu_seconds"] for r in runs]) / median([r["cpu_seconds"] for r in floors])},
    }, next_night]


def fig_overdue(ctx: dict[str, Any]) -> dict[str, Any]:
    """``dongflow overdue --json`` as a whole process against a process that runs the same check and
    writes the same rows with the C JSON encoder (bench/worker.py overdue-floor)."""
    as_of = generate.AS_OF.isoformat()
    cmd = [ctx["dongflow"], "--db", str(ctx["db_path"]), *ctx["wf_args"], "overdue", "--as-of", as_of, "--json"]
    floor = [ctx["python"], str(WORKER), "overdue-floor", "--db", f"sqlite:///{ctx['db_path']}", *ctx["wf_worker"],
             "--as-of", as_of]
    r = interleaved(cmd, floor, ctx["env"], ctx["repeat_check"], min(1, ctx["warmup"]))
    done = subprocess.run(cmd, env=ctx["env"], capture_output=True)
    rows = len(json.loads(done.stdout))
    return {"figure": f"`dongflow overdue --json` over {ctx['size_name']} projects, whole process",
            "floor_command": "a process running the same check and writing the same rows with json.dumps (C encoder)",
            "unit": "s", "target": "<= 2x", "met": r["ratio"] <= 2.0, "rows": rows, "output_mb": len(done.stdout) / 1e6,
            **r}


ALERT_CONFIG = """\
# Written by bench/run.py for the alerts-dry-run figure: the smallest alert configuration, one
# console channel (a dry run sends nothing anyway; notify/config.py reads this file).
[[channels]]
type = "console"
"""


def fig_alerts_dry_run(ctx: dict[str, Any]) -> dict[str, Any]:
    """``dongflow alerts run --dry-run`` as a whole process against a process that runs the same check
    (bench/worker.py check: the alert run's compute, notify.runner.AlertRunner._check's scan)."""
    as_of = generate.AS_OF.isoformat()
    config = ctx["work"] / "alerts-bench.toml"
    config.write_text(ALERT_CONFIG, "utf-8")
    cmd = [ctx["dongflow"], "--db", str(ctx["db_path"]), *ctx["wf_args"], "alerts", "run", "--as-of", as_of,
           "--dry-run", "--config", str(config)]
    floor = [ctx["python"], str(WORKER), "check", "--db", f"sqlite:///{ctx['db_path']}", *ctx["wf_worker"],
             "--as-of", as_of]
    r = interleaved(cmd, floor, ctx["env"], ctx["repeat_check"], min(1, ctx["warmup"]))
    done = subprocess.run(cmd, env=ctx["env"], capture_output=True, text=True)
    summary = done.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    checked = worker(floor[2:], ctx["python"], ctx["env"])
    assert f"{checked['rows']} projects checked, {checked['findings']} findings" in summary, (summary, checked)
    # The portfolio's day is in the past: the run rebuilds the record as it stood then and assesses every
    # project (marks serve only a check of today's record), as the full check does.
    return {"figure": f"`dongflow alerts run --dry-run --as-of` a past day over {ctx['size_name']} projects, whole process",
            "floor_command": "a process running the alert run's check (bench/worker.py check)",
            "unit": "s", "target": "-", "met": None, "summary": summary, "rows_checked": checked["rows"],
            "findings": checked["findings"], "output_lines": done.stdout.count("\n"), **r}


def advance_keys(db_path: Path, limit: int) -> list[str]:
    from bench.worker import NEXT

    conn = sqlite3.connect(db_path)
    try:
        marks = ",".join("?" * len(NEXT))
        rows = conn.execute(
            f"SELECT key FROM projects WHERE state IN ({marks}) ORDER BY (id * 7919) % 100003, id LIMIT ?",
            [*NEXT, limit],
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def fig_advance(ctx: dict[str, Any]) -> dict[str, Any]:
    rounds, per_round = ctx["advance_rounds"], ctx["advance_per_round"]
    keys = advance_keys(ctx["db_path"], 2 * rounds * per_round + 20)
    if len(keys) < 2 * rounds * per_round + 20:
        per_round = max(5, (len(keys) - 20) // (2 * rounds))
    keys_file = ctx["work"] / "advance-keys.json"
    keys_file.write_text(json.dumps(keys, ensure_ascii=False), "utf-8")
    r = worker(["advance", "--db", f"sqlite:///{ctx['db_path']}", *ctx["wf_worker"], "--keys", str(keys_file),
                "--rounds", str(rounds), "--per-round", str(per_round), "--peer", str(ctx["peer_path"])],
               ctx["python"], ctx["env"])
    app, floor = median(r["app_rates"]), median(r["floor_rates"])
    peer = median(r["peer_rates"]) if r["peer_rates"] else None
    share = app / floor
    return {
        "figure": "advance, state + event in one transaction, sequential",
        "floor_command": "raw sqlite3 doing the same UPDATE + INSERT per transaction (same pragmas)",
        "unit": "advances/s", "target": ">= 60% of the floor, >= 2x the peer",
        "met": share >= 0.60 and peer is not None and app / peer >= 2,
        "measured": app, "floor": floor, "ratio": share, "peer_measured": peer,
        "vs_peer": app / peer if peer else None, "peer_rates": r["peer_rates"],
        "measured_rates": r["app_rates"], "floor_rates": r["floor_rates"],
        "pair_ratio_median": median([a / b for a, b in zip(r["app_rates"], r["floor_rates"])]),
        "per_round": r["per_round"], "rounds": r["rounds"],
        "what_is_timed": "Service.advance: read the project, fire the trigger on the workflow machine, apply_step, "
                         "versioned UPDATE + event INSERT in one BEGIN IMMEDIATE transaction",
    }


def fig_import(ctx: dict[str, Any]) -> dict[str, Any]:
    csv_path = ctx["work"] / f"import-{ctx['size']}.csv"
    if not csv_path.exists():
        generate.write_import_csv(csv_path, ctx["size"])
    r = worker(["import", "--db", "sqlite:///unused", *ctx["wf_worker"], "--csv", str(csv_path),
                "--template", str(empty_template(ctx["work"])), "--work", str(ctx["work"]),
                "--rounds", str(ctx["import_rounds"])], ctx["python"], ctx["env"])
    assert r["rows"] == r["floor_rows"] == ctx["size"], r
    # The whole `dongflow project import` process, on a fresh copy of the empty database each time.
    whole = []
    target = ctx["work"] / "import-cli.db"
    for _ in range(ctx["import_rounds"]):
        for suffix in ("", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(empty_template(ctx["work"]), target)
        whole.append(timed([ctx["dongflow"], "--db", str(target), *ctx["wf_args"], "project", "import", str(csv_path),
                            "--actor", "bench", "--allow-duplicate"], ctx["env"]))
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    m, f = median(r["app_seconds"]), median(r["floor_seconds"])
    w = median(whole)
    return {
        "figure": f"`dongflow project import` of {ctx['size_name']} CSV rows, whole process",
        "floor_command": "raw sqlite3 executemany of the same rows (projects and their creation events)",
        "unit": "s", "target": "<= 5x", "met": w / f <= 5,
        "in_process": {"what": "Service.import_csv alone", "seconds": r["app_seconds"], "median": m, "ratio": m / f},
        "whole_process_s": whole,
        "measured_s": whole, "floor_s": r["floor_seconds"], "measured": w, "floor": f, "ratio": w / f,
        "what_is_timed": "the whole `dongflow project import FILE` process (start-up, read and decode the file, "
                         "validate every row, check for taken keys, insert projects and events in one transaction)",
    }


def fig_report(ctx: dict[str, Any]) -> dict[str, Any]:
    probe = subprocess.run([ctx["dongflow"], "report", "--help"], env=ctx["env"], capture_output=True, text=True)
    base = {"figure": f"report of all sections over {ctx['size_name']} projects", "floor_command": "-", "unit": "s",
            "target": "<= 5 s"}
    if probe.returncode != 0:
        return {**base, "measured": None, "met": None, "note": "not measured: no report command yet"}
    cmd = [ctx["dongflow"], "--db", str(ctx["db_path"]), *ctx["wf_args"], "report"]
    if "--as-of" in probe.stdout:
        cmd += ["--as-of", generate.AS_OF.isoformat()]
    for _ in range(ctx["warmup"]):
        timed(cmd, ctx["env"])
    cpus: list[float] = []
    times = [timed(cmd, ctx["env"], cpus) for _ in range(max(1, min(5, ctx["repeat"] // 3)))]
    return {**base, "figure": base["figure"] + ", whole process", "measured": median(times), "measured_s": times,
            "cpu_s": cpus, "cpu_median_s": median(cpus), "met": median(times) <= 5.0, "command": " ".join(cmd[1:])}


def fig_pg(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """The same portfolio in PostgreSQL: import, check, advance from 1 and 8 clients, beside raw psycopg."""
    from bench import pg

    base_url = ctx["pg_url"]
    why = pg.reachable(base_url)
    if why is not None:
        return [{"figure": "PostgreSQL figures", "unit": "s", "target": "-", "measured": None,
                 "note": f"not measured: {base_url} unreachable ({why})"}]
    schema, url = pg.create(base_url)
    out: list[dict[str, Any]] = []
    try:
        start = time.perf_counter()
        counts = pg.copy_portfolio(ctx["db_path"], url)
        log(f"  copied {counts} into PostgreSQL schema {schema} in {time.perf_counter() - start:.1f} s")
        as_of = generate.AS_OF.isoformat()
        # check
        base = ["--db", url, *ctx["wf_worker"], "--as-of", as_of]
        first = worker(["check", *base], ctx["python"], ctx["env"])
        skip = json.dumps(first["skip_states"])
        runs, floors, nights = [], [], []
        worker(["check-next-night", *base, "--prime"], ctx["python"], ctx["env"])
        for _ in range(ctx["repeat_check"]):
            floors.append(worker(["pg-check-floor", *base, "--skip-states", skip], ctx["python"], ctx["env"]))
            runs.append(worker(["check", *base], ctx["python"], ctx["env"]))
            nights.append(worker(["check-next-night", *base], ctx["python"], ctx["env"]))
        m, f = median([r["seconds"] for r in runs]), median([r["seconds"] for r in floors])
        n = median([r["seconds"] for r in nights])
        assert all(r["rows"] == runs[0]["rows"] and r["findings"] == runs[0]["findings"] for r in nights), \
            "PostgreSQL: the incremental check counts other projects or findings than the full one"
        assert all(r["rows"] == floors[0]["rows"] for r in runs + floors), "PostgreSQL check and floor differ"
        out.append({"id": "pg-check", "figure": f"PostgreSQL: full check over {ctx['size_name']} projects",
                    "floor_command": "raw psycopg selecting the same rows", "unit": "s", "target": "-",
                    "met": None, "measured": m, "floor": f, "ratio": m / f,
                    "measured_s": [r["seconds"] for r in runs], "floor_s": [r["seconds"] for r in floors],
                    "peak_rss_mb": round(max(r["maxrss_kb"] for r in runs) / 1024, 1), "rows_checked": runs[0]["rows"]})
        out.append({"id": "pg-check-next-night",
                    "figure": f"PostgreSQL: nightly check, the night after a real run (incremental), over {ctx['size_name']} projects",
                    "floor_command": "raw psycopg selecting every open project's row", "unit": "s", "target": "-",
                    "met": None, "measured": n, "floor": f, "ratio": n / f,
                    "measured_s": [r["seconds"] for r in nights], "floor_s": [r["seconds"] for r in floors],
                    "peak_rss_mb": round(max(r["maxrss_kb"] for r in nights) / 1024, 1),
                    "rows_checked": nights[0]["rows"], "assessed": nights[0]["assessed"]})
        # advance, one client (interleaved rounds, as on SQLite)
        rounds, per_round = ctx["advance_rounds"], max(5, ctx["advance_per_round"] // 2)
        keys = advance_keys(ctx["db_path"], 2 * rounds * per_round + 20 + 8 * 2 * per_round)
        if len(keys) < 2 * rounds * per_round + 20 + 16:
            per_round = max(1, (len(keys) - 36) // (4 * rounds))
        one, rest = keys[: 2 * rounds * per_round + 20], keys[2 * rounds * per_round + 20 :]
        keys_file = ctx["work"] / "pg-advance-keys.json"
        keys_file.write_text(json.dumps(one, ensure_ascii=False), "utf-8")
        r = worker(["advance", "--db", url, *ctx["wf_worker"], "--keys", str(keys_file), "--rounds", str(rounds),
                    "--per-round", str(per_round)], ctx["python"], ctx["env"])
        app, floor = median(r["app_rates"]), median(r["floor_rates"])
        out.append({"id": "pg-advance-1", "figure": "PostgreSQL: advance, 1 client",
                    "floor_command": "raw psycopg UPDATE + INSERT per transaction", "unit": "advances/s",
                    "target": "-", "met": None, "measured": app, "floor": floor, "ratio": app / floor,
                    "measured_rates": r["app_rates"], "floor_rates": r["floor_rates"]})
        # advance, 8 concurrent clients (separate processes, distinct projects, a common start)
        clients = 8
        per_client = max(1, len(rest) // (2 * clients))
        results: dict[str, float] = {}
        for mode, offset in (("floor", 0), ("app", clients * per_client)):
            procs = []
            start_at = time.time() + 8.0
            for c in range(clients):
                mine = rest[offset + c * per_client : offset + (c + 1) * per_client]
                path = ctx["work"] / f"pg-client-{mode}-{c}.json"
                path.write_text(json.dumps(mine, ensure_ascii=False), "utf-8")
                procs.append(subprocess.Popen(
                    [ctx["python"], str(WORKER), "advance-client", "--db", url, *ctx["wf_worker"], "--keys", str(path),
                     "--mode", mode, "--start-at", str(start_at)],
                    env=ctx["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            done = []
            for proc in procs:
                stdout, stderr = proc.communicate()
                if proc.returncode != 0:
                    raise SystemExit(f"bench: advance client failed:\n{stderr[-3000:]}")
                done.append(json.loads(stdout.strip().splitlines()[-1]))
            total = sum(d["count"] for d in done)
            results[mode] = total / (max(d["end"] for d in done) - min(d["start"] for d in done))
        out.append({"id": "pg-advance-8", "figure": f"PostgreSQL: advance, {clients} concurrent clients (total)",
                    "floor_command": f"{clients} raw psycopg clients, UPDATE + INSERT per transaction",
                    "unit": "advances/s", "target": "-", "met": None, "measured": results["app"],
                    "floor": results["floor"], "ratio": results["app"] / results["floor"],
                    "per_client": per_client})
        # import (tables emptied between rounds)
        csv_path = ctx["work"] / f"import-{ctx['size']}.csv"
        if not csv_path.exists():
            generate.write_import_csv(csv_path, ctx["size"])
        r = worker(["import", "--db", url, *ctx["wf_worker"], "--csv", str(csv_path), "--template", "-",
                    "--work", str(ctx["work"]), "--rounds", str(ctx["import_rounds"])], ctx["python"], ctx["env"])
        m, f = median(r["app_seconds"]), median(r["floor_seconds"])
        out.append({"id": "pg-import", "figure": f"PostgreSQL: import of {ctx['size_name']} CSV rows (Service.import_csv)",
                    "floor_command": "raw psycopg executemany of the same rows", "unit": "s", "target": "-",
                    "met": None, "measured": m, "floor": f, "ratio": m / f,
                    "measured_s": r["app_seconds"], "floor_s": r["floor_seconds"]})
    finally:
        pg.drop(base_url, schema)
    return out


FIGURES = {"help": fig_help, "status": fig_status, "check": fig_check, "overdue": fig_overdue,
           "alerts-dry-run": fig_alerts_dry_run, "advance": fig_advance, "import": fig_import,
           "report": fig_report, "pg": fig_pg}


# -- output -----------------------------------------------------------------------------------


def fmt_value(fig: dict[str, Any], key: str) -> str:
    value = fig.get(key)
    if value is None:
        return "-"
    if fig["unit"] == "advances/s":
        return f"{value:,.0f}/s"
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"


def table(figures: list[dict[str, Any]]) -> str:
    rows = [("figure", "measured", "floor", "ratio", "CPU ratio", "peer (SpiffWorkflow)", "vs peer", "target", "met")]
    for f in figures:
        if f.get("measured") is None:
            rows.append((f["figure"], f.get("note", "-"), "-", "-", "-", "-", "-", f["target"], "-"))
            continue
        cpu = f"{f['cpu']['ratio']:.2f}x" if "cpu" in f else "-"
        if f.get("ratio") is None:
            ratio = "-"
        elif f["unit"] == "advances/s":
            ratio = f"{f['ratio'] * 100:.0f}%"
        else:
            ratio = f"{f['ratio']:.2f}x"
        measured = fmt_value(f, "measured")
        if "peak_rss_mb" in f:
            measured += f", peak {f['peak_rss_mb']:.0f} MB"
        peer = fmt_value(f, "peer_measured")
        vs_peer = f"{f['vs_peer']:.1f}x" if f.get("vs_peer") else "-"
        if f.get("peer", {}).get("cpu_vs_peer"):
            vs_peer += f" (CPU {f['peer']['cpu_vs_peer']:.1f}x)"
        met = "-" if f.get("met") is None else "yes" if f["met"] else "NO"
        rows.append((f["figure"], measured, fmt_value(f, "floor"), ratio, cpu, peer, vs_peer, f["target"], met))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def size_arg(text: str) -> str:
    if text in generate.SIZES or (text.isdigit() and int(text) >= 50):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: choose 1k, 10k, 100k or a number of projects (>= 50)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dongflow benchmark: each figure beside its floor, in one run.")
    parser.add_argument("--size", type=size_arg, default="100k",
                        help="portfolio size: 1k, 10k or 100k (default 100k), or a number of projects")
    parser.add_argument("--workflows", action="append", type=Path, default=None,
                        help="extra workflow folder(s) to spread projects over (default bench/workflows)")
    parser.add_argument("--repeat", type=int, default=15, help="whole-process runs of each command (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured runs before measuring (default 2)")
    parser.add_argument("--only", help="comma-separated figures: " + ",".join(FIGURES))
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter whose venv's `dongflow` is measured (default: this one)")
    parser.add_argument("--work", type=Path, default=BENCH / ".work",
                        help="cache of generated data (default bench/.work)")
    parser.add_argument("--out", type=Path, default=BENCH / "results",
                        help="where the JSON goes (default bench/results)")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the portfolio even if cached")
    parser.add_argument("--pg", default=os.environ.get("DONGFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
                        help="PostgreSQL server for the pg figures (a schema of its own is made and dropped)")
    parser.add_argument("--peer-sample", type=int, default=10_000,
                        help="projects replayed into the SpiffWorkflow peer's store (default 10000; its sweep is "
                             "compared per project)")
    args = parser.parse_args(argv)

    size = generate.SIZES.get(args.size) or int(args.size)
    workflow_dirs = [p.resolve() for p in (args.workflows or [BENCH / "workflows"])]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = str(Path(args.python))
    dongflow = str(Path(python).parent / "dongflow")
    if not Path(dongflow).exists():
        raise SystemExit(f"bench: no dongflow script next to {python} (pip install the project into that venv)")
    only = args.only.split(",") if args.only else list(FIGURES)
    unknown = [f for f in only if f not in FIGURES]
    if unknown:
        raise SystemExit(f"bench: unknown figure(s) {unknown}; choose from {list(FIGURES)}")

    pristine = portfolio(size, args.seed, workflow_dirs, work, args.rebuild)
    peer_path = None
    if {"check", "advance"} & set(only):
        peer_path = work / f"run-peer-{args.size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(peer_path) + suffix).unlink(missing_ok=True)
        shutil.copyfile(peer_portfolio(pristine, work, args.peer_sample), peer_path)
    db_path = work / f"run-{args.size}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(pristine, db_path)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)

    ctx = {
        "size": size, "size_name": args.size, "db_path": db_path, "peer_path": peer_path, "pg_url": args.pg, "work": work, "python": python,
        "dongflow": dongflow, "env": child_env(cache), "repeat": args.repeat, "warmup": args.warmup,
        "repeat_check": max(1, min(5, args.repeat)),
        "wf_args": [a for d in workflow_dirs for a in ("--workflows", str(d))],
        "wf_worker": [a for d in workflow_dirs for a in ("--workflows", str(d))],
        "advance_rounds": 5 if args.repeat >= 5 else 1, "advance_per_round": min(500, max(5, size // 25)),
        "import_rounds": 3 if args.repeat >= 3 else 1,
    }
    started = dt.datetime.now().astimezone()
    info = {"date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
            "size": args.size, "seed": args.seed, "machine": machine(), "portfolio": describe(db_path),
            "as_of": generate.AS_OF.isoformat(),
            "method": {
                "whole_process": "the `dongflow` script of the measured venv; PYTHONDONTWRITEBYTECODE unset and "
                                 "2 warm-up runs first (bytecode cached); floor and measured alternate; medians",
                "python": python,
                "workflows": [str(d) for d in workflow_dirs],
            }}
    log(f"portfolio: {info['portfolio']['projects']:,} projects, {info['portfolio']['events']:,} events "
        f"({info['portfolio']['file_mb']} MB)")
    figures = []
    for name in FIGURES:
        if name not in only:
            continue
        log(f"measuring {name} ...")
        start = time.perf_counter()
        found = FIGURES[name](ctx)
        for fig in found if isinstance(found, list) else [found]:
            fig.setdefault("id", name)
            fig["wall_s"] = round(time.perf_counter() - start, 1)
            figures.append(fig)
            log(f"  {fig['id']}: " + table([fig]).splitlines()[-1])
    info["figures"] = figures
    info["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    info["machine"]["load_average_at_end"] = os.getloadavg()
    text = table(figures)
    print(f"dongflow benchmark, {args.size} projects, {info['date']} "
          f"({info['machine']['cpu']}, {info['machine']['cores']} cores, Python {info['machine']['python']})")
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"{info['date']}-{args.size}.json"
    out.write_text(json.dumps(info, ensure_ascii=False, indent=2, default=str) + "\n", "utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
