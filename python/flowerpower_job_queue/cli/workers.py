"""The worker commands: worker start, worker stop, worker list.

``worker start`` runs the engine's worker, never a Python one: for the backends written
in C it becomes ``fpq worker start`` (``exec``: the same process, with no Python left in
it), and for a backend written in Python it runs the same worker in this process, where
the adapter can be called (:mod:`flowerpower_job_queue.workers`).

Example:
    $ flowerpower queue worker start --count 2 --burst
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, NoReturn

import typer

from .. import _native
from ..workers import find_fpq, is_python_backend
from . import render
from .common import (
    EXIT_NOT_DONE,
    Backend,
    Json,
    Project,
    Url,
    duration,
    errors,
    fail,
    manager,
    number,
    option,
    reader,
    usage,
)
from .completion import complete_isolation

__all__ = ["exec_fpq", "worker_list", "worker_start", "worker_stop"]


def exec_fpq(ctx: typer.Context, args: list[str]) -> NoReturn:
    """Becomes ``fpq ARGS``: a long-running command is the engine's C process, not a
    Python one."""
    with errors(ctx):
        fpq = find_fpq()
    env = dict(os.environ)
    env.setdefault("FPQ_PYTHON", sys.executable)  # executors import this package
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(fpq, [fpq, *args], env)
    except OSError as exc:
        fail(ctx, EXIT_NOT_DONE, f"cannot run {fpq}: {exc.strerror}")


def common_args(project: str, backend: str | None, url: str | None) -> list[str]:
    """The options every fpq command takes, as given."""
    args = ["--project", project]
    args += ["--backend", backend] if backend else []
    return args + (["--url", url] if url else [])


def python_backend(ctx: typer.Context, project: str, backend: str | None,
                   url: str | None) -> bool:
    """True when the project's backend is written in Python (so only an interpreter can
    run its worker or scheduler)."""
    with errors(ctx):
        return is_python_backend(os.path.abspath(project or "."), backend, url) is not None


def worker_start(
    ctx: typer.Context,
    count: Annotated[str | None, option("worker start", "--count")] = None,
    queues: Annotated[str | None, option("worker start", "--queues")] = None,
    burst: Annotated[bool, option("worker start", "--burst")] = False,
    isolation: Annotated[str | None, option("worker start", "--isolation",
                                            autocompletion=complete_isolation)] = None,
    name: Annotated[str | None, option("worker start", "--name")] = None,
    timeout: Annotated[str | None, option("worker start", "--timeout")] = None,
    lease: Annotated[str | None, option("worker start", "--lease")] = None,
    kill_grace: Annotated[str | None, option("worker start", "--kill-grace")] = None,
    stop_grace: Annotated[str | None, option("worker start", "--stop-grace")] = None,
    quiet: Annotated[bool, option("worker start", "--quiet")] = False,
    with_scheduler: Annotated[bool, option("worker start", "--with-scheduler")] = False,
    metrics_port: Annotated[str | None, option("worker start", "--metrics-port")] = None,
    metrics_host: Annotated[str | None, option("worker start", "--metrics-host")] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    """The engine's worker: ``fpq worker start`` (exec), or for a backend written in
    Python the same worker inside this process."""
    slots = number(ctx, "--count", count, 1, 256)
    if isolation is not None and isolation not in ("fork", "none"):
        usage(ctx, f"--isolation '{isolation}' is not known: expected fork or none")
    seconds = {option: duration(ctx, option, text) for option, text in (
        ("--timeout", timeout), ("--lease", lease), ("--kill-grace", kill_grace),
        ("--stop-grace", stop_grace))}
    port = number(ctx, "--metrics-port", metrics_port, 1, 65535)
    if not python_backend(ctx, project, backend, url):
        flags = [("--count", count), ("--queues", queues), ("--isolation", isolation),
                 ("--name", name), ("--timeout", timeout), ("--lease", lease),
                 ("--kill-grace", kill_grace), ("--stop-grace", stop_grace),
                 ("--metrics-port", metrics_port), ("--metrics-host", metrics_host)]
        argv = ["worker", "start", *common_args(project, backend, url)]
        for flag, value in flags:
            if value is not None:
                argv += [flag, value]
        argv += [flag for flag, on in (("--burst", burst), ("--quiet", quiet), ("--json", json_),
                                       ("--with-scheduler", with_scheduler)) if on]
        exec_fpq(ctx, argv)
    code = _native.run_worker(
        os.path.abspath(project or "."), backend, url, count=slots or 1, queues=queues,
        burst=burst, isolation=isolation, name=name, lease=seconds["--lease"] or 0.0,
        timeout=seconds["--timeout"] or 0.0, kill_grace=seconds["--kill-grace"] or 0.0,
        stop_grace=seconds["--stop-grace"] or 0.0,
        python=os.environ.get("FPQ_PYTHON") or sys.executable, quiet=quiet,
        metrics_port=port or 0, metrics_host=metrics_host, with_scheduler=with_scheduler)
    raise typer.Exit(code)


def worker_stop(
    ctx: typer.Context,
    name: Annotated[str | None, option("worker stop", "--name")] = None,
    all_: Annotated[bool, option("worker stop", "--all")] = False,
    now: Annotated[bool, option("worker stop", "--now")] = False,
    wait: Annotated[bool, option("worker stop", "--wait")] = False,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    if name is not None and all_:
        usage(ctx, "give --name NAME or --all, not both")
    with errors(ctx):
        names = manager(project, backend, url).stop_workers(name=name, wait=wait, now=now,
                                                            timeout=120.0)
    if json_:
        render.print_json({"stopped": len(names)})
    else:
        for worker in names:
            typer.echo(f"asked {worker} to stop")


def worker_list(ctx: typer.Context, project: Project = ".", backend: Backend = None,
                url: Url = None, json_: Json = False) -> None:
    with errors(ctx):
        workers = json.loads(reader(project, backend, url).metrics_json()).get("workers") or []
    if json_:
        render.print_json(workers)
    else:
        render.print_workers(workers)
