"""A bounded load run of the web server on loopback: concurrent API clients reading and advancing
projects on PostgreSQL, then a check that every successful advance left exactly one event.

    .venv/bin/python bench/web_load.py                      # 50 clients, 60 s, 10,000 projects
    .venv/bin/python bench/web_load.py --duration 10 --projects 2000

It makes a PostgreSQL schema of its own (dropped afterwards unless --keep), fills it with the
benchmark's generated portfolio (bench/generate.py), creates a token per client group, starts
``dongflow serve`` (``--workers`` processes) on a free loopback port, and runs the clients in one
asyncio process (httpx). Each client loops until the time is up:

* 20% ``GET /api/projects/{key}`` (the project's data), 20% ``GET /projects/{key}`` (the web app's
  project page, HTML, with a session from signing in through the form), 30%
  ``GET /api/projects?gu=..&limit=50`` (a district's list, with total and next);
* 30% an advance: read the project, pick a trigger whose guards hold, ``POST .../advance`` with the
  version read. Advances go to a small hot set of projects, so clients collide and some get 409.

Afterwards: every 200 advance has exactly one event with its new version and the client's name as
actor, the number of new events equals the number of successful advances, and nothing but 409 (and,
for a trigger that went away between read and write, nothing at all: a stale read is a 409) was an
error. p50/p95 per kind go to stdout (Markdown) and bench/results/web-load-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_WORKFLOWS = ROOT / "bench" / "workflows"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password 2026"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, count: int, clients: int) -> tuple[dict[str, str], list[str], list[str]]:
    """The portfolio, and a user with a token per client (officers, so every district is open to them)."""
    from argon2 import PasswordHasher

    from bench.generate import build_database
    from engine.access import Principal
    from engine.accounts import AccountService
    from engine.catalog import Catalog
    from storage.accounts import SqlAccountStore
    from storage.db import Database
    from workflows import SHIPPED_DIR

    catalog = Catalog.from_dirs([SHIPPED_DIR, BENCH_WORKFLOWS])
    started = time.perf_counter()
    build_database(url, catalog, count)
    print(f"portfolio: {count} projects in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    db = Database(url)
    try:
        accounts = AccountService(SqlAccountStore(db), PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        now = dt.datetime.now(dt.timezone.utc)
        for i in range(clients):
            accounts.add_user(Principal.operator(), f"client{i:02d}", "officer", PASSWORD, now=now)
        tokens = {f"client{i:02d}": accounts.create_token(Principal.operator(), f"client{i:02d}-token",
                                                          owner=f"client{i:02d}", now=now) for i in range(clients)}
        from sqlalchemy import select

        from storage.repository import P

        with db.read() as conn:
            rows = conn.execute(select(P.c.key, P.c.gu, P.c.state)).all()
    finally:
        db.dispose()
    finals = {"completed", "cancelled", "done"}
    open_keys = [r.key for r in rows if r.state not in finals]
    gus = sorted({r.gu for r in rows})
    return tokens, open_keys, gus


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = {}
        self.status: dict[str, dict[int, int]] = {}
        self.advanced: list[tuple[str, int, str, str]] = []  # key, new version, trigger, actor
        self.unexpected: list[str] = []

    def add(self, kind: str, seconds: float, status: int) -> None:
        self.latency.setdefault(kind, []).append(seconds)
        counts = self.status.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1


async def client(name: str, token: str, base: str, keys: list[str], hot: list[str], gus: list[str],
                 deadline: float, stats: Stats, rng: random.Random) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http, \
            httpx.AsyncClient(base_url=base, timeout=60) as browser:
        await sign_in(browser, base, name)
        while time.perf_counter() < deadline:
            roll = rng.random()
            if roll < 0.20:
                started = time.perf_counter()
                r = await http.get(f"/api/projects/{rng.choice(keys)}")
                stats.add("project", time.perf_counter() - started, r.status_code)
                if r.status_code != 200:
                    stats.unexpected.append(f"project {r.status_code} {r.text[:200]}")
            elif roll < 0.40:
                started = time.perf_counter()
                r = await browser.get(f"/projects/{rng.choice(keys)}")
                stats.add("page", time.perf_counter() - started, r.status_code)
                if r.status_code != 200:
                    stats.unexpected.append(f"page {r.status_code} {r.text[:200]}")
            elif roll < 0.70:
                started = time.perf_counter()
                r = await http.get("/api/projects", params={"gu": rng.choice(gus), "limit": 50})
                stats.add("list", time.perf_counter() - started, r.status_code)
                if r.status_code != 200:
                    stats.unexpected.append(f"list {r.status_code} {r.text[:200]}")
            else:
                key = rng.choice(hot)
                r = await http.get(f"/api/projects/{key}")
                if r.status_code != 200:
                    stats.unexpected.append(f"read-for-advance {r.status_code} {r.text[:200]}")
                    continue
                detail = r.json()
                options = [t for t in detail["triggers"] if not t["unmet_guards"] and t["trigger"] != "cancel"]
                if not options:
                    continue
                trigger = rng.choice(options)["trigger"]
                await asyncio.sleep(rng.random() * 0.02)  # a person looks at the page before clicking
                started = time.perf_counter()
                r = await http.post(f"/api/projects/{key}/advance",
                                    json={"trigger": trigger, "note": f"load {name}", "version": detail["version"]})
                stats.add("advance", time.perf_counter() - started, r.status_code)
                if r.status_code == 200:
                    stats.advanced.append((key, r.json()["version"], trigger, name))
                elif r.status_code != 409:
                    stats.unexpected.append(f"advance {r.status_code} {r.text[:300]}")


async def sign_in(browser: Any, base: str, name: str) -> None:
    """Sign in through the web app's form (its CSRF token and the origin), as a browser would."""
    form = await browser.get("/login")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = await browser.post("/login", data={"user": name, "password": PASSWORD, "csrf": csrf},
                           headers={"Origin": base})
    if r.status_code != 303:
        raise SystemExit(f"{name} could not sign in to the web app: {r.status_code}")


