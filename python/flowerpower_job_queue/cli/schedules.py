"""The scheduling commands: schedule, schedules list|remove|pause|resume|next, scheduler.

``scheduler`` runs the engine's scheduler: ``fpq scheduler`` (``exec``) for backends
written in C, the same scheduler in this process for one written in Python.

Example:
    $ flowerpower queue schedule etl --schedule '0 2 * * *' --timezone Europe/Berlin
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .. import _native
from ..exceptions import InvalidInput
from . import render
from .common import (
    Backend,
    Json,
    Project,
    Url,
    duration,
    errors,
    manager,
    number,
    option,
    read_json_arg,
    reader,
    usage,
)
from .workers import common_args, exec_fpq, python_backend

__all__ = ["schedule", "scheduler", "schedules_list", "schedules_next", "simple_command"]

ScheduleId = Annotated[str, typer.Argument(metavar="ID", help="The schedule's id.")]



def _one_line(text: str) -> str:
    """Typed text as a message quotes it: control characters (a newline, an escape) as
    \\xNN, so the message stays one line; multibyte characters as typed."""
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)

def schedule(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(metavar="PIPELINE", help="The pipeline to run.")],
    schedule: Annotated[str | None, option("schedule", "--schedule")] = None,
    timezone: Annotated[str | None, option("schedule", "--timezone")] = None,
    id_: Annotated[str | None, option("schedule", "--id")] = None,
    priority: Annotated[str | None, option("schedule", "--priority")] = None,
    inputs: Annotated[str | None, option("schedule", "--inputs")] = None,
    run_config: Annotated[str | None, option("schedule", "--run-config")] = None,
    misfire_grace: Annotated[str | None, option("schedule", "--misfire-grace")] = None,
    no_coalesce: Annotated[bool, option("schedule", "--no-coalesce")] = False,
    paused: Annotated[bool, option("schedule", "--paused")] = False,
    max_retries: Annotated[str | None, option("schedule", "--max-retries")] = None,
    timeout: Annotated[str | None, option("schedule", "--timeout")] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    with errors(ctx):
        _native.validate_pipeline(pipeline)
    config = read_json_arg(ctx, "--run-config", run_config) if run_config is not None else None
    if schedule is None and config is None:
        usage(ctx, "when should it run? give --schedule, e.g. '0 2 * * *'")
    if schedule is not None:
        try:
            _native.validate_trigger(schedule, timezone)
        except InvalidInput as exc:
            zone = f" --timezone {_one_line(timezone)}" if timezone else ""
            usage(ctx, f"--schedule '{_one_line(schedule)}'{zone}: {exc}")
    if priority is not None and priority not in _native.PRIORITIES:
        usage(ctx, f"--priority '{priority}' is not known: expected high, medium or low")
    grace = duration(ctx, "--misfire-grace", misfire_grace)
    limit = duration(ctx, "--timeout", timeout)
    retries = number(ctx, "--max-retries", max_retries, 0, 1000, "a whole number")
    with errors(ctx):
        handle = manager(project, backend, url).queue()
        record = handle.schedule_put(
            pipeline, schedule, run_config_json=config,
            inputs_json=None if inputs is None else read_json_arg(ctx, "--inputs", inputs),
            timezone=timezone,
            priority=priority, schedule_id=id_, misfire_grace=grace or 0.0,
            coalesce=not no_coalesce, paused=paused,
            max_retries=-1 if retries is None else retries, timeout=limit or 0.0)
    if json_:
        render.print_json(render.schedule_json(record))
    else:
        typer.echo(record["id"])


def schedules_list(ctx: typer.Context, project: Project = ".", backend: Backend = None,
                   url: Url = None, json_: Json = False) -> None:
    with errors(ctx):
        records = reader(project, backend, url).schedule_list()
    if json_:
        render.print_json([render.schedule_json(r) for r in records])
    else:
        render.print_schedules(records)


def simple_command(verb: str) -> object:
    """The command that pauses, resumes or removes one schedule (``verb``)."""

    def command(ctx: typer.Context, schedule_id: ScheduleId, project: Project = ".",
                backend: Backend = None, url: Url = None, json_: Json = False) -> None:
        with errors(ctx):
            getattr(manager(project, backend, url).queue(), f"schedule_{verb}")(schedule_id)
        if json_:
            render.print_json({"id": schedule_id, "ok": True})
        else:
            typer.echo(schedule_id)

    return command


def schedules_next(ctx: typer.Context, schedule_id: ScheduleId,
                   n: Annotated[str, option("schedules next", "-n")] = "5",
                   project: Project = ".", backend: Backend = None, url: Url = None,
                   json_: Json = False) -> None:
    count = number(ctx, "-n", n, 1, 1000) or 5
    with errors(ctx):
        handle = reader(project, backend, url)
        fires = handle.schedule_next(schedule_id, count)
        zone = str(handle.schedule_get(schedule_id)["timezone"])
    if json_:
        render.print_json([_native.format_time(t) for t in fires])
    else:
        for t in fires:
            typer.echo(_native.format_time(t, zone))


def scheduler(
    ctx: typer.Context,
    name: Annotated[str | None, option("scheduler", "--name")] = None,
    tick: Annotated[str | None, option("scheduler", "--tick")] = None,
    lease_ttl: Annotated[str | None, option("scheduler", "--lease-ttl")] = None,
    once: Annotated[bool, option("scheduler", "--once")] = False,
    quiet: Annotated[bool, option("scheduler", "--quiet")] = False,
    json_: Annotated[bool, option("scheduler", "--json")] = False,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
) -> None:
    """The engine's scheduler: ``fpq scheduler`` (exec), or for a backend written in
    Python the same scheduler inside this process."""
    every = duration(ctx, "--tick", tick)
    ttl = duration(ctx, "--lease-ttl", lease_ttl)
    if not python_backend(ctx, project, backend, url):
        args = ["scheduler", *common_args(project, backend, url)]
        for flag, value in (("--name", name), ("--tick", tick), ("--lease-ttl", lease_ttl)):
            if value is not None:
                args += [flag, value]
        args += [flag for flag, on in (("--once", once), ("--quiet", quiet), ("--json", json_))
                 if on]
        exec_fpq(ctx, args)
    code = _native.run_scheduler(os.path.abspath(project or "."), backend, url, name=name,
                                 tick=every or 0.0, lease_ttl=ttl or 0.0, quiet=quiet,
                                 json=json_, once=once)
    raise typer.Exit(code)
