"""The peer in the benchmark: SpiffWorkflow, the Python BPMN engine a team would otherwise pick.

The same course is modelled in BPMN (``bench/bpmn/*.bpmn``: one user task per state, exclusive
gateways for the detours: design revision, failed tender, rejected works). The same portfolio is
built for it by replaying each generated project's own events (``bench/generate.py`` made them
with dongflow's engine) through SpiffWorkflow: a trigger completes the ready user task with
``decision`` set to the trigger, which the gateways read. Each workflow instance is stored the way
SpiffWorkflow applications store them: its serialized JSON in a row of a SQLite table with the same
pragmas as dongflow's, beside the project's key, district, target date and a version column.

Generous to the peer, and said so in docs/benchmark.md:

* the BPMN spec is parsed once and kept in memory; a stored instance holds only its task tree and
  data (SpiffWorkflow's own serializer otherwise stores and restores the spec in every row, which
  doubles its load time);
* its sweep computes levels with plain date arithmetic (no holiday calendar, no at-risk forecast),
  where dongflow's check rolls due dates over Korean holidays and forecasts completion;
* hold and resume are a flag in the instance's data rather than a BPMN event subprocess.

The sweep is what a SpiffWorkflow application runs nightly: load every open instance,
``refresh_waiting_tasks()`` and ``do_engine_steps()`` (timers and waiting events), find the ready
user task (the stage) and compare the milestones not yet reached with the as-of date. An advance is
read the row, deserialize, complete the ready task, run the engine, serialize, and the versioned
UPDATE plus an event INSERT in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

BPMN_DIR = Path(__file__).resolve().parent / "bpmn"
PROCESS_IDS = {"space-improvement": "space_improvement", "small-repair": "small_repair"}
PRAGMAS = ("PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL",
           "PRAGMA synchronous = NORMAL")
SCHEMA = """
CREATE TABLE peer_workflows (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, workflow_id TEXT NOT NULL, gu TEXT NOT NULL,
    dong TEXT NOT NULL, year INTEGER NOT NULL, target_date TEXT NOT NULL, status TEXT NOT NULL,
    stage TEXT, instance TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE INDEX ix_peer_status ON peer_workflows (status);
CREATE TABLE peer_events (
    id INTEGER PRIMARY KEY, workflow_row_id INTEGER NOT NULL REFERENCES peer_workflows (id), seq INTEGER NOT NULL,
    "trigger" TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (workflow_row_id, seq)
);
"""


def fingerprint() -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


class Peer:
    """The SpiffWorkflow specs (parsed once), and instances to and from stored JSON."""

    def __init__(self) -> None:
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

        parser = BpmnParser()
        for path in sorted(BPMN_DIR.glob("*.bpmn")):
            parser.add_bpmn_file(str(path))
        self.specs = {wf: parser.get_spec(pid) for wf, pid in PROCESS_IDS.items()}
        self.serializer = BpmnWorkflowSerializer()
        self.registry = self.serializer.registry
        from SpiffWorkflow.bpmn import BpmnWorkflow

        # The registered BpmnWorkflowConverter (its from_dict, bound): used with the in-memory spec.
        restore = self.registry.convert_from_dict[self.registry.typenames[BpmnWorkflow]]
        self._converter = restore.args[0].__self__

    def start(self, workflow_id: str) -> Any:
        from SpiffWorkflow.bpmn import BpmnWorkflow

        wf = BpmnWorkflow(self.specs[workflow_id])
        wf.do_engine_steps()
        wf.data["reached"] = {}
        wf.data["held"] = False
        return wf

    def dumps(self, wf: Any) -> str:
        """The instance without its spec (kept once, in memory): tasks, data, events."""
        dct = self.serializer.to_dict(wf)
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        dct["serializer_version"] = self.serializer.VERSION
        return json.dumps(dct, separators=(",", ":"))

    def loads(self, text: str, workflow_id: str) -> Any:
        """SpiffWorkflow's BpmnWorkflowConverter.from_dict with the in-memory spec."""
        from SpiffWorkflow.bpmn import BpmnWorkflow

        dct = json.loads(text)
        wf = BpmnWorkflow(self.specs[workflow_id], {}, deserializing=True)
        converter = self._converter
        wf.tasks = converter.mapping_from_dict(dct["tasks"], UUID, workflow=wf)
        wf.task_tree = wf.tasks.get(UUID(dct["root"]))
        converter.set_default_attributes(wf, dct)
        converter.subprocesses_from_dict(dct["subprocesses"], wf)
        wf.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return wf

    @staticmethod
    def stage(wf: Any) -> str | None:
        from SpiffWorkflow.util.task import TaskState

        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        return ready[0].task_spec.name if ready else None

    @staticmethod
    def fire(wf: Any, trigger: str, at: str) -> bool:
        """Apply a dongflow trigger; False when the instance has ended (completed or cancelled)."""
        from SpiffWorkflow.util.task import TaskState

        if trigger == "hold":
            wf.data["held"] = True
            return True
        if trigger == "resume":
            wf.data["held"] = False
            return True
        if trigger == "cancel":
            wf.cancel()
            return False
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        task = ready[0]
        task.data["decision"] = trigger
        task.run()
        wf.do_engine_steps()
        stage = Peer.stage(wf)
        if stage is not None:
            wf.data["reached"].setdefault(stage, at)
        return not wf.is_completed()


# -- building the peer's portfolio from dongflow's -------------------------------------------------


def sample_ids(conn: sqlite3.Connection, limit: int) -> list[int]:
    """Every k-th project (by id) so that at most ``limit`` are taken: the same mix of workflows,
    years and stages as the whole portfolio."""
    total = conn.execute("SELECT count(*) FROM projects").fetchone()[0]
    step = max(1, -(-total // limit))
    return [r[0] for r in conn.execute("SELECT id FROM projects WHERE (id - 1) % ? = 0 ORDER BY id", (step,))]


def build(portfolio: Path, target: Path, limit: int) -> dict[str, Any]:
    """Replay the events of (a sample of) the portfolio's projects through SpiffWorkflow into ``target``."""
    peer = Peer()
    src = sqlite3.connect(str(portfolio))
    ids = sample_ids(src, limit)
    tmp = target.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    out = connect(tmp)
    out.executescript(SCHEMA)
    out.execute("BEGIN")
    counts: dict[str, int] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ",".join("?" * len(chunk))
        projects = src.execute(
            f"SELECT id, key, workflow_id, gu, dong, year, target_date, state FROM projects WHERE id IN ({marks})",
            chunk,
        ).fetchall()
        events: dict[int, list[tuple[str, str]]] = {}
        for pid, trigger, at in src.execute(
            f"SELECT project_id, \"trigger\", at FROM events WHERE project_id IN ({marks}) AND kind = 'transition' "
            "ORDER BY project_id, seq",
            chunk,
        ):
            events.setdefault(pid, []).append((trigger, at))
        for pid, key, workflow_id, gu, dong, year, target_date, state in projects:
            wf = peer.start(workflow_id)
            wf.data["reached"][peer.stage(wf)] = None
            is_open = True
            for trigger, at in events.get(pid, []):
                is_open = peer.fire(wf, trigger, at) and is_open
            status = "open" if is_open else "closed"
            expected = peer.stage(wf) if is_open else None
            if is_open and not wf.data.get("held") and expected != state:
                raise AssertionError(f"peer replay of {key} ends in {expected}, dongflow's in {state}")
            counts[status] = counts.get(status, 0) + 1
            stage = None if not is_open else "on_hold" if wf.data.get("held") else expected
            out.execute(
                "INSERT INTO peer_workflows (id, key, workflow_id, gu, dong, year, target_date, status, stage, instance, "
                "version) VALUES (?,?,?,?,?,?,?,?,?,?,1)",
                (pid, key, workflow_id, gu, dong, year, target_date, status, stage, peer.dumps(wf)),
            )
    out.execute("COMMIT")
    out.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    out.close()
    src.close()
    tmp.rename(target)
    return {"instances": len(ids), **counts}


# -- the sweep ------------------------------------------------------------------------------------


class Milestones:
    """Milestone due dates per (workflow, target date), from the same workflow definitions."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self.cache: dict[tuple[str, str], tuple[tuple[str, str, dt.date], ...]] = {}
        self.warnings = {wf.id: wf.warnings for wf in catalog.latest_all()}

    def of(self, workflow_id: str, target: str) -> tuple[tuple[str, str, dt.date], ...]:
        found = self.cache.get((workflow_id, target))
        if found is None:
            wf = self.catalog.latest(workflow_id)
            day = dt.date.fromisoformat(target)
            found = self.cache[(workflow_id, target)] = tuple(
                (m.id, m.state, m.due.resolve(day, day.year)) for m in wf.milestones
            )
        return found


def sweep(peer: Peer, conn: sqlite3.Connection, milestones: Milestones, as_of: dt.date) -> tuple[int, int]:
    """Load every open instance, run what is waiting, and find the milestones due soon or late."""
    scanned = findings = 0
    for _id, workflow_id, target, text in conn.execute(
        "SELECT id, workflow_id, target_date, instance FROM peer_workflows WHERE status = 'open' ORDER BY key"
    ):
        wf = peer.loads(text, workflow_id)
        wf.refresh_waiting_tasks()
        wf.do_engine_steps()
        scanned += 1
        reached = wf.data["reached"]
        warn = milestones.warnings[workflow_id]
        for _mid, state, due in milestones.of(workflow_id, target):
            if state in reached:
                continue
            days = (as_of - due).days
            if days > warn.escalate_after_days or days > 0 or -days <= warn.due_soon_days:
                findings += 1
    return scanned, findings


def advance(peer: Peer, conn: sqlite3.Connection, key: str, trigger: str, at: str) -> None:
    """One advance: read, deserialize, complete the ready task, serialize, versioned UPDATE + INSERT."""
    row_id, workflow_id, text, version = conn.execute(
        "SELECT id, workflow_id, instance, version FROM peer_workflows WHERE key = ?", (key,)
    ).fetchone()
    wf = peer.loads(text, workflow_id)
    is_open = peer.fire(wf, trigger, at)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute(
            "UPDATE peer_workflows SET instance = ?, status = ?, stage = ?, version = ? WHERE id = ? AND version = ?",
            (peer.dumps(wf), "open" if is_open else "closed", peer.stage(wf), version + 1, row_id, version),
        ).rowcount != 1:
            raise RuntimeError(f"peer advance of {key} lost a race")
        conn.execute(
            "INSERT INTO peer_events (workflow_row_id, seq, \"trigger\", actor, at, data) VALUES (?,?,?,?,?,?)",
            (row_id, version + 1, trigger, "bench", at, "{}"),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def open_keys(conn: sqlite3.Connection, states: dict[str, str], limit: int) -> list[tuple[str, str]]:
    """(key, trigger) of open instances standing in one of ``states`` (state -> trigger), spread out."""
    marks = ",".join("?" * len(states))
    rows = conn.execute(
        f"SELECT key, stage FROM peer_workflows WHERE status = 'open' AND stage IN ({marks}) "
        "ORDER BY (id * 7919) % 100003, id LIMIT ?",
        [*states, limit],
    ).fetchall()
    return [(key, states[stage]) for key, stage in rows]
