"""Documentation that cannot drift: every command has help text and is shown in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out.extend(_commands(command, path + " "))
        else:
            out.append((path, command))
    return out


COMMANDS = _commands(cli)


def test_there_are_commands() -> None:
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help(path: str, command: click.Command) -> None:
    assert command.help and len(command.help.strip()) > 20, f"dongflow {path} needs a help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"dongflow {path} {param.opts[0]} needs a help text"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_every_command_is_in_the_readme(path: str) -> None:
    assert f"dongflow {path}" in README, f"the README does not show `dongflow {path}`"


def test_every_exit_code_is_documented() -> None:
    from engine import errors

    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DongflowError)
    }
    for code in codes | {0, 2}:
        assert f"| {code} |" in README, f"exit code {code} is not in the README's table"
