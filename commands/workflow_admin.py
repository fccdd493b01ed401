"""`dongflow workflow publish FILE` and `dongflow workflow migrate ID --to N`: workflow versions
stored in the database, and running projects moved to another version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from commands.common import App, WholeNumber, _actor_default, _gu_filter, _json, _state_filter, app_options, pass_app
from engine.errors import InvalidInput


def _admin(app: App) -> Any:
    from engine.workflow_migration import WorkflowAdmin
    from storage.workflow_store import SqlWorkflowWriter

    app.db.require_schema()
    return WorkflowAdmin(app.store, SqlWorkflowWriter(app.db), app.catalog, app.service.principal)


@click.command("publish")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who publishes it (default: DONGFLOW_ACTOR or your login).")
@app_options
@pass_app
def workflow_publish(app: App, file: str, actor: str | None) -> None:
    """Validate a workflow file and store its version in the database.

    The same id and version with the same content: nothing to do. With other content: refused
    (exit 6), nothing written; give the file a higher version.
    """
    from engine.loader import load_file
    from engine.workflow_versions import LOCAL, WorkflowSource

    wf = load_file(file)  # every problem with its file:line (exit 3)
    source = WorkflowSource.of(wf.id, wf.version, Path(file).read_bytes(), origin=LOCAL, file=file)
    stored, created = _admin(app).publish(wf, source, now=app.now(), actor=actor or _actor_default() or "unknown")
    if created:
        click.echo(f"published {wf.ref} from {file} (content {stored.content_hash[:12]}, by {stored.published_by})")
    else:
        click.echo(f"{wf.ref} is already published with this content ({app.local(stored.published_at)} by "
                   f"{stored.published_by}); nothing to do")


def _where(app: App, workflow_id: str, text: str | None) -> Any:
    """``--where gu=..,year=..,state=..`` as a project query (values checked like the listing filters)."""
    from engine.ports import ProjectQuery
    from engine.values import parse_year

    query = ProjectQuery(workflow_id=workflow_id)
    if not text:
        return query
    fields: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise InvalidInput(f"{part.strip()!r} is not NAME=VALUE (names: gu, year, state)", field="--where")
        if name in fields:
            raise InvalidInput(f"{name} is given twice", field="--where")
        if name not in ("gu", "year", "state"):
            raise InvalidInput(f"unknown name {name!r} (names: gu, year, state)", field="--where")
        try:
            if name == "gu":
                fields["gu"] = _gu_filter(app, value)
            elif name == "year":
                fields["year"] = parse_year(value)
            else:
                fields["state"] = _state_filter(app, value, workflow_id)
        except InvalidInput as exc:
            renamed = InvalidInput(exc.problem, field=f"--where {name}")
            renamed.exit_code = exc.exit_code
            raise renamed from None
    from dataclasses import replace

    return replace(query, **fields)


@click.command("migrate")
@click.argument("workflow_id")
@click.option("--to", "to_version", type=WholeNumber(minimum=1), required=True, help="The version to move to.")
@click.option("--map", "mapping", multiple=True, metavar="OLD=NEW",
              help="A state of the old version that is called NEW in the new one (repeatable).")
@click.option("--where", "where", metavar="gu=..,year=..,state=..", help="Only these projects of the workflow.")
@click.option("--dry-run", is_flag=True, help="List what would move and what is refused, and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the moves and refusals as JSON.")
@click.option("--actor", envvar="DONGFLOW_ACTOR", help="Who migrates (default: DONGFLOW_ACTOR or your login).")
@click.option("--note", help="Why (kept in each project's history).")
@app_options
@pass_app
def workflow_migrate(app: App, workflow_id: str, to_version: int, mapping: tuple[str, ...], where: str | None,
                     dry_run: bool, as_json: bool, actor: str | None, note: str | None) -> None:
    """Move running projects of a workflow to version N of it.

    Each project is checked: its state exists in N (or is mapped with --map), its facts fit N's fact
    types. Refused projects are listed with the reason and stay as they are; the others move in one
    transaction, one `migrated` event each (all or none of them: a project changed meanwhile stops
    the run). Version N must be stored, or be a file given with --workflows (then it is published).
    """
    from engine.workflow_migration import parse_map

    admin = _admin(app)
    plan = admin.migrate(workflow_id, to_version, mapping=parse_map(mapping), query=_where(app, workflow_id, where),
                         dry_run=dry_run, now=app.now(), actor=actor or _actor_default() or "unknown", note=note)
    if as_json:
        _json(plan.as_dict(dry_run))
        return
    ref = f"{plan.workflow_id} version {plan.to_version}"
    verb = "would move" if dry_run else "moved"
    if plan.publishes is not None:
        click.echo(f"{'would publish' if dry_run else 'published'} {ref} (content {plan.publishes.content_hash[:12]})")
    for m in plan.moves:
        change = m.before.state if m.before.state == m.after.state else f"{m.before.state} -> {m.after.state}"
        click.echo(f"{verb}: {m.before.key}  v{m.before.workflow_version} -> v{plan.to_version}  {change}")
    for r in plan.refusals:
        click.echo(f"refused: {r.key}  v{r.from_version} {r.state}: {r.reason}")
    summary = f"{verb} {len(plan.moves)} project{'s' if len(plan.moves) != 1 else ''} to {ref}"
    summary += f", {len(plan.refusals)} refused"
    if plan.unchanged:
        summary += f", {len(plan.unchanged)} already on it"
    click.echo(summary + ("; nothing was changed" if dry_run else ""))
