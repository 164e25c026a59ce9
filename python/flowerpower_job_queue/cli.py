"""``flowerpower queue ...`` and ``flowerpower-queue ...``: the queue's Typer command line.

The twin of the engine's ``fpq`` command (docs/cli.md): the same commands, flags, exit
codes and ``--json`` output, with rich tables for people, ``--help`` with an example for
every command, and Typer's shell completion. It works through the Python API
(:class:`~flowerpower_job_queue.JobQueueManager` and its adapters), except
``worker start``, which becomes the engine's own worker process (``fpq worker start``,
through ``exec``) for the native backends.

``app`` is registered in the entry-point group ``flowerpower.cli_extensions`` under the
name ``queue``; the start-up hook this package installs adds it to FlowerPower's own
``flowerpower`` command. ``main`` is the ``flowerpower-queue`` script.

Exit codes: 0 done; 1 the job failed, was not found or is not finished; 2 bad input (one
line on stderr names the value); 3 the backend is unreachable.

Importing this module costs Typer and the engine's extension, not FlowerPower: commands
import what they need when they run.

Example:
    $ id=$(flowerpower queue enqueue hello --inputs '{"name": "Ada"}')
    $ flowerpower queue worker start --burst
    $ flowerpower queue result id=$id
    {
      "greeting": "Hello, Ada!"
    }
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from . import _cli_util as util
from .adapters import TERMINAL
from .exceptions import BackendUnavailable, InvalidInput, JobQueueError

if TYPE_CHECKING:
    from .adapters import QueueAdapter
    from .manager import JobQueueManager

__all__ = ["app", "main"]

EXIT_DONE, EXIT_NOT_DONE, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3

_EXIT_CODES = (
    "Exit codes: 0 done; 1 the job failed, was not found or is not finished; 2 bad input; "
    "3 backend unreachable."
)

def _examples(*commands: str) -> str:
    """An epilog of examples, one a line (Typer joins single line breaks)."""
    return "\n\n".join(["Example:" if len(commands) == 1 else "Examples:", *commands])


# click's UsageError, from whichever click this Typer uses (Typer 0.29 vendors its own).
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _Group(TyperGroup):
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


app = typer.Typer(
    name="queue",
    cls=_Group,
    help="Queue, run and inspect FlowerPower pipeline jobs (flowerpower-job-queue).\n\n"
    + _EXIT_CODES,
    epilog=_examples("id=$(flowerpower queue enqueue hello --inputs '{\"name\": \"Ada\"}')",
                     "flowerpower queue worker start --burst",
                     "flowerpower queue result id=$id"),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
worker_app = typer.Typer(
    name="worker",
    cls=_Group,
    help="Run workers, stop them, list them.",
    epilog=_examples("flowerpower queue worker start --count 2",
                     "flowerpower queue worker list",
                     "flowerpower queue worker stop --all --wait"),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(worker_app, name="worker")
# The scheduling commands (schedule, schedules, scheduler) are in _cli_schedule.py,
# imported at the end of this module.


def main() -> None:
    """The ``flowerpower-queue`` script.

    Example:
        $ flowerpower-queue status --json
    """
    app(prog_name="flowerpower-queue")


# ---- shell completion --------------------------------------------------------------------


def _complete_pipeline(ctx: typer.Context, incomplete: str) -> list[str]:
    """Pipeline names of the project in --project (default: the current directory)."""
    root = Path(ctx.params.get("project") or ".") / "pipelines"
    try:
        names = sorted(
            ".".join(p.relative_to(root).with_suffix("").parts)
            for p in root.rglob("*.py")
            if not p.name.startswith("_")
        )
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def _complete_priority(incomplete: str) -> list[str]:
    return [p for p in ("high", "medium", "low") if p.startswith(incomplete)]


def _complete_isolation(incomplete: str) -> list[str]:
    return [p for p in ("fork", "none") if p.startswith(incomplete)]


# ---- options every command takes ------------------------------------------------------

Project = Annotated[str, typer.Option(
    "--project", metavar="DIR", help="The FlowerPower project (default: the current directory).",
    show_default=False)]
Backend = Annotated[str | None, typer.Option(
    "--backend", metavar="NAME",
    help="sqlite (default), rq, or a plugin's or Python adapter's name; overrides "
    "FPQ_BACKEND and conf/job_queue.yml.")]
Url = Annotated[str | None, typer.Option(
    "--url", metavar="URL", help="sqlite:///abs/queue.db, redis://host:port/db, unix:///sock")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]


def _say(ctx: typer.Context, message: str) -> None:
    typer.echo(f"{ctx.command_path}: {message}", err=True)


def _fail(ctx: typer.Context, code: int, message: str) -> NoReturn:
    _say(ctx, message)
    raise typer.Exit(code)


def _usage(ctx: typer.Context, message: str) -> NoReturn:
    """Bad input: one line naming the value, exit 2."""
    _fail(ctx, EXIT_BAD_INPUT, f"{message} (see '{ctx.command_path} --help')")


def _exit_code(exc: JobQueueError) -> int:
    if isinstance(exc, InvalidInput):
        return EXIT_BAD_INPUT
    if isinstance(exc, BackendUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_NOT_DONE


@contextlib.contextmanager
def _errors(ctx: typer.Context) -> Iterator[None]:
    """Turns the queue's exceptions into one line on stderr and the exit code."""
    try:
        yield
    except JobQueueError as exc:
        _fail(ctx, _exit_code(exc), str(exc).replace("\n", " "))
    except FileNotFoundError as exc:  # the fpq command is missing
        _fail(ctx, EXIT_NOT_DONE, str(exc))


