"""The workflows dongflow knows: the shipped ones plus any folders the user adds.

Every version of every workflow stays available, because a project runs on the version it was
created with; new projects take the highest version. One machine is built per workflow version, on
first use, and reused for every project and query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.definition import Workflow
from engine.errors import InvalidInput, WorkflowDefinitionError, WorkflowDefinitionErrors, WorkflowNotFound
from engine.workflow_versions import LOCAL, SHIPPED, WorkflowSource

if TYPE_CHECKING:
    from engine.machine import WorkflowMachine

WORKFLOW_SUFFIXES = (".yaml", ".yml")


class Catalog:
    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self._by_ref: dict[tuple[str, int], Workflow] = {}
        self._machines: dict[tuple[str, int], WorkflowMachine] = {}
        self._sources: dict[tuple[str, int], WorkflowSource] = {}
        """The content (text, hash) of each version and whether it is published (engine/workflow_versions)."""
        self._latest: dict[str, Workflow] = {}
        self._ids_memo: tuple[str, ...] | None = None
        """Memos of :meth:`latest` and :meth:`ids` (an import asks once per row); emptied whenever a
        version is added or replaced."""
        self.on_miss: Callable[[str, int], Workflow | None] | None = None
        """Asked for a version not (yet) in the catalog, e.g. one published by another process meanwhile."""
        self.refresh_hook: Callable[[], None] | None = None
        """Adds the versions stored since the catalog was loaded (see :meth:`refresh`)."""
        for wf in workflows:
            self.add(wf)

    @classmethod
    def from_dirs(cls, dirs: Sequence[str | Path], load: Callable[[Path], Workflow] | None = None) -> Catalog:
        """Load every ``*.yaml``/``*.yml`` file of each folder; later folders add to earlier ones.

        ``load`` reads one file (default: parse it; the CLI passes a cached reader).
        """
        if load is None:
            from engine.loader import load_file as load

        from workflows import SHIPPED_DIR

        catalog = cls()
        problems: list[InvalidInput] = []
        for folder in dirs:
            path = Path(folder)
            if not path.is_dir():
                raise InvalidInput("not a folder of workflow files", file=str(path), field="--workflows")
            origin = SHIPPED if path.resolve() == SHIPPED_DIR.resolve() else LOCAL
            for file in sorted(p for p in path.iterdir() if p.suffix in WORKFLOW_SUFFIXES):
                try:
                    wf = load(file)
                    catalog.add(wf)
                    catalog.set_source(WorkflowSource.of(wf.id, wf.version, file.read_bytes(), origin=origin,
                                                         file=str(file)))
                except WorkflowDefinitionErrors as exc:
                    problems.extend(exc.problems)
                except InvalidInput as exc:
                    problems.append(exc)
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise WorkflowDefinitionErrors(f"{len(problems)} problems in workflow files", problems)
        return catalog

    def add(self, workflow: Workflow) -> None:
        ref = (workflow.id, workflow.version)
        existing = self._by_ref.get(ref)
        if existing is not None:
            raise WorkflowDefinitionError(
                f"workflow {workflow.id} version {workflow.version} is also defined in {existing.source}; "
                "give one of them a higher version",
                file=workflow.source,
            )
        self._by_ref[ref] = workflow
        self._changed()

    def set_source(self, source: WorkflowSource, workflow: Workflow | None = None) -> None:
        """Record a version's content; with ``workflow``, that definition replaces the one held (the
        stored content wins over a shipped file of the same id and version)."""
        if workflow is not None:
            self._by_ref[source.ref] = workflow
            self._machines.pop(source.ref, None)
            self._changed()
        self._sources[source.ref] = source

    def refresh(self) -> None:
        """Take in the versions published since the catalog was loaded (a long-running process: the
        web server's listings, each run of the nightly alert check). Nothing for a catalog of files."""
        if self.refresh_hook is not None:
            self.refresh_hook()

    def source(self, workflow: Workflow | tuple[str, int]) -> WorkflowSource | None:
        """The content of this version (None for a workflow built in code)."""
        ref = workflow if isinstance(workflow, tuple) else (workflow.id, workflow.version)
        return self._sources.get(ref)

    def ids(self) -> list[str]:
        return list(self._ids())

    def _ids(self) -> tuple[str, ...]:
        if self._ids_memo is None:
            self._ids_memo = tuple(sorted({wf_id for wf_id, _ in self._by_ref}))
        return self._ids_memo

    def _changed(self) -> None:
        self._latest.clear()
        self._ids_memo = None

    def versions(self, workflow_id: str) -> list[int]:
        return sorted(v for wf_id, v in self._by_ref if wf_id == workflow_id)

    def latest(self, workflow_id: str) -> Workflow:
        found = self._latest.get(workflow_id)
        if found is None:
            versions = self.versions(workflow_id)
            if not versions:
                raise WorkflowNotFound(workflow_id, known=self.ids())
            found = self._latest[workflow_id] = self._by_ref[(workflow_id, versions[-1])]
        return found

    def get(self, workflow_id: str, version: int | None = None) -> Workflow:
        if version is None:
            return self.latest(workflow_id)
        try:
            return self._by_ref[(workflow_id, version)]
        except KeyError:
            found = self.on_miss(workflow_id, version) if self.on_miss is not None else None
            if found is not None:
                return found
            raise WorkflowNotFound(workflow_id, version, known=self.ids()) from None

    def latest_all(self) -> list[Workflow]:
        return [self.latest(wf_id) for wf_id in self.ids()]

    def all(self) -> list[Workflow]:
        return [self._by_ref[ref] for ref in sorted(self._by_ref)]

    def default_id(self) -> str:
        """The workflow new projects use when none is named: the only one, or space-improvement."""
        ids = self._ids()  # asked once per row of an import without a workflow column
        if "space-improvement" in ids:
            return "space-improvement"
        if len(ids) == 1:
            return ids[0]
        raise InvalidInput(
            f"several workflows are installed ({', '.join(ids)}); choose one with --workflow",
            field="workflow",
        )

    def machine(self, workflow: Workflow) -> WorkflowMachine:
        ref = (workflow.id, workflow.version)
        machine = self._machines.get(ref)
        if machine is None:
            from engine.machine import WorkflowMachine  # transitions is only imported when needed

            machine = self._machines[ref] = WorkflowMachine(self.get(*ref))
        return machine
