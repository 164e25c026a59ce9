"""The commands about jobs: enqueue, status, result, cancel, requeue, metrics.

Each reads its options with Typer, hands the values to the engine as text where the
engine reads them (run configs, inputs, durations, times), calls the queue, and prints:
JSON in the engine's forms with ``--json``, rich tables otherwise.

Example:
    $ flowerpower queue enqueue hello --inputs '{"name": "Ada"}' --priority high
"""

from __future__ import annotations

import json
import sys
import time as clock
from typing import Annotated, Any

import typer

from .. import _native
from ..manager import callback_refs
from ..exceptions import JobQueueError
from ..records import TERMINAL
from . import render
from .common import (
    EXIT_BAD_INPUT,
    EXIT_DONE,
    EXIT_NOT_DONE,
    Backend,
    Json,
    Project,
    Url,
    duration,
    errors,
    exit_code,
    fail,
    manager,
    number,
    option,
    read_json_arg,
    reader,
    say,
    time,
    usage,
)
from .completion import complete_pipeline, complete_priority

__all__ = ["cancel", "enqueue", "metrics", "requeue", "result", "status"]


def _id_arg(value: str | None) -> str | None:
    return value[3:] if value is not None and value.startswith("id=") else None


def _target(ctx: typer.Context, target: str | None) -> tuple[str | None, str | None]:
    """(job id, pipeline) of a ``PIPELINE | id=ID`` argument, both checked."""
    job_id = _id_arg(target)
    with errors(ctx):
        if job_id is not None:
            _native.validate_id(job_id)
            return job_id, None
        if target is not None:
            _native.validate_pipeline(target)
    return None, target


def enqueue(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Argument(
        metavar="PIPELINE", help="The pipeline to run, as project.run() names it.",
        autocompletion=complete_pipeline, show_default=False)] = None,
    priority: Annotated[str | None, option("enqueue", "--priority",
                                           autocompletion=complete_priority)] = None,
    inputs: Annotated[str | None, option("enqueue", "--inputs")] = None,
    run_config: Annotated[str | None, option("enqueue", "--run-config")] = None,
    at: Annotated[str | None, option("enqueue", "--at")] = None,
    in_: Annotated[str | None, option("enqueue", "--in")] = None,
    max_retries: Annotated[str | None, option("enqueue", "--max-retries")] = None,
    retry_delay: Annotated[str | None, option("enqueue", "--retry-delay")] = None,
    timeout: Annotated[str | None, option("enqueue", "--timeout")] = None,
    job_id: Annotated[str | None, option("enqueue", "--job-id")] = None,
    result_ttl: Annotated[str | None, option("enqueue", "--result-ttl")] = None,
    failure_ttl: Annotated[str | None, option("enqueue", "--failure-ttl")] = None,
    after: Annotated[list[str] | None, option("enqueue", "--after")] = None,
    on_success: Annotated[str | None, option("enqueue", "--on-success")] = None,
    on_failure: Annotated[str | None, option("enqueue", "--on-failure")] = None,
    on_stopped: Annotated[str | None, option("enqueue", "--on-stopped")] = None,
    from_file: Annotated[str | None, option("enqueue", "--from-file")] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    if from_file is not None:
        per_job = (pipeline, priority, inputs, run_config, at, in_, max_retries, retry_delay,
                   timeout, job_id, result_ttl, failure_ttl, after, on_success, on_failure,
                   on_stopped)
        if any(value is not None for value in per_job):
            usage(ctx, "--from-file takes no PIPELINE or job options: put them in the file's "
                       "lines (keys pipeline, inputs, run_config, priority, ...)")
        _enqueue_from_file(ctx, from_file, project, backend, url, json_)
        return
    if pipeline is None:
        usage(ctx, "Missing argument 'PIPELINE': which pipeline? give its name")
    with errors(ctx):
        _native.validate_pipeline(pipeline)
    config = read_json_arg(ctx, "--run-config", run_config) if run_config is not None else None
    if priority is not None and priority not in _native.PRIORITIES:
        usage(ctx, f"--priority '{priority}' is not known: expected high, medium or low")
    retries = number(ctx, "--max-retries", max_retries, 0, 1000, "a whole number")
    delay = duration(ctx, "--retry-delay", retry_delay)
    limit = duration(ctx, "--timeout", timeout)
    wait = duration(ctx, "--in", in_)
    if at is not None and in_ is not None:
        usage(ctx, "give --at or --in, not both")
    when = time(ctx, "--at", at)
    with errors(ctx):
        if job_id is not None:
            _native.validate_id(job_id)
        jq = manager(project, backend, url)
        hooks = callback_refs(jq.project_dir, on_success=on_success, on_failure=on_failure,
                              on_stopped=on_stopped)
        handle = jq.queue()
        new_id = handle.enqueue(
            pipeline, run_config_json=config,
            inputs_json=None if inputs is None else read_json_arg(ctx, "--inputs", inputs),
            priority=priority,
            job_id=job_id, run_at=when or (clock.time() + wait if wait else 0.0),
            timeout=limit or 0.0,
            max_retries=-1 if retries is None else retries,
            retry_delay=-1.0 if delay is None else delay,
            result_ttl=result_ttl, failure_ttl=failure_ttl, depends_on=after or None,
            **hooks)
        if json_:
            render.print_json(render.job_json(handle.get(new_id)))
        else:
            typer.echo(new_id)
        jq.close()