def _manager(project: str, backend: str | None, url: str | None) -> JobQueueManager:
    from .manager import JobQueueManager

    return JobQueueManager(project or ".", backend=backend, url=url)


def _id_arg(value: str | None) -> str | None:
    return value[3:] if value is not None and value.startswith("id=") else None


def _check_target(ctx: typer.Context, target: str | None) -> tuple[str | None, str | None]:
    """(job id, pipeline) of a ``PIPELINE | id=ID`` argument, both checked."""
    from . import _native

    job_id = _id_arg(target)
    with _errors(ctx):
        if job_id is not None:
            _native.validate_id(job_id)
            return job_id, None
        if target is not None:
            _native.validate_pipeline(target)
    return None, target


# ---- enqueue ---------------------------------------------------------------------------


@app.command(epilog=_examples(
    "flowerpower queue enqueue hello --inputs '{\"name\": \"Ada\"}' --priority high",
    "flowerpower queue enqueue etl --run-config @run.json --in 10m"))
def enqueue(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(
        metavar="PIPELINE", help="The pipeline to run, as project.run() names it.",
        autocompletion=_complete_pipeline, show_default=False)],
    priority: Annotated[str | None, typer.Option(
        metavar="P", help="high, medium (default) or low.",
        autocompletion=_complete_priority)] = None,
    inputs: Annotated[str | None, typer.Option(
        metavar="JSON", help="Pipeline inputs, e.g. '{\"x\": 1}' (merged over --run-config's)."
    )] = None,
    run_config: Annotated[str | None, typer.Option(
        "--run-config", metavar="JSON",
        help="FlowerPower RunConfig fields as JSON, or @FILE to read them.")] = None,
    at: Annotated[str | None, typer.Option(
        metavar="TIME", help="Run at an ISO 8601 time, e.g. 2026-12-01T02:00:00Z.")] = None,
    in_: Annotated[str | None, typer.Option(
        "--in", metavar="DURATION", help="Run after a delay, e.g. 90s, 10m, 2h.")] = None,
    max_retries: Annotated[str | None, typer.Option(
        "--max-retries", metavar="N",
        help="Retries after a failure (default: the pipeline's run.retry).")] = None,
    retry_delay: Annotated[str | None, typer.Option(
        "--retry-delay", metavar="SECS",
        help="First retry delay; doubles each retry (default: run.retry).")] = None,
    timeout: Annotated[str | None, typer.Option(
        metavar="DURATION", help="Stop the run after this long, e.g. 5m (default: none).")
    ] = None,
    job_id: Annotated[str | None, typer.Option(
        "--job-id", metavar="ID", help="Your own id: 1-128 of A-Z a-z 0-9 _ -")] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Queue one run of PIPELINE and print its job id on stdout."""
    from . import _native

    with _errors(ctx):
        _native.validate_pipeline(pipeline)
    options: dict[str, Any] = {}
    if run_config is not None:
        value, problem = util.read_json_arg("--run-config", run_config)
        if problem:
            _fail(ctx, EXIT_BAD_INPUT, problem)
        if not isinstance(value, dict):
            _fail(ctx, EXIT_BAD_INPUT, "--run-config: run config must be a JSON object of "
                  "RunConfig fields")
        options = value
        options.pop("backend", None)  # as fpq: flags, environment and conf choose it
    if inputs is not None:
        value, problem = util.read_json_arg("--inputs", inputs)
        if problem:
            _usage(ctx, problem)
        if not isinstance(value, dict):
            _usage(ctx, "--inputs must be a JSON object like '{\"x\": 1}'")
        current = options.get("inputs")
        options["inputs"] = {**current, **value} if isinstance(current, dict) else value
    if priority is not None and priority not in ("high", "medium", "low"):
        _usage(ctx, f"--priority '{priority}' is not known: expected high, medium or low")
    retry: dict[str, Any] = {}
    if max_retries is not None:
        if not (max_retries.isascii() and max_retries.isdigit()) or int(max_retries) > 1000:
            _usage(ctx, f"--max-retries '{max_retries}' is not a whole number from 0 to 1000")
        retry["max_retries"] = int(max_retries)
    for option, text in (("--retry-delay", retry_delay), ("--timeout", timeout),
                         ("--in", in_)):
        if text is not None and util.parse_duration(text) is None:
            _usage(ctx, f"{option} '{text}' is not a duration: expected e.g. 30s, 10m, 2h")
    if retry_delay is not None:
        retry["retry_delay"] = util.parse_duration(retry_delay)
    if retry:
        for key in retry:
            options.pop(key, None)  # the flags win over legacy flat keys
        block = options.get("retry")
        options["retry"] = {**block, **retry} if isinstance(block, dict) else retry
    if at is not None and in_ is not None:
        _usage(ctx, "give --at or --in, not both")
    when = None
    if at is not None:
        epoch = util.parse_iso8601(at)
        if epoch is None:
            _usage(ctx, f"--at '{at}' is not an ISO 8601 time: expected e.g. "
                   "2026-12-01T02:00:00Z")
        when = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    seconds = util.parse_duration(timeout) if timeout is not None else None
    with _errors(ctx):
        if job_id is not None:
            _native.validate_id(job_id)
        jq = _manager(project, backend, url)
        new_id = jq.enqueue(pipeline, options, priority, job_id=job_id, at=when,
                            delay=util.parse_duration(in_) if in_ is not None else None,
                            timeout=seconds or None)  # 0: no limit, as fpq
        if json_:
            util.print_json(util.job_json(jq.adapter().get_status(new_id)))
        else:
            typer.echo(new_id)
        jq.close()


# ---- status and result -----------------------------------------------------------------


@app.command(epilog=_examples("flowerpower queue status",
                             "flowerpower queue status hello --limit 5",
                             "flowerpower queue status id=3f1c2a9e-... --json"))
def status(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        metavar="PIPELINE | id=ID", help="A pipeline's jobs, or one job.",
        autocompletion=_complete_pipeline, show_default=False)] = None,
    limit: Annotated[str, typer.Option(metavar="N", help="Show at most N jobs.")] = "20",
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Show this project's jobs, newest first: all of them, one pipeline's, or one job."""
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 100000:
        _usage(ctx, f"--limit '{limit}' is not a number from 1 to 100000")
    job_id, pipeline = _check_target(ctx, target)
    with _errors(ctx):
        adapter = _manager(project, backend, url).adapter()
        if job_id is not None:
            job = adapter.get_status(job_id)
            if json_:
                util.print_json(util.job_json(job))
            else:
                util.print_job_detail(job)
            return
        jobs = adapter.find(pipeline, int(limit))
    if json_:
        util.print_json([util.job_json(j) for j in jobs])
    elif not jobs:
        typer.echo(f"no jobs for pipeline {pipeline}" if pipeline else "no jobs yet")
    else:
        util.print_jobs(jobs)


