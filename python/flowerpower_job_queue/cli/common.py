"""What every command of the Typer CLI shares: the options every command takes, the
exit codes, one line on stderr for every error, and the engine's parsers for values
people type (durations, times), so both command lines read them alike.

Example:
    >>> EXIT_BAD_INPUT
    2
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from .. import _native
from ..exceptions import BackendUnavailable, InvalidInput, JobQueueError

if TYPE_CHECKING:
    from ..manager import JobQueueManager

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_DONE",
    "EXIT_NOT_DONE",
    "EXIT_UNAVAILABLE",
    "Backend",
    "Group",
    "Json",
    "Project",
    "Url",
    "command_help",
    "duration",
    "errors",
    "examples",
    "fail",
    "manager",
    "number",
    "option",
    "read_json_arg",
    "say",
    "time",
    "usage",
]

EXIT_DONE, EXIT_NOT_DONE, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3

EXIT_CODES = (
    "Exit codes: 0 done; 1 the job failed, was not found or is not finished; 2 bad input; "
    "3 backend unavailable."
)


def examples(*commands: str) -> str:
    """An epilog of examples, one a line (Typer joins single line breaks).

    Example:
        >>> examples("flowerpower queue status")
        'Example:\\n\\nflowerpower queue status'
    """
    return "\n\n".join(["Example:" if len(commands) == 1 else "Examples:", *commands])


# click's UsageError, from whichever click this Typer uses (Typer 0.29 vendors its own).
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class Group(TyperGroup):
    """Bad usage of a command (a missing argument, an unknown option) gets one line on
    stderr and exit 2, as every other bad input does, also inside ``flowerpower``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return list(super().parse_args(ctx, args))
        except _UsageError as exc:
            _one_line(ctx, exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            _one_line(ctx, exc)


def _one_line(ctx: Any, exc: Exception) -> NoReturn:
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help is the answer
        raise exc
    where = getattr(exc, "ctx", None) or ctx
    path = where.command_path
    message = str(getattr(exc, "format_message", exc.__str__)()).replace("\n", " ")
    typer.echo(f"{path}: {message} (see '{path} --help')", err=True)
    raise typer.Exit(EXIT_BAD_INPUT) from None


# ---- help: the fpq commands' table, one text per command and option --------------------

HELP: dict[str, Any] = _native.cli_help()
"""The help of every fpq command (cli/help.c, through the engine): the Typer CLI shows
the same words, laid out by Typer."""


def command_help(command: str) -> dict[str, str]:
    """``help`` and ``epilog`` for ``app.command()``: the command's summary (and notes),
    and its examples with ``fpq`` spelled ``flowerpower queue``.

    Example:
        >>> command_help("cancel")["epilog"]
        'Example:\n\nflowerpower queue cancel 3f1c2a9e-...'
    """
    entry = HELP[command]
    text = entry["summary"] + (f"\n\n{entry['notes']}" if entry["notes"] else "")
    out = {"help": text}
    if entry["examples"]:
        out["epilog"] = examples(*(e.replace("fpq ", "flowerpower queue ", 1)
                                   for e in entry["examples"]))
    return out


def option(command: str, flag: str, *names: str, **settings: Any) -> Any:
    """``typer.Option`` for one of a command's options, with its metavar and help from
    the table (a flag the table lacks is an error at import: the two CLIs cannot drift).

    Example:
        >>> option("status", "--limit").help
        'show at most N jobs (default 20)'
    """
    entries = HELP[command]["options"] if command else HELP["common"]
    (entry,) = [o for o in entries if o["flag"] == flag]
    return typer.Option(flag, *names, *([entry["alias"]] if entry["alias"] else []),
                        metavar=entry["metavar"], help=entry["help"], **settings)


# ---- options every command takes ------------------------------------------------------

Project = Annotated[str, option("", "--project", show_default=False)]
Backend = Annotated[str | None, option("", "--backend")]
Url = Annotated[str | None, option("", "--url")]
Json = Annotated[bool, option("", "--json")]


# ---- errors and exit codes --------------------------------------------------------------


def say(ctx: typer.Context, message: str) -> None:
    """One line on stderr, after the command's name."""
    typer.echo(f"{ctx.command_path}: {message}", err=True)


def fail(ctx: typer.Context, code: int, message: str) -> NoReturn:
    """One line on stderr, then exit with code."""
    say(ctx, message)
    raise typer.Exit(code)


def usage(ctx: typer.Context, message: str) -> NoReturn:
    """Bad input: one line naming the value, exit 2."""
    fail(ctx, EXIT_BAD_INPUT, f"{message} (see '{ctx.command_path} --help')")


def exit_code(exc: JobQueueError) -> int:
    """The exit code of a queue error: 2 bad input, 3 backend unavailable, else 1."""
    if isinstance(exc, InvalidInput):
        return EXIT_BAD_INPUT
    if isinstance(exc, BackendUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_NOT_DONE


# Errors about a value given as a JSON option: the engine names the argument, the command
# line puts the option before it, as fpq does.
@contextlib.contextmanager
def errors(ctx: typer.Context) -> Iterator[None]:
    """Turns the queue's exceptions into one line on stderr and the exit code."""
    try:
        yield
    except JobQueueError as exc:
        message = str(exc).replace("\n", " ")
        if isinstance(exc, InvalidInput) and exc.field == "inputs":
            usage(ctx, f"--{message}")
        if isinstance(exc, InvalidInput) and exc.field == "run_config":
            message = f"--run-config: {message}"
        fail(ctx, exit_code(exc), message)
    except FileNotFoundError as exc:  # the fpq command is missing
        fail(ctx, EXIT_NOT_DONE, str(exc))


def manager(project: str, backend: str | None, url: str | None) -> JobQueueManager:
    """The project's manager (connections open on first use)."""
    from ..manager import JobQueueManager

    return JobQueueManager(project or ".", backend=backend, url=url)


def reader(project: str, backend: str | None, url: str | None) -> _native.Queue:
    """A queue handle for a read-only command (status, result, lists): the engine refuses
    to load a plugin or adapter that only the project's conf names (``--backend`` loads
    it), so reading a queue in a directory one does not trust runs none of its code."""
    jq = manager(project, backend, url)
    return _native.Queue(jq.project_dir, backend=jq.backend, url=jq.url, read_only=True)


# ---- values people type, read by the engine ----------------------------------------------


def duration(ctx: typer.Context, option: str, text: str | None) -> float | None:
    """Seconds of a duration option (``90s``, ``10m``, ``1h30m``), read by the engine as
    ``fpq`` reads it; None when not given. Bad text: one line and exit 2."""
    if text is None:
        return None
    try:
        return float(_native.parse_duration(text))
    except InvalidInput as exc:
        usage(ctx, f"{option} {exc}")


def time(ctx: typer.Context, option: str, text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 option, read by the engine; None when not given."""
    if text is None:
        return None
    try:
        return float(_native.parse_time(text))
    except InvalidInput as exc:
        usage(ctx, f"{option} {exc}")


def number(ctx: typer.Context, option: str, text: str | None, low: int, high: int,
           what: str = "a number") -> int | None:
    """A whole number option from low to high; None when not given."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        usage(ctx, f"{option} '{text}' is not {what} from {low} to {high}")
    return int(text)


def read_json_arg(ctx: typer.Context, option: str, value: str) -> str:
    """The JSON text of an option given as JSON or ``@FILE`` (the engine parses it)."""
    if not value.startswith("@"):
        return value
    path = value[1:]
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(64 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(ctx, EXIT_BAD_INPUT, f"{option} {value}: cannot read {path}: {reason}")
