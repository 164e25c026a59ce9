"""The Typer CLI's output: JSON documents in the engine's forms (the ones ``fpq ...
--json`` prints, made by the engine), and rich tables for people. rich is imported only
when a table is printed.

Example:
    >>> print_json({"a": 1})
    {"a":1}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import _native

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "job_json",
    "print_job_detail",
    "print_jobs",
    "print_json",
    "print_metrics",
    "print_schedules",
    "print_workers",
    "schedule_json",
]


def job_json(record: Mapping[str, Any]) -> Any:
    """A job record in the form ``fpq status id=ID --json`` prints (the engine makes it).

    Example:
        >>> job_json({"id": "j1", "status": "queued", "run_json": "{}"})["run"]
        {}
    """
    return json.loads(_native.job_json(dict(record)))


def outcome_json(record: Mapping[str, Any]) -> Any:
    """What ``result --json`` prints: id, pipeline, status, ended_at, result and error of
    :func:`job_json` (the engine picks them, for both command lines).

    Example:
        >>> sorted(outcome_json({"id": "j1", "status": "queued", "run_json": "{}"}))
        ['ended_at', 'error', 'id', 'pipeline', 'result', 'status']
    """
    return json.loads(_native.job_json(dict(record), True))


def schedule_json(record: Mapping[str, Any]) -> Any:
    """A schedule record in the form ``fpq schedules list --json`` prints.

    Example:
        >>> schedule_json({"id": "s1", "trigger": "@daily"})["trigger"]
        '@daily'
    """
    return json.loads(_native.schedule_json(dict(record)))


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output keeps long ids on one line; a terminal gets its own width.
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return Console(file=stream, width=width, soft_wrap=False, highlight=False)


def print_json(value: Any, indent: int | None = None) -> None:
    """One JSON document on stdout (compact unless ``indent``), highlighted on a terminal.

    Example:
        >>> print_json({"a": 1})
        {"a":1}
    """
    if indent is not None and sys.stdout.isatty():
        _console().print_json(data=value, indent=indent)
        return
    separators = None if indent is not None else (",", ":")
    sys.stdout.write(json.dumps(value, indent=indent, separators=separators) + "\n")


def _local(t: float | None) -> str:
    if t is None or not t > 0:
        return "-"
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None or not seconds >= 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.3g}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds) % 60:02d}s"
    return f"{int(seconds // 3600)}h{int(seconds // 60) % 60:02d}m"


_STATUS_STYLE = {"finished": "green", "failed": "red", "stopped": "red", "started": "cyan",
                 "canceled": "yellow", "queued": "", "scheduled": "blue", "deferred": "blue"}


def print_jobs(jobs: Sequence[Mapping[str, Any]]) -> None:
    """A table of jobs, one row each: id, pipeline, status, priority, created, run time,
    tries.

    Example:
        >>> print_jobs([{"id": "j1", "pipeline": "hello", "status": "queued"}])  # doctest: +SKIP
    """
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "PIPELINE", "STATUS", "PRIO", "CREATED"):
        table.add_column(column, no_wrap=True)
    table.add_column("RAN", justify="right", no_wrap=True)
    table.add_column("TRIES", justify="right", no_wrap=True)
    for job in jobs:
        started, ended = job.get("started_at"), job.get("ended_at")
        ran = _duration(ended - started) if started and ended and ended >= started else "-"
        status = str(job.get("status"))
        style = _STATUS_STYLE.get(status, "")
        table.add_row(str(job.get("id")), str(job.get("pipeline")),
                      f"[{style}]{status}[/]" if style else status,
                      str(job.get("priority")), _local(job.get("created_at")), ran,
                      f"{job.get('attempts', 0)}/{int(job.get('max_retries') or 0) + 1}")
    _console().print(table)


def print_job_detail(job: Mapping[str, Any]) -> None:
    """One job, a field a line.

    Example:
        >>> print_job_detail({"id": "j1", "pipeline": "hello", "status": "queued"})  # doctest: +SKIP
    """
    rows = [
        ("id", job.get("id")),
        ("pipeline", job.get("pipeline")),
        ("project", job.get("project")),
        ("status", job.get("status")),
        ("priority", f"{job.get('priority')} (queue {job.get('queue')})"),
        ("run", job.get("run_json") or "{}"),
        ("created", _local(job.get("created_at"))),
    ]
    if job.get("run_at"):
        rows.append(("due", _local(job.get("run_at"))))
    rows += [
        ("started", _local(job.get("started_at"))),
        ("ended", _local(job.get("ended_at"))),
        ("attempts", f"{job.get('attempts', 0)} of {int(job.get('max_retries') or 0) + 1}"),
    ]
    if job.get("worker"):
        rows.append(("worker", job.get("worker")))
    if job.get("error_json"):
        rows.append(("error", job.get("error_json")))
    parents = json.loads(job["depends_on"]) if job.get("depends_on") else []
    if parents:
        label = "waits for" if job.get("status") == "deferred" else "after"
        rows.append((label, ", ".join(str(p) for p in parents)))
    rows += [(which.replace("_", " "), job[which]) for which in
             ("on_success", "on_failure", "on_stopped") if job.get(which)]
    for key, value in rows:
        print(f"{key + ':':<12} {value}")


def print_workers(workers: Sequence[Mapping[str, Any]]) -> None:
    """A table of live workers (the ``workers`` of the metrics document).

    Example:
        >>> print_workers([])
        no live workers
    """
    if not workers:
        print("no live workers")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("NAME", "HOST", "PID", "STATE", "QUEUES", "CURRENT JOB"):
        table.add_column(column, no_wrap=True)
    for column in ("DONE", "FAILED", "BUSY"):
        table.add_column(column, justify="right", no_wrap=True)
    for w in workers:
        queues = w.get("queues")
        if isinstance(queues, list):
            queues = ",".join(str(q) for q in queues)
        ratio = w.get("busy_ratio")
        table.add_row(str(w.get("name")), str(w.get("hostname")), str(w.get("pid")),
                      str(w.get("state")), str(queues), str(w.get("current_job") or "-"),
                      str(w.get("successful", 0)), str(w.get("failed", 0)),
                      f"{ratio:.0%}" if isinstance(ratio, (int, float)) else "-")
    _console().print(table)


_QUEUE_COLUMNS = ("queued", "started", "scheduled", "deferred", "finished", "failed",
                  "canceled")


def _bytes(n: Any) -> str:
    """A byte count as fpq prints it: "812 B", "3.4 KiB", "1.2 MiB", "2.0 GiB"."""
    n = int(n or 0)
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def print_metrics(metrics: Mapping[str, Any]) -> None:
    """The metrics document as tables: jobs per queue and status with the age of the
    oldest queued job, then the live workers.

    Example:
        >>> print_metrics({"backend": "sqlite", "queues": [], "workers": []})   # doctest: +SKIP
    """
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold",
                  title=f"backend {metrics.get('backend', '?')}", title_justify="left")
    table.add_column("QUEUE", no_wrap=True)
    for column in _QUEUE_COLUMNS:
        table.add_column(column.upper(), justify="right", no_wrap=True)
    table.add_column("OLDEST QUEUED", justify="right", no_wrap=True)
    for q in metrics.get("queues") or []:
        table.add_row(str(q.get("name")), *(str(q.get(c, 0)) for c in _QUEUE_COLUMNS),
                      _duration(q.get("oldest_queued_age_seconds")))
    _console().print(table)
    workers = metrics.get("workers") or []
    print(f"workers: {len(workers)} live")
    kept = metrics.get("results")
    if isinstance(kept, Mapping):
        print(f"results kept: {kept.get('kept', 0)} ended jobs, {_bytes(kept.get('bytes', 0))}")
    if workers:
        print_workers(workers)



def _fire(t: int | None, zone: str) -> str:
    return _native.format_time(t, zone) or "-"


def print_schedules(schedules: Sequence[Mapping[str, Any]]) -> None:
    """A table of schedules: id, pipeline, trigger, zone, state, next and last fire (in
    the schedule's zone), fires made and skipped.

    Example:
        >>> print_schedules([])
        no schedules (add one with 'flowerpower queue schedule PIPELINE --schedule CRON')
    """
    if not schedules:
        print("no schedules (add one with 'flowerpower queue schedule PIPELINE --schedule "
              "CRON')")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "PIPELINE", "SCHEDULE", "TIMEZONE", "STATE", "NEXT FIRE",
                   "LAST FIRE"):
        table.add_column(column, no_wrap=True)
    for column in ("FIRED", "SKIPPED"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in schedules:
        zone = str(s.get("timezone") or "UTC")
        state = "paused" if s.get("paused") else "done" if not s.get("next_fire") else "active"
        table.add_row(str(s.get("id")), str(s.get("pipeline")), str(s.get("trigger")), zone,
                      state, _fire(None if s.get("paused") else s.get("next_fire"), zone),
                      _fire(s.get("last_fire"), zone), str(s.get("fired", 0)),
                      str(s.get("skipped", 0)))
    _console().print(table)