def _latest(ctx: typer.Context, adapter: QueueAdapter, pipeline: str | None) -> dict[str, Any]:
    jobs = adapter.find(pipeline, 1)
    if not jobs:
        _fail(ctx, EXIT_NOT_DONE, f"no jobs for pipeline {pipeline}" if pipeline else "no jobs")
    return jobs[0]


@app.command(epilog=_examples("flowerpower queue result id=3f1c2a9e-... --wait --timeout 60",
                             "flowerpower queue result hello --json"))
def result(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        metavar="PIPELINE | id=ID", help="The job, or the pipeline's newest job.",
        autocompletion=_complete_pipeline, show_default=False)] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Wait until the job finishes or fails.")] = False,
    timeout: Annotated[str | None, typer.Option(
        metavar="SECS", help="With --wait: give up after this long (default: wait forever).")
    ] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Print the result of a job (for a PIPELINE: its newest job) as JSON.

    Exits 0 when the job finished, 1 when it failed, is not finished or is not found.
    """
    seconds = None
    if timeout is not None:
        seconds = util.parse_duration(timeout)
        if seconds is None:
            _usage(ctx, f"--timeout '{timeout}' is not a duration: expected e.g. 60 or 5m")
    job_id, pipeline = _check_target(ctx, target)
    with _errors(ctx):
        adapter = _manager(project, backend, url).adapter()
        job = adapter.get_status(job_id) if job_id else _latest(ctx, adapter, pipeline)
        if wait and job["status"] not in TERMINAL:
            job = adapter.get_result(job["id"], -1.0 if seconds is None else seconds)
    if json_:
        util.print_json(util.job_json(job))
        raise typer.Exit(EXIT_DONE if job["status"] == "finished" else EXIT_NOT_DONE)
    if job["status"] == "finished":
        value = util.job_json(job)["result"]
        util.print_json(value, indent=2)
        return
    if job["status"] in ("failed", "stopped"):
        error = util.job_json(job)["error"]
        error = error if isinstance(error, dict) else {"message": error}
        _say(ctx, f"job {job['id']} {job['status']}: {error.get('type') or 'Error'}: "
             f"{error.get('message') or '(no message)'}")
        trace = str(error.get("traceback") or "")
        if trace:
            sys.stderr.write(trace if trace.endswith("\n") else trace + "\n")
        raise typer.Exit(EXIT_NOT_DONE)
    _fail(ctx, EXIT_NOT_DONE, f"job {job['id']} is {job['status']}: no result yet (use --wait "
          "to wait for it)")


# ---- cancel and requeue ---------------------------------------------------------------


def _change(ctx: typer.Context, job: str, action: str, project: str, backend: str | None,
            url: str | None, json_: bool) -> None:
    from . import _native

    job_id = _id_arg(job) or job
    with _errors(ctx):
        _native.validate_id(job_id)
        adapter = _manager(project, backend, url).adapter()
        getattr(adapter, action)(job_id)
    if json_:
        util.print_json({"id": job_id, "ok": True})
    else:
        typer.echo(job_id)


JobId = Annotated[str, typer.Argument(metavar="ID", help="The job's id (or id=ID).",
                                      show_default=False)]


@app.command(epilog=_examples("flowerpower queue cancel 3f1c2a9e-..."))
def cancel(ctx: typer.Context, job: JobId, project: Project = ".", backend: Backend = None,
           url: Url = None, json_: Json = False) -> None:
    """Cancel a job that is queued or scheduled; it will not run.

    Running jobs are stopped with 'worker stop' instead.
    """
    _change(ctx, job, "cancel", project, backend, url, json_)


@app.command(epilog=_examples("flowerpower queue requeue 3f1c2a9e-..."))
def requeue(ctx: typer.Context, job: JobId, project: Project = ".", backend: Backend = None,
            url: Url = None, json_: Json = False) -> None:
    """Queue a failed, stopped or canceled job again, with its attempts reset."""
    _change(ctx, job, "requeue", project, backend, url, json_)


# ---- metrics ----------------------------------------------------------------------------


@app.command(epilog=_examples("flowerpower queue metrics", "flowerpower queue metrics --json",
                              "flowerpower queue metrics --prometheus"))
def metrics(ctx: typer.Context, project: Project = ".", backend: Backend = None,
            url: Url = None, json_: Json = False,
            prometheus: Annotated[bool, typer.Option(
                "--prometheus", help="Print Prometheus text (what a worker's /metrics serves)."
            )] = False) -> None:
    """Jobs per queue and status, oldest queued age, workers, throughput, run times."""
    if prometheus:
        if json_:
            _usage(ctx, "give --json or --prometheus, not both")
        args = ["metrics", "--prometheus", "--project", project]
        args += ["--backend", backend] if backend else []
        _exec_fpq(ctx, args + (["--url", url] if url else []))
    with _errors(ctx):
        document = _manager(project, backend, url).adapter().metrics()
    if json_:
        util.print_json(document)
    else:
        util.print_metrics(document)


# ---- workers -----------------------------------------------------------------------------


@worker_app.command("start", epilog=_examples(
    "flowerpower queue worker start --count 4",
    "flowerpower queue worker start --burst --isolation none"))
def worker_start(
    ctx: typer.Context,
    count: Annotated[str | None, typer.Option(
        metavar="N", help="Slots running jobs at once (default 1).")] = None,
    queues: Annotated[str | None, typer.Option(
        metavar="Q1,Q2,...", help="Queues in strict priority order (default high,default,low)."
    )] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once nothing is left to do.")
                     ] = False,
    isolation: Annotated[str | None, typer.Option(
        metavar="MODE", autocompletion=_complete_isolation,
        help="fork (default): a fresh child process per job; none: run in the executor itself."
    )] = None,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="Worker name (default HOSTNAME.PID).")] = None,
    timeout: Annotated[str | None, typer.Option(
        metavar="DURATION", help="Default time limit for jobs without one (default: none).")
    ] = None,
    lease: Annotated[str | None, typer.Option(
        metavar="SECONDS", help="A dead worker's jobs are retried after this long (default 15)."
    )] = None,
    kill_grace: Annotated[str | None, typer.Option(
        "--kill-grace", metavar="SECONDS",
        help="Between SIGTERM and SIGKILL for a job past its timeout (default 5).")] = None,
    stop_grace: Annotated[str | None, typer.Option(
        "--stop-grace", metavar="SECONDS",
        help="On stop, how long running jobs may finish (default: no limit).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Log only problems.")] = False,
    with_scheduler: Annotated[bool, typer.Option(
        "--with-scheduler", help="Also fire due schedules (one scheduler leads).")] = False,
    metrics_port: Annotated[str | None, typer.Option(
        "--metrics-port", metavar="PORT",
        help="Serve Prometheus metrics at http://HOST:PORT/metrics.")] = None,
    metrics_host: Annotated[str | None, typer.Option(
        "--metrics-host", metavar="ADDR", help="Address for --metrics-port (127.0.0.1).")
    ] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Run jobs in the foreground until stopped: one process with COUNT slots.

    Each slot has a warm Python executor. SIGTERM/SIGINT: finish running jobs, then exit 0.

    For the native backends this becomes the engine's worker, 'fpq worker start' (exec).

    FPQ_PYTHON chooses the executors' Python (default: the one running this command).
    """
    from .adapters import NativeAdapter

    if count is not None and not (count.isascii() and count.isdigit()
                                  and 1 <= int(count) <= 256):
        _usage(ctx, f"--count '{count}' is not a number from 1 to 256")
    if isolation is not None and isolation not in ("fork", "none"):
        _usage(ctx, f"--isolation '{isolation}' is not known: expected fork or none")
    for option, text in (("--timeout", timeout), ("--lease", lease),
                         ("--kill-grace", kill_grace), ("--stop-grace", stop_grace)):
        if text is not None and util.parse_duration(text) is None:
            _usage(ctx, f"{option} '{text}' is not a duration: expected e.g. 30, 30s, 5m")
    with _errors(ctx):
        jq = _manager(project, backend, url)
        adapter = jq.adapter()
    if isinstance(adapter, NativeAdapter):
        flags = [("--count", count), ("--queues", queues), ("--isolation", isolation),
                 ("--name", name), ("--timeout", timeout), ("--lease", lease),
                 ("--kill-grace", kill_grace), ("--stop-grace", stop_grace),
                 ("--metrics-port", metrics_port), ("--metrics-host", metrics_host),
                 ("--project", project), ("--backend", backend), ("--url", url)]
        argv = ["worker", "start"]
        for flag, value in flags:
            if value is not None:
                argv += [flag, value]
        argv += [flag for flag, on in (("--burst", burst), ("--quiet", quiet), ("--json", json_),
                                       ("--with-scheduler", with_scheduler)) if on]
        _exec_fpq(ctx, argv)
    _run_python_workers(ctx, jq, count, queues, burst, isolation, name, quiet)


