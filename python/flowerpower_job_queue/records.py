"""Job records as the Python API returns them.

The engine (``_native``) hands out a job as a *record*: a dict of every field of the C
job (see ``JOB_FIELDS``) with epoch-second floats for times, the run options as JSON text
in ``run_json``, the result as codec JSON text in ``result_json`` and the error as
``{"type", "message", "traceback"}`` JSON text in ``error_json``. Python backends store and
return records in the same shape. This module turns a record into what a caller of the
API sees: timezone-aware datetimes, decoded run options and error, the decoded result,
and :class:`~flowerpower_job_queue.exceptions.JobFailed` for a run that did not finish.

What a record *means* (which statuses are final, which function a job runs) is the
engine's decision; the constants here are read from it.

Example:
    >>> record = {"id": "j1", "status": "failed", "error_json": '{"type": "ValueError", '
    ...           '"message": "x must be positive", "traceback": ""}'}
    >>> job_failed(record).error_type
    'ValueError'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from . import _native
from .exceptions import JobFailed

__all__ = [
    "JOB_FIELDS",
    "TASK_FUNC",
    "TERMINAL",
    "TIME_FIELDS",
    "api_job",
    "decode_result",
    "job_failed",
    "loads_or_text",
    "to_datetime",
]

JOB_FIELDS = (
    "id", "project", "pipeline", "run_json", "queue", "priority", "status", "description",
    "created_at", "enqueued_at", "started_at", "ended_at", "run_at", "attempts",
    "max_retries", "retry_delay", "jitter_factor", "timeout", "result_ttl", "worker",
    "result_json", "error_json", "func", "execution", "failure_ttl", "log", "depends_on",
    "on_success", "on_failure", "on_stopped",
)
"""The keys of a job record, in the engine's order."""

TIME_FIELDS = ("created_at", "enqueued_at", "started_at", "ended_at", "run_at")
"""The record's times (epoch seconds, or None)."""

TERMINAL: frozenset[str] = _native.TERMINAL
"""Statuses a job leaves only by requeue: finished, failed, stopped, canceled."""

TASK_FUNC: str = _native.TASK_FUNC
"""The one function a job may name (RQ's ``func_name``)."""


def to_datetime(t: float | None) -> dt.datetime | None:
    """Epoch seconds as a timezone-aware UTC datetime; None stays None.

    Example:
        >>> to_datetime(0.5).isoformat()
        '1970-01-01T00:00:00.500000+00:00'
    """
    return None if t is None else dt.datetime.fromtimestamp(t, tz=dt.UTC)


def loads_or_text(text: str | None) -> Any:
    """Stored JSON text as data; text that is not JSON stays text (a foreign record).

    Example:
        >>> loads_or_text('{"a": 1}'), loads_or_text("oops"), loads_or_text(None)
        ({'a': 1}, 'oops', None)
    """
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # Nested deeper than Python decodes (a record written behind the engine's back:
        # enqueue refuses more than 200 levels): shown as text, never an exception for
        # the whole listing.
        return text


def api_job(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the API returns a job: times as datetimes, ``run`` and ``error`` as
    data (``run_json``/``error_json`` go), the result left out (see
    :func:`decode_result`).

    Example:
        >>> job = api_job({"id": "j1", "run_json": '{"inputs": {"x": 1}}', "error_json": None,
        ...                "result_json": None, "created_at": 0.0})
        >>> job["run"], job["error"]
        ({'inputs': {'x': 1}}, None)
    """
    job = dict(record)
    for name in TIME_FIELDS:
        if name in job:
            job[name] = to_datetime(job[name])
    job["run"] = loads_or_text(job.pop("run_json", None))
    job["error"] = loads_or_text(job.pop("error_json", None))
    job.pop("result_json", None)
    return job


def decode_result(record: Mapping[str, Any]) -> Any:
    """What the run returned, as the same Python types (codec JSON decoded); None when
    there is no result.

    Example:
        >>> decode_result({"result_json": '{"x": 1}'})
        {'x': 1}
    """
    from . import codec

    text = record.get("result_json")
    return None if text is None else codec.loads(text)


def job_failed(record: Mapping[str, Any]) -> JobFailed:
    """The :class:`JobFailed` of a job that failed, was stopped or canceled.

    Example:
        >>> str(job_failed({"id": "j1", "status": "canceled", "error_json": None}))
        "job 'j1' was canceled before it ran"
    """
    error = loads_or_text(record.get("error_json"))
    if not isinstance(error, dict):
        error = {"message": error} if error else {}
    error_type = str(error.get("type") or "")
    message = str(error.get("message") or "")
    status = str(record.get("status"))
    if status == "canceled":
        text = f"job '{record['id']}' was canceled before it ran"
        error_type = error_type or "JobCanceled"
    else:
        verb = "was stopped" if status == "stopped" else "failed"
        detail = f"{error_type}: {message}" if error_type else message or "no error recorded"
        text = f"job '{record['id']}' {verb}: {detail}"
    return JobFailed(
        text,
        job_id=str(record["id"]),
        status=status,
        error_type=error_type,
        error_message=message,
        traceback=str(error.get("traceback") or ""),
    )