def _enqueue_from_file(ctx: typer.Context, path: str, project: str, backend: str | None,
                       url: str | None, json_: bool) -> None:
    """`enqueue --from-file`: the engine reads the JSON Lines and stores the batch in one go
    (what `fpq enqueue --from-file` does); the ids are printed in file order."""
    label = f"--from-file {path}"
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(ctx, EXIT_BAD_INPUT, f"{label}: cannot read {path}: {reason}")
    with errors(ctx):
        jq = manager(project, backend, url)
        handle = jq.queue()
        try:
            ids = handle.enqueue_jsonl(text)
        except JobQueueError as exc:
            # The engine's message begins "line N: "; name the file too, as fpq does.
            fail(ctx, exit_code(exc), f"{'stdin' if path == '-' else path} {exc}")
        if json_:
            render.print_json([render.job_json(handle.get(i)) for i in ids])
        else:
            for new_id in ids:
                typer.echo(new_id)
        jq.close()


def status(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        metavar="PIPELINE | id=ID", help="A pipeline's jobs, or one job.",
        autocompletion=complete_pipeline, show_default=False)] = None,
    limit: Annotated[str, option("status", "--limit")] = "20",
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    count = number(ctx, "--limit", limit, 1, 100000) or 20
    job_id, pipeline = _target(ctx, target)
    with errors(ctx):
        handle = reader(project, backend, url)
        if job_id is not None:
            job = handle.get(job_id)
            if json_:
                render.print_json(render.job_json(job))
            else:
                render.print_job_detail(job)
            return
        jobs = handle.find(pipeline, count)
    if json_:
        render.print_json([render.job_json(j) for j in jobs])
    elif not jobs:
        typer.echo(f"no jobs for pipeline {pipeline}" if pipeline else "no jobs yet")
    else:
        render.print_jobs(jobs)


