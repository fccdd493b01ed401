"""`dongflow workflow ...`: list, show, validate and draw workflow files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from commands.common import (
    App,
    WholeNumber,
    _h,
    _json,
    app_options,
    pass_app,
)
from engine.errors import InvalidInput, InvalidInputs
from render.output import Listing, listing_options

if TYPE_CHECKING:
    pass


# ------------------------------------------------------------------------------------------------
# Workflows


@click.group()
def workflow() -> None:
    """Workflow definitions: list, show, validate, draw, publish, migrate."""


@workflow.command("list")
@app_options
@listing_options
@pass_app
def workflow_list(app: App, listing: Listing) -> None:
    """List the workflows available (stored in the database, shipped, and your own), with the
    versions stored in the database."""
    from render.table import table

    catalog = app.catalog
    rows = []
    for wf in catalog.latest_all():
        stored = [v for v in catalog.versions(wf.id) if (src := catalog.source((wf.id, v))) and src.published]
        source = catalog.source(wf)
        rows.append({
            "id": wf.id,
            "version": wf.version,
            "versions": catalog.versions(wf.id),
            "stored_versions": stored,
            "published": bool(source and source.published),
            "title": wf.title.get(app.lang),
            "states": len(wf.states),
            "transitions": len(wf.transitions),
            "milestones": len(wf.milestones),
            "source": wf.source,
        })
    if listing.machine:
        listing.write(rows)
        return
    headers = [_h(app, "ID", "id"), _h(app, "버전", "version"), _h(app, "저장된 버전", "stored"),
               _h(app, "이름", "title"), _h(app, "단계", "states"), _h(app, "전이", "transitions"),
               _h(app, "마일스톤", "milestones"), _h(app, "파일", "file")]
    click.echo(table(headers, [[r["id"], r["version"], ", ".join(map(str, r["stored_versions"])) or "-", r["title"],
                                r["states"], r["transitions"], r["milestones"], r["source"]] for r in rows]))


@workflow.command("show")
@click.argument("workflow_id")
@click.option("--version", "version", type=WholeNumber(minimum=1), help="A specific version (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (states, transitions with guards, milestones).")
@app_options
@pass_app
def workflow_show(app: App, workflow_id: str, version: int | None, as_json: bool) -> None:
    """Show a workflow: states, transitions and guards, milestones."""
    from engine.workflow_versions import workflow_json

    wf = app.catalog.get(workflow_id, version)
    source = app.catalog.source(wf)
    if as_json:
        _json(workflow_json(wf, source))
        return
    from render.table import table

    lang = app.lang
    click.echo(f"{wf.title.get(lang)} ({wf.ref})  [{wf.source}]")
    if source is not None and source.published:
        click.echo(f"{_h(app, '게시', 'published')}: {app.local(source.published_at)} {source.published_by} "
                   f"({_h(app, '내용', 'content')} {source.content_hash[:12]})")
    else:
        click.echo(_h(app, "게시되지 않음 (dongflow workflow publish FILE)", "not published (dongflow workflow publish FILE)"))
    if wf.description:
        click.echo(wf.description)
    click.echo(f"{_h(app, '준공 목표', 'target')}: {wf.target.state} {_h(app, '매년', 'on')} "
               f"{wf.target.due[0]:02d}-{wf.target.due[1]:02d}")
    click.echo()
    click.echo(table(
        ["id", _h(app, "이름", "label"), _h(app, "시작", "initial"), _h(app, "종료", "final"),
         _h(app, "예상 일수", "expected days")],
        [[s.id, s.label.get(lang), "*" if s.initial else "", "*" if s.final else "",
          s.expected_days if s.expected_days is not None else ""] for s in wf.states],
    ))
    click.echo()
    click.echo(table(
        [_h(app, "트리거", "trigger"), _h(app, "출발", "from"), _h(app, "도착", "to"),
         _h(app, "조건", "guards"), _h(app, "이름", "label")],
        [[t.trigger, ", ".join(t.sources), t.dest, "; ".join(g.describe() for g in t.guards)
          + (" (note required)" if t.note_required else ""), t.label.get(lang)] for t in wf.transitions],
    ))
    if wf.milestones:
        click.echo()
        click.echo(table(
            ["id", _h(app, "도달 단계", "state"), _h(app, "기한", "due"), _h(app, "이름", "label"),
             _h(app, "근거", "basis")],
            [[m.id, m.state, m.due.text(), m.label.get(lang), m.basis] for m in wf.milestones],
        ))


@workflow.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@app_options
@pass_app
def workflow_validate(app: App, files: Sequence[str]) -> None:
    """Check workflow files; print every problem with its file and line."""
    from engine.errors import WorkflowDefinitionErrors
    from engine.loader import load_file

    problems: list[InvalidInput] = []
    for file in files:
        try:
            wf = load_file(file)
        except WorkflowDefinitionErrors as exc:
            problems.extend(exc.problems)
        except InvalidInput as exc:
            problems.append(exc)
        else:
            click.echo(f"ok: {file} ({wf.ref}, {len(wf.states)} states, {len(wf.transitions)} transitions)")
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidInputs(f"{len(problems)} problems in workflow files", problems)


@workflow.command("graph")
@click.argument("workflow_id", required=False)
@click.option("--project", "project_key", metavar="KEY", help="Draw this project's workflow, marking its state.")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True,
              help="Mermaid (stateDiagram-v2, renders on GitHub) or Graphviz DOT text.")
@app_options
@pass_app
def workflow_graph(app: App, workflow_id: str | None, project_key: str | None, fmt: str) -> None:
    """Print a diagram (Mermaid or Graphviz DOT) of a workflow."""
    from engine.diagram import render

    current = None
    if project_key is not None:
        project = app.service.project(project_key)
        wf = app.catalog.get(project.workflow_id, project.workflow_version)
        if workflow_id is not None and workflow_id != wf.id:
            raise InvalidInput(f"project {project.key} runs on {wf.id}, not {workflow_id}", field="--project")
        current = project.state
    elif workflow_id is None:
        raise InvalidInput("name a workflow ID or give --project KEY")
    else:
        wf = app.catalog.get(workflow_id)
    click.echo(render(wf, fmt, current, app.lang))


from commands.workflow_admin import workflow_migrate, workflow_publish  # noqa: E402

workflow.add_command(workflow_publish)
workflow.add_command(workflow_migrate)
