"""The suite on every supported Python: ``nox`` (all), ``nox -s tests-3.13``, ``nox -s tests-3.12 -- -k cli``.

Interpreters are found on PATH, and in pyenv's folder (``~/.pyenv/versions/3.X.*``) when PATH has none.
Each session installs the project with its test extra into its own virtualenv and runs the README's
test command there (pytest -n 2); arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

PYTHONS = ["3.11", "3.12", "3.13"]
nox.options.sessions = [f"tests-{v}" for v in PYTHONS]
nox.options.download_python = "never"


def _pyenv_on_path() -> None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    extra = []
    for version in PYTHONS:
        # pyenv's own folders first: a pyenv *shim* named python3.X is on PATH even when that version is
        # not the active one, and then fails to run.
        found = sorted(root.glob(f"{version}.*/bin"), key=lambda p: [int(x) for x in p.parent.name.split(".")
                                                                      if x.isdigit()])
        if found:
            extra.append(str(found[-1]))
    if extra:
        os.environ["PATH"] = os.pathsep.join([*extra, os.environ.get("PATH", "")])


_pyenv_on_path()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-n", "2", *session.posargs)
