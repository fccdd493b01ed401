"""Corrections (undo, project edit, project retire) and bulk moves (advance --where / --keys-from)."""

from __future__ import annotations

from typing import Any

import click

from commands.common import App, _actor_default, _h, _json, app_options, pass_app
from engine.errors import InvalidInput

ACTOR_HELP = "Who makes the correction (default: DONGFLOW_ACTOR or your login)."
NOTE_HELP = "Why (required): shown in the history beside who and when."


@click.command()
@click.argument("key")
@click.option("--note", required=True, help=NOTE_HELP)
@click.option("--actor", envvar="DONGFLOW_ACTOR", help=ACTOR_HELP)
@app_options
@pass_app
def undo(app: App, key: str, note: str, actor: str | None) -> None:
    """Revert the last transition of a project with an `undone` event (nothing is deleted).

    Refused when anything was recorded after that transition (a fact, a person, a budget line) or the
    transition itself set facts: those depend on it.
    """
    p, event = app.service.undo(key, actor=actor or _actor_default() or "unknown", now=app.now(), note=note)
    wf = app.catalog.get(p.workflow_id, p.workflow_version)
    click.echo(f"{p.key}: undid #{event.data['undoes']} ({event.data['trigger']}): "
               f"{wf.state_label(event.from_state or '', app.lang)} -> {wf.state_label(p.state, app.lang)}")


@click.command("edit")
@click.argument("key")
@click.option("--gu", help="The right district (구).")
@click.option("--dong", help="The right dong (동).")
@click.option("--year", help="The right cohort year.")
@click.option("--target", help="The right completion target date YYYY-MM-DD.")
@click.option("--key", "new_key", metavar="NEW", help="A new key (must be free).")
@click.option("--allow-duplicate", is_flag=True,
              help="Allow a second project for the same workflow, gu, dong and year.")
@click.option("--note", required=True, help=NOTE_HELP)
@click.option("--actor", envvar="DONGFLOW_ACTOR", help=ACTOR_HELP)
@app_options
@pass_app
def project_edit(app: App, key: str, gu: str | None, dong: str | None, year: str | None, target: str | None,
                 new_key: str | None, allow_duplicate: bool, note: str, actor: str | None) -> None:
    """Correct a project's key, district, dong, year or target (an `edited` event with old and new values)."""
    p, event = app.service.edit_project(
        key, actor=actor or _actor_default() or "unknown", now=app.now(), note=note, gu=gu, dong=dong, year=year,
        target=target, new_key=new_key, allow_duplicate=allow_duplicate,
    )
    changes = ", ".join(f"{name} {event.data['old'][name]} -> {value}" for name, value in event.data["new"].items())
    click.echo(f"{p.key}: edited ({changes})")


@click.command("retire")
@click.argument("key")
@click.option("--note", required=True, help=NOTE_HELP)
@click.option("--actor", envvar="DONGFLOW_ACTOR", help=ACTOR_HELP)
@app_options
@pass_app
def project_retire(app: App, key: str, note: str, actor: str | None) -> None:
    """Retire a project entered by mistake: gone from listings, overdue, alerts and reports; kept in
    its history and in dumps (`status KEY` says it is retired)."""
    p, _event = app.service.retire_project(key, actor=actor or _actor_default() or "unknown", now=app.now(),
                                           note=note)
    click.echo(f"{p.key}: retired")


# ------------------------------------------------------------------------------------------------
# Bulk moves (called by `dongflow advance` when it is given --where or --keys-from)

WHERE_FIELDS = ("gu", "year", "state", "workflow")


def parse_where(app: App, text: str) -> Any:
    """``gu=성동구,year=2017,state=survey`` as a ProjectQuery (names checked like listing filters)."""
    from commands.common import _gu_filter, _state_filter, _workflow_filter
    from engine.ports import ProjectQuery
    from engine.values import parse_year

    values: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise InvalidInput(f"{part.strip()!r} is not NAME=VALUE (e.g. gu=성동구,year=2017,state=survey)",
                               field="--where")
        if name not in WHERE_FIELDS:
            raise InvalidInput(f"unknown field {name!r} (fields: {', '.join(WHERE_FIELDS)})", field="--where")
        if name in values:
            raise InvalidInput(f"{name} is given twice", field="--where")
        values[name] = value
    if not values:
        raise InvalidInput("name at least one of gu, year, state, workflow", field="--where")
    try:
        workflow_id = _workflow_filter(app, values.get("workflow"))
        return ProjectQuery(
            gu=_gu_filter(app, values.get("gu")),
            year=parse_year(values["year"]) if "year" in values else None,
            state=_state_filter(app, values.get("state"), workflow_id),
            workflow_id=workflow_id,
        )
    except InvalidInput as exc:  # named as the user wrote it: --where gu=..., not --gu
        field = (exc.field or "").lstrip("-")
        raise InvalidInput(exc.problem, field=f"--where {field}" if field in WHERE_FIELDS else "--where") from None


def bulk_advance(app: App, trigger: str, *, where: str | None, keys_from: str | None, actor: str,
                 note: str | None, at: Any, dry_run: bool, partial: bool, as_json: bool) -> None:
    from engine.bulk import read_keys

    query = parse_where(app, where) if where is not None else None
    keys = None
    if keys_from is not None:
        try:
            with open(keys_from, encoding="utf-8-sig") as stream:
                keys = read_keys(stream.read(), keys_from)
        except OSError as exc:
            raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=keys_from) from None
        except UnicodeDecodeError:
            raise InvalidInput("not a UTF-8 text file", file=keys_from) from None
    result = app.service.bulk_advance(trigger, actor=actor, now=app.now(), query=query, keys=keys, note=note,
                                      at=at, dry_run=dry_run, partial=partial)
    if as_json:
        from render.views import bulk_json

        _json(bulk_json(result))
        return
    verb = _h(app, "이동 예정", "would move") if dry_run else _h(app, "이동", "moved")
    for m in result.moves:
        click.echo(f"{verb} {m.key}: {m.from_state} -> {m.to_state}")
    for r in result.refusals:
        click.echo(f"{_h(app, '거부', 'refused')} {r.key}: {r.reason}")
    tail = "" if dry_run else f" (batch {result.batch})"
    click.echo(f"{len(result.moves)} {verb}, {len(result.refusals)} {_h(app, '거부', 'refused')}{tail}")