def result(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(
        metavar="PIPELINE | id=ID", help="The job, or the pipeline's newest job.",
        autocompletion=complete_pipeline, show_default=False)] = None,
    wait: Annotated[bool, option("result", "--wait")] = False,
    timeout: Annotated[str | None, option("result", "--timeout")] = None,
    project: Project = ".",
    backend: Backend = None,
    url: Url = None,
    json_: Json = False,
) -> None:
    seconds = duration(ctx, "--timeout", timeout)
    job_id, pipeline = _target(ctx, target)
    with errors(ctx):
        handle = reader(project, backend, url)
        if job_id is not None:
            job = handle.get(job_id)
        elif pipeline is not None and not wait:
            # The newest finished run: a newer one still queued must not hide it.
            job = handle.latest(pipeline, True)
        else:
            jobs = handle.find(pipeline, 1)
            if not jobs:
                fail(ctx, EXIT_NOT_DONE,
                     f"no jobs for pipeline {pipeline}" if pipeline else "no jobs")
            job = jobs[0]
        if wait and job["status"] not in TERMINAL:
            job = handle.wait(job["id"], -1.0 if seconds is None else seconds)
    shown: dict[str, Any] = render.outcome_json(job)
    if json_:
        render.print_json(shown)
        raise typer.Exit(EXIT_DONE if job["status"] == "finished" else EXIT_NOT_DONE)
    if job["status"] == "finished":
        render.print_json(shown["result"], indent=2)
        return
    if job["status"] in ("failed", "stopped"):
        error = shown["error"] if isinstance(shown["error"], dict) else {"message": shown["error"]}
        say(ctx, f"job {job['id']} {job['status']}: {error.get('type') or 'Error'}: "
            f"{error.get('message') or '(no message)'}")
        trace = str(error.get("traceback") or "")
        if trace:
            sys.stderr.write(trace if trace.endswith("\n") else trace + "\n")
        raise typer.Exit(EXIT_NOT_DONE)
    fail(ctx, EXIT_NOT_DONE, f"job {job['id']} is {job['status']}: no result yet (use --wait "
         "to wait for it)")


JobId = Annotated[str, typer.Argument(metavar="ID", help="The job's id (or id=ID).",
                                      show_default=False)]


def _change(ctx: typer.Context, job: str, action: str, project: str, backend: str | None,
            url: str | None, json_: bool) -> None:
    job_id = _id_arg(job) or job
    with errors(ctx):
        _native.validate_id(job_id)
        getattr(manager(project, backend, url).queue(), action)(job_id)
    if json_:
        render.print_json({"id": job_id, "ok": True})
    else:
        typer.echo(job_id)


def cancel(ctx: typer.Context, job: JobId, project: Project = ".", backend: Backend = None,
           url: Url = None, json_: Json = False) -> None:
    _change(ctx, job, "cancel", project, backend, url, json_)


def requeue(ctx: typer.Context, job: JobId, project: Project = ".", backend: Backend = None,
            url: Url = None, json_: Json = False) -> None:
    _change(ctx, job, "requeue", project, backend, url, json_)


def metrics(ctx: typer.Context, project: Project = ".", backend: Backend = None,
            url: Url = None, json_: Json = False,
            prometheus: Annotated[bool, option("metrics", "--prometheus")] = False) -> None:
    if prometheus and json_:
        usage(ctx, "give --json or --prometheus, not both")
    with errors(ctx):
        handle = reader(project, backend, url)
        if prometheus:
            sys.stdout.write(handle.metrics_prometheus())
            return
        document = dict(json.loads(handle.metrics_json()))
    if json_:
        render.print_json(document)
    else:
        render.print_metrics(document)


def prune(ctx: typer.Context, project: Project = ".", backend: Backend = None,
          url: Url = None, json_: Json = False) -> None:
    with errors(ctx):
        removed = manager(project, backend, url).prune()
    if json_:
        render.print_json({"removed": removed})
    else:
        typer.echo(f"pruned {removed} ended job{'' if removed == 1 else 's'} past its retention")


def logs(ctx: typer.Context, job: Annotated[str, typer.Argument(
        metavar="ID", help="The job's id (or id=ID).", show_default=False)],
         project: Project = ".", backend: Backend = None, url: Url = None,
         json_: Json = False) -> None:
    job_id = _id_arg(job) or job
    with errors(ctx):
        _native.validate_id(job_id)
        record = manager(project, backend, url).queue().get(job_id)
    log = record.get("log")
    if json_:
        render.print_json({"id": record["id"], "status": record["status"], "log": log})
        raise typer.Exit(EXIT_DONE if log is not None else EXIT_NOT_DONE)
    if log is None:
        fail(ctx, EXIT_NOT_DONE, f"job {record['id']} ({record['status']}) has no log: it has "
             "not run yet, or wrote nothing")
    sys.stdout.write(log if log.endswith("\n") else log + "\n")
