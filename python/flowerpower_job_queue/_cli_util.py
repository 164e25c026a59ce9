"""What the Typer command line (:mod:`flowerpower_job_queue.cli`) needs besides Typer:
parsing of command-line values exactly as ``fpq`` parses them (durations, ISO 8601
times, JSON or ``@FILE``), the JSON form of a job as ``fpq ... --json`` prints it, and
rich tables for people. rich is imported only when a table is printed.

Example:
    >>> parse_duration("1h30m")
    5400.0
    >>> parse_iso8601("2026-12-01T02:00:00Z")
    1796090400.0
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .manager import _TIME_FIELDS, _loads_or_text

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "job_json",
    "parse_duration",
    "parse_iso8601",
    "print_job_detail",
    "print_jobs",
    "print_json",
    "print_metrics",
    "print_workers",
    "read_json_arg",
]

_DURATION_PART = re.compile(r"([0-9.]+)(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)


def parse_duration(text: str) -> float | None:
    """Seconds in ``90s``, ``10m``, ``2h``, ``1d``, ``250ms``, ``1h30m`` or a bare number
    (seconds), as ``fpq`` reads them; None when text is not one.

    Example:
        >>> parse_duration("90"), parse_duration("250ms"), parse_duration("soon")
        (90.0, 0.25, None)
    """
    pos, total, parts = 0, 0.0, 0
    if not text:
        return None
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            return None
        try:
            value = float(match.group(1))
        except ValueError:
            return None
        unit = match.group(2)
        if unit is None and (match.end() != len(text) or parts):
            return None
        if not math.isfinite(value):
            return None
        total += value * _UNITS[unit or "s"]
        parts += 1
        pos = match.end()
    return total


def parse_iso8601(text: str) -> float | None:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM[:SS[.f]][Z|+HH[:MM]]`` (no zone means UTC, as
    ``fpq`` reads it); None when text is not one.

    Example:
        >>> parse_iso8601("2026-12-01T03:00:00+01:00"), parse_iso8601("tomorrow")
        (1796090400.0, None)
    """
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    if not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 60:
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + fraction
    zone = match.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:] or 0)
        if oh > 23 or om > 59:
            return None
        seconds -= sign * (oh * 3600 + om * 60)
    return float(seconds)


def read_json_arg(option: str, value: str) -> tuple[Any, str | None]:
    """The JSON of an option given as JSON text or ``@FILE``: (value, None), or
    (None, a one-line message naming what is wrong).

    Example:
        >>> read_json_arg("--inputs", '{"x": 1}')
        ({'x': 1}, None)
        >>> read_json_arg("--inputs", "{not json")[1].startswith("--inputs is not valid JSON")
        True
    """
    text = value
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read(64 << 20)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return None, f"{option} {value}: cannot read {path}: {reason}"
    try:
        return json.loads(text, parse_constant=_no_constant), None
    except ValueError as exc:
        where = f" at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return None, f"{option} is not valid JSON: {reason}{where}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ---- the JSON form of a job ------------------------------------------------------------


def _time_text(t: float | None) -> str | None:
    """``fpq``'s form of an epoch time: ``2026-07-01T02:00:00.000000Z``."""
    if t is None or not t > 0:
        return None
    secs = math.floor(t)
    micros = round((t - secs) * 1e6)
    if micros >= 1_000_000:
        secs, micros = secs + 1, micros - 1_000_000
    stamp = dt.datetime.fromtimestamp(secs, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}Z"


def job_json(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job record (an adapter's) in the form ``fpq status id=ID --json`` prints:
    ``run``, ``result`` and ``error`` as JSON values, times as ISO 8601 UTC text.

    Example:
        >>> from flowerpower_job_queue.adapters import job_record
        >>> j = job_json(job_record("/p", "hello", id="j1", created_at=1.5, enqueued_at=1.5))
        >>> j["id"], j["run"], j["created_at"], j["result"]
        ('j1', {}, '1970-01-01T00:00:01.500000Z', None)
    """
    out: dict[str, Any] = {}
    for key in ("id", "project", "pipeline"):
        out[key] = job.get(key)
    out["run"] = _loads_or_text(job.get("run_json") or "{}")
    for key in ("status", "priority", "queue", "description"):
        out[key] = job.get(key)
    for key in _TIME_FIELDS:
        out[key] = _time_text(job.get(key))
    for key in ("attempts", "max_retries", "retry_delay", "jitter_factor", "timeout",
                "result_ttl", "worker"):
        out[key] = job.get(key)
    out["result"] = _loads_or_text(job.get("result_json"))
    out["error"] = _loads_or_text(job.get("error_json"))
    out["func"] = job.get("func")
    return out


# ---- output for people -----------------------------------------------------------------


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
        >>> from flowerpower_job_queue.adapters import job_record
        >>> print_jobs([job_record("/p", "hello", id="j1")])   # doctest: +SKIP
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
        >>> from flowerpower_job_queue.adapters import job_record
        >>> print_job_detail(job_record("/p", "hello", id="j1"))   # doctest: +SKIP
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
    if workers:
        print_workers(workers)
