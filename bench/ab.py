"""Before/after in one run: one figure measured on a git revision and on the working tree, interleaved.

    .venv/bin/python bench/ab.py check --before HEAD~1 [--size 100k] [--repeat 5]
    .venv/bin/python bench/ab.py status --before HEAD~1 --repeat 15

The revision is exported with ``git archive`` into a temporary folder (no worktree, no checkout) and
both trees run from the same interpreter: a tree's own folder comes first on ``sys.path``. Uses the
portfolio ``bench/run.py`` cached for the size (run that first). Prints medians and after/before.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import generate  # noqa: E402
from bench.run import advance_keys, child_cpu, child_env, status_key  # noqa: E402

LAUNCH = "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'dongflow'; from cli import main; main()"


def export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_json(cmd: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ab: {' '.join(cmd[:4])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(cmd: list[str], env: dict[str, str], cpu: list[float]) -> float:
    before = child_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise SystemExit(f"ab: {' '.join(cmd[:4])} failed: {done.stderr.decode()[-2000:]}")
    seconds = time.perf_counter() - start
    cpu.append(child_cpu() - before)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figure", choices=("check", "status", "advance", "import"))
    parser.add_argument("--before", required=True, help="git revision to compare with (e.g. HEAD~1)")
    parser.add_argument("--size", choices=list(generate.SIZES), default="100k")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args()
    work = args.work.resolve()
    size = generate.SIZES[args.size]
    wf_dir = ROOT / "bench" / "workflows"
    pristine = sorted(work.glob(f"portfolio-{size}-*.db"))
    if not pristine:
        raise SystemExit(f"ab: no cached {args.size} portfolio in {work}; run bench/run.py --size {args.size} first")
    tmp = Path(tempfile.mkdtemp(prefix="dongflow-ab-"))
    try:
        (tmp / "before").mkdir()
        trees = {"before": export(args.before, tmp / "before"), "after": ROOT}
        worker = str(ROOT / "bench" / "worker.py")
        env = child_env(tmp / "cache")
        py = sys.executable
        results: dict[str, list[float]] = {"before": [], "after": []}
        memory: dict[str, list[float]] = {"before": [], "after": []}
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        if args.figure in ("check", "status"):
            db = tmp / "ab.db"
            shutil.copyfile(pristine[-1], db)
            as_of = generate.AS_OF.isoformat()
            if args.figure == "check":
                def one(name: str) -> None:
                    r = run_json([py, worker, "check", "--db", f"sqlite:///{db}", "--workflows", str(wf_dir),
                                  "--as-of", as_of], {**env, "DONGFLOW_BENCH_TREE": str(trees[name])})
                    results[name].append(r["seconds"])
                    cpu[name].append(r["cpu_seconds"])
                    memory[name].append(r["maxrss_kb"] / 1024)
            else:
                key = status_key(db)

                def one(name: str) -> None:
                    results[name].append(timed([py, "-c", LAUNCH, str(trees[name]), "--db", str(db), "--workflows",
                                                str(wf_dir), "status", key, "--as-of", as_of], env, cpu[name]))
            for name in ("before", "after"):  # warm-up (bytecode, caches)
                one(name)
                one(name)
            for series in (results, memory, cpu):
                series["before"].clear()
                series["after"].clear()
            for _ in range(args.repeat):
                one("before")
                one("after")
        elif args.figure == "advance":
            for i in range(args.repeat):
                for name in ("before", "after"):
                    db = tmp / f"ab-{name}.db"
                    shutil.copyfile(pristine[-1], db)
                    keys = advance_keys(db, 2 * 200 + 20)
                    (tmp / "keys.json").write_text(json.dumps(keys, ensure_ascii=False), "utf-8")
                    r = run_json([py, worker, "advance", "--db", f"sqlite:///{db}",
                                  "--workflows", str(wf_dir), "--keys", str(tmp / "keys.json"), "--rounds", "1",
                                  "--per-round", "200"], {**env, "DONGFLOW_BENCH_TREE": str(trees[name])})
                    results[name].append(r["app_rates"][0])
        else:
            csv_path = work / f"import-{size}.csv"
            if not csv_path.exists():
                generate.write_import_csv(csv_path, size)
            template = sorted(work.glob("empty-*.db"))[-1]
            for i in range(args.repeat):
                for name in ("before", "after"):
                    r = run_json([py, worker, "import", "--db", "sqlite:///x",
                                  "--workflows", str(wf_dir), "--csv", str(csv_path), "--template", str(template),
                                  "--work", str(tmp), "--rounds", "1"],
                                 {**env, "DONGFLOW_BENCH_TREE": str(trees[name])})
                    results[name].append(r["app_seconds"][0])
        b, a = statistics.median(results["before"]), statistics.median(results["after"])
        unit = "advances/s" if args.figure == "advance" else "s"
        print(f"{args.figure} ({args.size}): before {b:.3f} {unit}, after {a:.3f} {unit}, after/before {a / b:.2f}"
              + (f"; peak RSS before {max(memory['before']):.0f} MB, after {max(memory['after']):.0f} MB"
                 if memory["before"] else ""))
        if cpu["before"]:
            cb, ca = statistics.median(cpu["before"]), statistics.median(cpu["after"])
            print(f"  CPU time: before {cb:.3f} s, after {ca:.3f} s, after/before {ca / cb:.2f}")
        print(json.dumps({"before": results["before"], "after": results["after"], "memory": memory, "cpu": cpu}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
