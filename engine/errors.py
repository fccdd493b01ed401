"""The one exception hierarchy of dongflow.

Every error a coordinator can cause is a :class:`DongflowError`. Each class carries the exit code the
CLI returns for it, and keeps the values it was raised with, so tests and callers can inspect them
instead of parsing messages. The CLI maps them to one line on stderr in a single place.

0     success
1     unexpected internal error (a bug: please report it)
2     command-line usage error (unknown option, missing argument) -- from click
3     invalid input: a bad workflow file, CSV row, value, date or fact
4     not found: project, workflow or trigger name that does not exist
5     transition refused: not allowed from the current state, or a guard failed
6     conflict: changed by someone else meanwhile, or the key already exists
7     database problem: unreachable, locked, corrupt, or at an older schema
8     alert delivery: some alerts could not be delivered (they will be retried)
9     access refused: not signed in (bad, expired or revoked token or password), or the role does
      not allow it
====  =========================================================================
=======
Exit codes: :data:`EXIT_CODES` below is the one table; the README's table is checked against it
(tests/test_exit_codes.py), and that test reaches every code with a real command. The rule behind it:
2 is only for what click's parser finds (unknown option, missing argument, a value outside a fixed
choice); everything dongflow checks itself is 3 or above, named by the kind of problem, whichever
command meets it. A file whose bad rows all have the same kind exits with that kind's code (an import
whose only problem is a key already in the database exits 6, like `project add`); rows of different
kinds exit 3.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error (a bug; `DONGFLOW_DEBUG=1` shows the traceback)",
    2: "command-line usage error found by the parser: unknown option, missing argument, a value not among the choices",
    3: "invalid input: a bad value, date, time zone, file, CSV row, workflow file or fact (file, line and field "
       "named), a file or folder that is not there, or options that do not go together",
    4: "not found: no such project, workflow, trigger, alert or record (e.g. a person to remove)",
    5: "transition refused: not allowed from the current state, or a guard does not hold; a correction the record "
       "does not allow (an undo that a later entry depends on, a change to a retired project); a bulk move some "
       "projects refuse (nothing moved)",
    6: "conflict: changed by someone else meanwhile (reload and retry), or the key already exists; an alert run "
       "that lost its lease to another run; acknowledging an alert that is not open",
    7: "database problem: unreachable, locked longer than the busy timeout, damaged, or at an older schema "
       "(`dongflow db upgrade`)",
    8: "some alerts could not be delivered; they stay queued and are retried",
    9: "access refused: not signed in (unknown account, wrong password, bad/expired/revoked token), or the role "
       "does not allow it (the HTTP API's 401 and 403)",
    130: "interrupted (Ctrl-C); nothing was half-written",
}
"""Every exit code of ``dongflow`` and what it means (the README shows this table)."""


class DongflowError(Exception):
    """Base of every error dongflow raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(DongflowError, ValueError):
    """Input the user gave (a value, a file, a row) that dongflow cannot accept."""

    exit_code = 3
    cause: DongflowError | None = None
    """For a located row problem (:func:`located`): the error the row met."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.problem = message
        super().__init__(_locate(message, file, line, field))


def _locate(message: str, file: str | None, line: int | None, field: str | None) -> str:
    where = ""
    if file is not None:
        where = file + (f":{line}" if line is not None else "")
    elif line is not None:
        where = f"line {line}"
    if field:
        where = f"{where}: {field}" if where else field
    return f"{where}: {message}" if where else message


def located(exc: DongflowError, *, file: str | None, line: int | None, field: str | None = None) -> InvalidInput:
    """``exc`` as one located problem of a file (a CSV row), keeping the exit code of its kind.

    An unknown workflow in a row stays "not found" (4), a key already in the database stays a
    conflict (6): a file exits as its problems would from the one-item commands.
    """
    problem = InvalidInput(
        getattr(exc, "problem", exc.message), file=file, line=line, field=field or getattr(exc, "field", None)
    )
    problem.exit_code = exc.exit_code
    problem.cause = exc
    return problem


class WorkflowDefinitionError(InvalidInput):
    """A workflow file that is not a valid workflow (one problem per instance)."""


class InvalidInputs(InvalidInput):
    """Several problems found in one input (e.g. every bad row of a CSV file).

    ``problems`` keeps each one; the message names how many there were, so nothing is half-reported.
    """

    def __init__(self, summary: str, problems: Sequence[InvalidInput], *, file: str | None = None):
        self.problems = list(problems)
        super().__init__(summary, file=file)
        kinds = {problem.exit_code for problem in self.problems}
        self.exit_code = kinds.pop() if len(kinds) == 1 else InvalidInput.exit_code


class WorkflowDefinitionErrors(InvalidInputs, WorkflowDefinitionError):
    """Every problem found in one or more workflow files."""


class NotFound(DongflowError, LookupError):
    exit_code = 4


class ProjectNotFound(NotFound):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no project with key {key!r}")


class ProjectRenamed(ProjectNotFound):
    """No project has ``key`` now, but one had it before ``project edit --key``: it is ``new_key`` now.

    Reads (``status``, ``history``, GET in the API) follow it with a notice; a change under the old
    key is refused with this error (exit 4, 404) naming the new key, so nobody changes a project by a
    name it no longer has. Raised only to a caller who may read the project (never a district's leak).
    """

    def __init__(self, key: str, new_key: str) -> None:
        self.key = key
        self.new_key = new_key
        NotFound.__init__(self, f"no project with key {key!r}: it was renamed to {new_key!r} (use the new key)")


class WorkflowNotFound(NotFound):
    def __init__(self, workflow_id: str, version: int | None = None, known: Sequence[str] = ()) -> None:
        self.workflow_id = workflow_id
        self.version = version
        what = f"{workflow_id} version {version}" if version is not None else workflow_id
        hint = f" (known: {', '.join(known)})" if known else ""
        if version is not None:
            hint += "; if its file is in a folder of your own, name it with --workflows or DONGFLOW_WORKFLOWS"
        super().__init__(f"no workflow {what}{hint}")


class TransitionRefused(DongflowError):
    """The trigger cannot fire now: not valid from this state, or a guard does not hold."""

    exit_code = 5

    def __init__(
        self,
        key: str,
        trigger: str,
        state: str,
        reason: str,
        allowed: Sequence[str] = (),
    ) -> None:
        self.key = key
        self.trigger = trigger
        self.state = state
        self.reason = reason
        self.allowed = list(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"{key}: cannot {trigger} from {state}: {reason}; allowed from {state}: {allowed_text}"
        )


class ChangeRefused(DongflowError):
    """A correction (or any change) the project's record does not allow: an undo that a later entry
    depends on, nothing to undo, a change to a retired project, or a bulk move some projects refuse."""

    exit_code = 5

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class ConflictError(DongflowError):
    exit_code = 6


class ChangedMeanwhile(ConflictError):
    """Optimistic locking lost: another coordinator changed the project after we read it."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"{key} was changed by someone else while you were working on it; "
            "reload it (dongflow status KEY) and try again"
        )