def verify(url: str, stats: Stats, events_before: int) -> dict[str, Any]:
    from sqlalchemy import create_engine, func, select

    from storage.repository import E, P

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            events_after = conn.execute(select(func.count()).select_from(E)).scalar()
            problems = []
            for key, version, trigger, actor in stats.advanced:
                rows = conn.execute(select(E.c.trigger, E.c.actor).join(P, P.c.id == E.c.project_id)
                                    .where(P.c.key == key, E.c.seq == version)).all()
                if len(rows) != 1 or rows[0].trigger != trigger or rows[0].actor != actor:
                    problems.append(f"{key} v{version}: {rows}")
    finally:
        engine.dispose()
    return {"events_added": events_after - events_before, "successful_advances": len(stats.advanced),
            "advance_event_problems": problems[:20], "advance_event_problem_count": len(problems)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--hot", type=int, default=200, help="projects the advances go to (default 200)")
    parser.add_argument("--postgres", default=os.environ.get("DONGFLOW_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args(argv)

    import psycopg

    schema = f"bench_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(args.postgres), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in args.postgres else "?"
    url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
    server = None
    try:
        tokens, keys, gus = prepare(url, args.projects, args.clients)
        rng = random.Random(2026)
        hot = rng.sample(keys, min(args.hot, len(keys)))
        port = free_port()
        env = {**os.environ, "DONGFLOW_DATABASE_URL": url, "DONGFLOW_WORKFLOWS": str(BENCH_WORKFLOWS)}
        log = open(ROOT / "bench" / "results" / "web-load-server.log", "w")  # noqa: SIM115
        server = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "serve", "--port", str(port),
                                   "--workers", str(args.workers)], cwd=ROOT, env=env, stdout=log, stderr=log,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        _wait_for(base, server)
        from sqlalchemy import create_engine, func, select

        from storage.repository import E

        engine = create_engine(url)
        with engine.connect() as conn:
            events_before = conn.execute(select(func.count()).select_from(E)).scalar()
        engine.dispose()

        _warm_up(base, next(iter(tokens.values())), keys, gus)
        stats = Stats()
        started = time.perf_counter()
        deadline = started + args.duration

        async def run() -> None:
            await asyncio.gather(*[
                client(name, token, base, keys, hot, gus, deadline, stats, random.Random(i))
                for i, (name, token) in enumerate(tokens.items())])

        asyncio.run(run())
        elapsed = time.perf_counter() - started
        checked = verify(url, stats, events_before)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if not args.keep:
            with psycopg.connect(libpq(args.postgres), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "clients": args.clients, "duration_s": round(elapsed, 1),
        "projects": args.projects, "workers": args.workers, "hot": args.hot, "database": "postgresql",
        "load_average_after": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "kinds": {}, **checked, "unexpected": stats.unexpected[:20], "unexpected_count": len(stats.unexpected),
    }
    print(f"\n{args.clients} clients, {elapsed:.0f} s, {args.projects} projects, {args.workers} server processes\n")
    print("| request | count | per second | p50 | p95 | statuses |")
    print("|---|---|---|---|---|---|")
    for kind in ("project", "page", "list", "advance"):
        values = stats.latency.get(kind, [])
        if not values:
            continue
        p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
        result["kinds"][kind] = {"count": len(values), "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
                                 "mean_ms": round(statistics.mean(values) * 1000, 1),
                                 "statuses": stats.status.get(kind, {})}
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(stats.status.get(kind, {}).items()))
        print(f"| {kind} | {len(values)} | {len(values) / elapsed:.1f} | {p50:.0f} ms | {p95:.0f} ms | {statuses} |")
    ok = checked["events_added"] == checked["successful_advances"] and not checked["advance_event_problem_count"] \
        and not stats.unexpected
    print(f"\nsuccessful advances {checked['successful_advances']}, events added {checked['events_added']}, "
          f"advances without exactly one matching event {checked['advance_event_problem_count']}, "
          f"unexpected responses {len(stats.unexpected)}: {'OK' if ok else 'FAILED'}")
    for line in stats.unexpected[:5]:
        print("  ", line)
    out = ROOT / "bench" / "results" / f"web-load-{result['date']}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if ok else 1


def _warm_up(base: str, token: str, keys: list[str], gus: list[str]) -> None:
    """A few requests of each kind first (not measured): each server process loads the workflows and
    computes the observed durations once, on its first requests."""
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        for i in range(20):
            http.get(f"/api/projects/{keys[i % len(keys)]}")
            http.get("/api/projects", params={"gu": gus[i % len(gus)], "limit": 50})


def _wait_for(base: str, server: subprocess.Popen[Any]) -> None:
    import httpx

    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("the server stopped; see bench/results/web-load-server.log")
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer within 60 s")


if __name__ == "__main__":
    raise SystemExit(main())