def _exec_fpq(ctx: typer.Context, args: list[str]) -> NoReturn:
    """Becomes ``fpq ARGS``: the worker is the engine's C process, not a Python child."""
    from .manager import find_fpq

    with _errors(ctx):
        fpq = find_fpq()
    env = dict(os.environ)
    env.setdefault("FPQ_PYTHON", sys.executable)  # executors import this package
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(fpq, [fpq, *args], env)
    except OSError as exc:
        _fail(ctx, EXIT_NOT_DONE, f"cannot run {fpq}: {exc.strerror}")


def _run_python_workers(ctx: typer.Context, jq: JobQueueManager, count: str | None,
                        queues: str | None, burst: bool, isolation: str | None,
                        name: str | None, quiet: bool) -> None:
    """A Python adapter's workers, in this process, until they end or Ctrl-C."""
    with _errors(ctx):
        handles = jq.start_workers(slots=int(count or 1), burst=burst,
                                   isolation=isolation or "fork", queues=queues, name=name,
                                   quiet=quiet)
    try:
        codes = [h.wait() for h in handles]
    except KeyboardInterrupt:
        with _errors(ctx):
            jq.stop_workers()
        codes = [h.wait() for h in handles]
    raise typer.Exit(max(codes, default=0))


@worker_app.command("stop", epilog=_examples("flowerpower queue worker stop --all --wait"))
def worker_stop(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="The worker to stop (see 'worker list').")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every live worker.")] = False,
    now: Annotated[bool, typer.Option("--now", help="Do not let running jobs finish.")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Wait until they have exited (up to 120 s).")] = False,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """Ask workers to stop, on any machine that shares the backend.

    They take no new jobs and exit when their running jobs finish.

    --now: running jobs stop at once and go back to the queue.
    """
    if (name is not None) == all_:
        _usage(ctx, "give --name NAME or --all")
    with _errors(ctx):
        names = _manager(project, backend, url).stop_workers(name=name, wait=wait, now=now,
                                                             timeout=120.0)
    if json_:
        util.print_json({"stopped": len(names)})
    else:
        for worker in names:
            typer.echo(f"asked {worker} to stop")


@worker_app.command("list", epilog=_examples("flowerpower queue worker list --json"))
def worker_list(ctx: typer.Context, project: Project = ".", backend: Backend = None,
                url: Url = None, json_: Json = False) -> None:
    """Show live workers."""
    with _errors(ctx):
        workers = _manager(project, backend, url).adapter().metrics().get("workers") or []
    if json_:
        util.print_json(workers)
    else:
        util.print_workers(workers)


from . import _cli_schedule  # noqa: E402,F401 - adds schedule, schedules and scheduler