class AlreadyExists(ConflictError):
    def __init__(self, what: str, *, field: str | None = None) -> None:
        self.what = what
        self.field = field
        super().__init__(f"{what} already exists")


class LeaseLost(ConflictError):
    """An alert run's lease was taken over (it stalled past its expiry): it stops before its next send."""

    def __init__(self, job: str, epoch: int) -> None:
        self.job = job
        self.epoch = epoch
        super().__init__(
            f"lost the {job} lease (epoch {epoch}): another run took over; stopping without sending more"
        )


class DatabaseError(DongflowError):
    exit_code = 7


class SchemaOutdated(DatabaseError):
    def __init__(self, current: str | None, expected: str) -> None:
        self.current = current
        self.expected = expected
        if current is None:
            msg = "the database has no dongflow schema yet; run: dongflow init"
        else:
            msg = (
                f"the database schema is at revision {current}, this dongflow needs {expected}; "
                "run: dongflow db upgrade"
            )
        super().__init__(msg)


class DeliveryFailed(DongflowError):
    """Some alerts could not be delivered; they stay queued and are retried."""

    exit_code = 8


class UnknownTrigger(NotFound):
    def __init__(self, key: str, trigger: str, state: str, allowed: Sequence[str] = ()) -> None:
        self.key = key
        self.trigger = trigger
        self.state = state
        self.allowed = list(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "none"
        super().__init__(
            f"{key}: its workflow has no trigger {trigger!r}; allowed from {state}: {allowed_text}"
        )


class AccessDenied(DongflowError):
    """The caller may not do this: not authenticated, or their role does not allow it."""

    exit_code = 9


class NotAuthenticated(AccessDenied):
    """No valid credentials (missing, wrong, expired, revoked, or a disabled account).

    One message for every cause, so a caller cannot tell an unknown account from a wrong password.
    """

    def __init__(self, message: str = "sign-in required: unknown account, wrong password, or an invalid token") -> None:
        super().__init__(message)


class Forbidden(AccessDenied):
    """Authenticated, but the role (or the districts) do not allow this action."""

    def __init__(self, who: str, action: str) -> None:
        self.who = who
        self.action = action
        super().__init__(f"{who} may not {action}")
