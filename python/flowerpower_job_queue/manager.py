"""JobQueueManager: the Python API of the queue for one FlowerPower project.

It turns what a FlowerPower user has (a project, a pipeline name, a ``RunConfig`` or run
keyword arguments, datetimes) into what the C engine stores (a sparse JSON object of run
options, epoch seconds), and the engine's records back into Python (timezone-aware
datetimes, decoded results, typed exceptions). The engine does the rest: validation,
storage, waiting, and the worker processes started with :meth:`start_workers`.

A job stores only the run options the caller set, never a full ``RunConfig.to_dict()``:
FlowerPower would take every key of that as an explicit override of the pipeline's YAML.

Example:
    >>> from flowerpower_job_queue import JobQueueManager
    >>> jq = JobQueueManager("/srv/my-project")                       # doctest: +SKIP
    >>> job_id = jq.enqueue("hello", inputs={"name": "Ada"}, priority="high")  # doctest: +SKIP
    >>> jq.start_workers(burst=True)[0].wait()                        # doctest: +SKIP
    0
    >>> jq.result(id=job_id)                                          # doctest: +SKIP
    {'greeting': 'Hello, Ada!'}
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from . import _native
from .adapters import TERMINAL, NativeAdapter, QueueAdapter, WorkerHandle, open_adapter
from .exceptions import InvalidInput, JobFailed, JobNotFound, JobTimeout
from .scheduling import PROJECT_SCHEDULE_METHODS, SchedulingMixin

if TYPE_CHECKING:
    from flowerpower import FlowerPowerProject

__all__ = ["JobQueueManager", "run_config_to_dict"]

_TIME_FIELDS = ("created_at", "enqueued_at", "started_at", "ended_at", "run_at")
_WORKER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")

# RunConfig fields that are never sent: FlowerPower's bookkeeping, and the deprecated flat
# retry fields (kept in sync with the nested ``retry`` block, which is sent instead).
_INTERNAL_FIELDS = frozenset(
    {
        "with_adapter_override_raw",
        "executor_override_raw",
        "retry_override_raw",
        "pipeline_adapter_cfg_override_raw",
        "project_adapter_cfg_override_raw",
        "explicit_overrides",
        "max_retries",
        "retry_delay",
        "jitter_factor",
        "retry_exceptions",
    }
)
# A field whose raw override FlowerPower kept is sent as the caller wrote it.
_RAW_OVERRIDE = {
    "executor": "executor_override_raw",
    "with_adapter": "with_adapter_override_raw",
    "retry": "retry_override_raw",
    "pipeline_adapter_cfg": "pipeline_adapter_cfg_override_raw",
    "project_adapter_cfg": "project_adapter_cfg_override_raw",
}
_CALLBACKS = ("on_success", "on_failure")
# run() keyword -> RunConfig field, where they differ.
_KWARG_FIELD = {"executor_cfg": "executor", "with_adapter_cfg": "with_adapter"}
# Fields whose dicts are merged key by key, as FlowerPower merges run() kwargs.
_MERGED_FIELDS = frozenset(
    {
        "inputs",
        "config",
        "adapter",
        "executor",
        "with_adapter",
        "retry",
        "pipeline_adapter_cfg",
        "project_adapter_cfg",
    }
)

_MISSING = object()
_default_configs: dict[type, Any] = {}

# Queue handles opened before a fork. A child must not use them (SQLite forbids carrying
# a connection across fork) nor close them (that would disturb the parent's files), so
# the child forgets them here and opens its own.
_inherited_handles: list[Any] = []


# ---- run config conversion ----------------------------------------------------------


def _callback_error(where: str) -> InvalidInput:
    return InvalidInput(
        f"{where} is a callback: a queued run happens in a worker process, so callables "
        "cannot be sent with it; run them after result() instead"
    )


def _jsonable(value: Any, where: str) -> Any:
    """Returns value as JSON data (tuples become lists), or raises InvalidInput naming
    where the first value that is not JSON sits."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidInput(f"{where} is {value}, too large for JSON: at most 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where} is {value}, which JSON cannot hold")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(
                    f"{where} has the key {key!r} ({type(key).__name__}): JSON object keys "
                    "must be strings"
                )
            out[key] = _jsonable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "__struct_fields__"):  # a FlowerPower config struct
        return _struct_patch(value, _default_of(type(value)), where)
    if callable(value):
        raise _callback_error(where)
    raise InvalidInput(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which is not "
        "JSON: run options must be str, int, float, bool, None, lists and dicts with str keys"
    )


def _default_of(cls: type) -> Any:
    """A default instance of a config struct class (cached), or None when it has none."""
    default = _default_configs.get(cls, _MISSING)
    if default is _MISSING:
        try:
            default = cls()
        except Exception:  # noqa: BLE001 - a struct with required fields has no default
            default = None
        _default_configs[cls] = default
    return default


def _exception_names(values: Any) -> Any:
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [
        v.__name__ if isinstance(v, type) and issubclass(v, BaseException) else v
        for v in values
    ]


def _struct_patch(value: Any, default: Any, where: str) -> dict[str, Any]:
    """The fields of a config struct that differ from default, as JSON data; nested
    structs likewise (FlowerPower's own rule for merging a partial struct)."""
    patch: dict[str, Any] = {}
    for name in value.__struct_fields__:
        current = getattr(value, name)
        if name == "retry_exceptions":
            current = _exception_names(current)
        base = getattr(default, name, _MISSING) if default is not None else _MISSING
        if name == "retry_exceptions" and base is not _MISSING:
            base = _exception_names(base)
        if hasattr(current, "__struct_fields__"):
            nested_default = base if hasattr(base, "__struct_fields__") else _default_of(
                type(current))
            nested = _struct_patch(current, nested_default, f"{where}.{name}")
            if nested:
                patch[name] = nested
        elif base is _MISSING or current != base:
            patch[name] = _jsonable(current, f"{where}.{name}")
    return patch


def run_config_to_dict(run_config: Any) -> dict[str, Any]:
    """The fields of a run config the caller set, as a JSON-safe dict of RunConfig field
    names (``executor``, ``with_adapter``, ``retry``, ... and the queue's ``priority``,
    ``schedule``, ``backend``).

    ``run_config`` is a FlowerPower ``RunConfig``, a :class:`QueueRunConfig` or a dict of
    RunConfig fields. A field is "set" when it differs from ``RunConfig()``'s default or
    was named explicitly (``RunConfig.from_dict``), which is how FlowerPower itself merges
    a run config over the pipeline's YAML; a full ``to_dict()`` would override all of it.

    Raises:
        InvalidInput: a callback (``on_success``/``on_failure``), a value that is not
            JSON, or a run_config of another type.

    Example:
        >>> from flowerpower.cfg.pipeline.run import RunConfig
        >>> run_config_to_dict(RunConfig(inputs={"x": 1}, retry={"max_retries": 2}))
        {'inputs': {'x': 1}, 'retry': {'max_retries': 2}}
    """
    if run_config is None:
        return {}
    if isinstance(run_config, Mapping):
        out: dict[str, Any] = {}
        for key, value in run_config.items():
            if key in _CALLBACKS and value is not None:
                raise _callback_error(f"run_config[{key!r}]")
            out[str(key)] = _jsonable(value, f"run_config[{key!r}]")
        return out
    if not hasattr(run_config, "__struct_fields__"):
        raise InvalidInput(
            f"run_config is a {type(run_config).__name__}: expected a FlowerPower RunConfig, "
            "a QueueRunConfig or a dict of RunConfig fields"
        )
    default = _default_of(type(run_config))
    explicit = set(getattr(run_config, "explicit_overrides", None) or ())
    out = {}
    for name in run_config.__struct_fields__:
        if name in _INTERNAL_FIELDS:
            continue
        value = getattr(run_config, name)
        where = f"run_config.{name}"
        if name in _CALLBACKS:
            if value is not None:
                raise _callback_error(where)
            continue
        raw = getattr(run_config, _RAW_OVERRIDE[name], None) if name in _RAW_OVERRIDE else None
        if raw is not None:
            out[name] = _jsonable(raw, where)
            continue
        base = getattr(default, name, _MISSING) if default is not None else _MISSING
        if hasattr(value, "__struct_fields__"):
            nested_default = base if hasattr(base, "__struct_fields__") else _default_of(
                type(value))
            patch = _struct_patch(value, nested_default, where)
            if patch:
                out[name] = patch
        elif name == "additional_modules" and value is not None:
            out[name] = [m if isinstance(m, str) else getattr(m, "__name__", m) for m in value]
            out[name] = _jsonable(out[name], where)
        elif name in explicit or base is _MISSING or value != base:
            if base is _MISSING and value is None:
                continue
            out[name] = _jsonable(value, where)
    return out


def _merge_run_kwargs(base: dict[str, Any], run_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """run() keyword arguments over a run config dict: ``inputs``, ``config`` and the
    other dict-valued options merge key by key, the rest replace (FlowerPower's rule)."""
    out = dict(base)
    for key, value in run_kwargs.items():
        if key in _CALLBACKS and value is not None:
            raise _callback_error(key)
        field = _KWARG_FIELD.get(key, key)
        value = _jsonable(value, key)
        current = out.get(field)
        if field in _MERGED_FIELDS and isinstance(value, dict) and isinstance(current, dict):
            out[field] = {**current, **value}
        else:
            out[field] = value
    return out


# ---- small conversions -----------------------------------------------------------------


def _text(what: str, value: Any) -> Any:
    """value, checked that the engine can take it: its strings are C strings (they end at
    the first NUL) in UTF-8 (a lone surrogate has no encoding). Anything else is left to
    the engine's own checks.

    Example:
        >>> _text("job id", "a\\x00b")  # doctest: +SKIP
        Traceback (most recent call last):
        InvalidInput: job id 'a\\x00b' contains a NUL character: ...
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{what} {value[:60]!r} contains a NUL character: expected text "
                               "without NUL")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{what} {value[:60]!r} is not valid Unicode (a lone "
                               "surrogate): expected UTF-8 text") from None
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidInput(
            f"{name} {value!r} is not a duration: expected seconds or a datetime.timedelta"
        )
    if not (math.isfinite(seconds) and seconds >= 0):
        raise InvalidInput(f"{name} {value!r} is not a duration: expected 0 or more seconds")
    return seconds


def _run_at(at: Any, delay: Any) -> float:
    if at is not None and delay is not None:
        raise InvalidInput("give at or delay, not both")
    if at is not None:
        if isinstance(at, dt.datetime):
            return at.timestamp()  # a naive datetime is local time, as Python reads it
        raise InvalidInput(f"at {at!r} is not a datetime.datetime")
    if delay is not None:
        seconds = _seconds("delay", delay)
        return time.time() + seconds if seconds > 0 else 0.0
    return 0.0


def _datetime(t: float | None) -> dt.datetime | None:
    return None if t is None else dt.datetime.fromtimestamp(t, tz=dt.UTC)


def _loads_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _project_dir(project: Any) -> str:
    if isinstance(project, (str, bytes, os.PathLike)):
        path = os.fsdecode(project)
    else:
        manager = getattr(project, "pipeline_manager", None)
        base = getattr(manager, "_base_dir", None)
        if not isinstance(base, str):
            raise InvalidInput(
                f"project is a {type(project).__name__}: expected a FlowerPowerProject or the "
                "path of a project directory"
            )
        if "://" in base and not base.startswith("file://"):
            raise InvalidInput(
                f"project {base!r} is not on this machine's file system: the queue needs a "
                "local project directory that workers can read"
            )
        path = base.removeprefix("file://")
    return os.path.abspath(path)


def find_fpq() -> str:
    """The ``fpq`` command installed with this package: beside ``sys.executable`` (the
    virtual environment's bin directory), else on ``PATH``.

    Example:
        >>> find_fpq()  # doctest: +SKIP
        '/srv/venv/bin/fpq'
    """
    candidate = os.path.join(os.path.dirname(sys.executable), "fpq")
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("fpq")
    if found is None:
        raise FileNotFoundError(
            "the fpq command is not installed beside this Python nor on PATH: reinstall "
            "flowerpower-job-queue"
        )
    return found


# ---- the manager ---------------------------------------------------------------------


class JobQueueManager(SchedulingMixin):
    """The queue of one FlowerPower project: enqueue runs, read their status and
    results, cancel and requeue them, start and stop workers, read metrics.

    Args:
        project: a ``FlowerPowerProject`` or the path of a project directory.
        backend: a backend name (``"sqlite"``, ``"rq"``, a plugin's) or a URL
            (``"redis://host:6379/0"``, ``"sqlite:///abs/queue.db"``). None: the
            project's configuration (``FPQ_BACKEND``/``FPQ_URL``, ``conf/job_queue.yml``),
            else SQLite at ``<project>/.flowerpower/queue.db``.
        url: the backend's URL, when ``backend`` is a name.

    Connections open on first use, one per backend, and are shared by threads (calls on
    one take turns, each without the GIL). Methods that take ``backend`` use that backend
    for the one call instead.

    Example:
        >>> jq = JobQueueManager("/srv/my-project")                    # doctest: +SKIP
        >>> job_id = jq.enqueue("etl", inputs={"day": "2026-07-01"})   # doctest: +SKIP
        >>> jq.get_queue_status(id=job_id)["status"]                   # doctest: +SKIP
        'queued'
    """

    def __init__(
        self, project: FlowerPowerProject | str | os.PathLike[str], backend: str | None = None,
        url: str | None = None,
    ) -> None:
        self.project_dir = _project_dir(project)
        if backend is not None and "://" in backend:
            if url is not None:
                raise InvalidInput("give the URL as backend or as url, not both")
            backend, url = None, backend
        self.backend = backend
        self.url = url
        self._adapters: dict[tuple[str | None, str | None], QueueAdapter] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return (f"JobQueueManager(project_dir={self.project_dir!r}, backend={self.backend!r}, "
                f"url={self.url!r})")

    # -- connections --

    def _target(self, backend: str | None) -> tuple[str | None, str | None]:
        if backend is None:
            return self.backend, self.url
        if "://" in backend:
            return None, backend
        if backend == self.backend:
            return backend, self.url
        return backend, None

    def adapter(self, backend: str | None = None) -> QueueAdapter:
        """The adapter serving a backend (made on first use, then cached): every call of
        the manager goes through one. See :mod:`flowerpower_job_queue.adapters`.

        Raises:
            InvalidInput: an adapter configured in conf/job_queue.yml that cannot be
                imported.

        Example:
            >>> JobQueueManager("/srv/my-project").adapter().backend   # doctest: +SKIP
            'sqlite'
        """
        key = self._target(backend)
        with self._lock:
            if self._pid != os.getpid():
                _inherited_handles.extend(self._adapters.values())
                self._adapters = {}
                self._pid = os.getpid()
            adapter = self._adapters.get(key)
            if adapter is None:
                adapter = open_adapter(self.project_dir, backend=key[0], url=key[1])
                self._adapters[key] = adapter
            return adapter

    def queue(self, backend: str | None = None) -> _native.Queue:
        """The open connection to a native backend (opened on first use, then cached).

        Raises:
            InvalidInput: an unknown backend name, a bad setting, or a backend served by
                a Python adapter (it has no engine connection; use :meth:`adapter`).
            BackendUnavailable: the backend cannot be reached.

        Example:
            >>> JobQueueManager("/srv/my-project").queue().backend   # doctest: +SKIP
            'sqlite'
        """
        adapter = self.adapter(backend)
        if not isinstance(adapter, NativeAdapter):
            raise InvalidInput(
                f"backend {adapter.backend!r} is served by the Python adapter "
                f"{type(adapter).__name__}: it has no engine connection"
            )
        return adapter.queue

    def close(self) -> None:
        """Closes every open connection; the next call opens them again.

        Example:
            >>> with JobQueueManager("/srv/my-project") as jq:        # doctest: +SKIP
            ...     jq.metrics()
        """
        with self._lock:
            adapters, self._adapters = self._adapters, {}
            if self._pid != os.getpid():
                _inherited_handles.extend(adapters.values())
                return
        for adapter in adapters.values():
            adapter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- producer --

    def enqueue(
        self,
        pipeline_name: str,
        run_config: Any = None,
        priority: str | None = None,
        backend: str | None = None,
        *,
        job_id: str | None = None,
        at: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
        timeout: float | dt.timedelta | None = None,
        **run_kwargs: Any,
    ) -> str:
        """Queues one run of a pipeline and returns the job's id at once.

        Args:
            pipeline_name: the pipeline, as ``project.run`` names it (``"etl"``, ``"a.b"``).
            run_config: a FlowerPower ``RunConfig``, a :class:`QueueRunConfig` or a dict of
                RunConfig fields; only the fields set are stored, so the pipeline's YAML
                still supplies the rest. Its ``retry`` block is the queue's retry policy.
            priority: ``"high"``, ``"medium"`` or ``"low"``; default: the run config's
                priority, else medium.
            backend: the backend for this job (name or URL); default: the run config's
                ``backend``, else the manager's.
            job_id: your own id (1-128 of ``A-Z a-z 0-9 _ -``); default: a new uuid4.
            at: when to run it (a datetime; naive means local time).
            delay: run it after this many seconds (or a timedelta); not with ``at``.
            timeout: stop the run after this long (seconds or a timedelta).
            **run_kwargs: ``project.run`` keyword arguments, merged over the run config
                (``inputs`` and ``config`` key by key), e.g. ``inputs={"x": 1}``.

        Raises:
            InvalidInput: bad input of any kind (nothing is stored): an unknown priority,
                a malformed pipeline name or id, a pipeline the project does not have,
                callbacks or other values that are not JSON, an unknown backend.
            BackendUnavailable: the backend cannot be reached.

        Example:
            >>> jq.enqueue("etl", {"inputs": {"day": "2026-07-01"}}, "high",  # doctest: +SKIP
            ...            delay=dt.timedelta(minutes=5), final_vars=["report"])
            '6f1c2a9e-4d1b-4c53-9c1e-0f3d2b8a7c11'
        """
        if not isinstance(pipeline_name, str):
            raise InvalidInput(
                f"pipeline name {pipeline_name!r} is not a string: expected e.g. 'etl'"
            )
        _text("pipeline name", pipeline_name)
        _text("job id", job_id)
        config = run_config_to_dict(run_config)
        config_backend = config.pop("backend", None)
        if config_backend is not None and not isinstance(config_backend, str):
            raise InvalidInput(f"run_config backend {config_backend!r} is not a string")
        options = _merge_run_kwargs(config, run_kwargs)
        run_at = _run_at(at, delay)
        seconds = 0.0 if timeout is None else _seconds("timeout", timeout)
        if seconds == 0 and timeout is not None:
            raise InvalidInput("timeout 0 is not a time limit: give more than 0 seconds")
        adapter = self.adapter(backend if backend is not None else config_backend)
        return adapter.enqueue_task(
            pipeline_name,
            options,
            priority=priority,
            job_id=job_id,
            run_at=run_at,
            timeout=seconds,
        )

    # -- status and results --

    def get_queue_status(
        self,
        pipeline_name: str | None = None,
        id: str | None = None,
        limit: int = 20,
        backend: str | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """One job (``id=``) or this project's jobs, newest first (all, or one pipeline's;
        at most ``limit``).

        A job is a dict: ``id``, ``pipeline``, ``project``, ``status``, ``priority``,
        ``queue``, ``description``, ``run`` (the stored run options), times
        (``created_at``, ``enqueued_at``, ``started_at``, ``ended_at``, ``run_at``) as
        timezone-aware datetimes or None, ``attempts``, ``max_retries``, ``retry_delay``,
        ``jitter_factor``, ``timeout``, ``result_ttl``, ``worker``, ``error`` (a dict
        with ``type``, ``message``, ``traceback``, or None) and ``func``. The one-job form
        also has ``result``: the decoded return value once finished, else None.

        Raises:
            JobNotFound: no job has that id.
            InvalidInput: a malformed id or pipeline name.

        Example:
            >>> [j["status"] for j in jq.get_queue_status("etl", limit=3)]  # doctest: +SKIP
            ['queued', 'finished', 'failed']
        """
        adapter = self.adapter(backend)
        if id is not None:
            job = adapter.get_status(_text("job id", id))
            status = _status(job)
            status["result"] = _decode_result(job) if job["status"] == "finished" else None
            return status
        return [_status(job) for job in adapter.find(_text("pipeline name", pipeline_name), limit)]

    def _latest_id(self, adapter: QueueAdapter, pipeline_name: str | None) -> str:
        if pipeline_name is None:
            raise InvalidInput("which job? give a pipeline name or id=")
        jobs = adapter.find(_text("pipeline name", pipeline_name), 1)
        if not jobs:
            raise JobNotFound(f"pipeline '{pipeline_name}' has no jobs in this project")
        return str(jobs[0]["id"])

    def result(
        self,
        pipeline_name: str | None = None,
        id: str | None = None,
        wait: bool = False,
        timeout: float | dt.timedelta | None = None,
        backend: str | None = None,
    ) -> Any:
        """What the job's ``project.run`` returned, decoded to the same Python types
        (``{final_var: value}``); the job is ``id=``, else the pipeline's newest.

        Args:
            wait: block (without the GIL) until the job ends.
            timeout: wait at most this long (seconds or timedelta); implies ``wait``.

        Returns:
            The result, or None when the job has not finished and no wait was asked for.

        Raises:
            JobFailed: the run failed (after its retries), was stopped or canceled; it
                carries ``error_type``, ``error_message`` and ``traceback``.
            JobTimeout: the wait ran out.
            JobNotFound: no such job (or the pipeline has none).

        Example:
            >>> jq.result(id=job_id, wait=True, timeout=60)   # doctest: +SKIP
            {'result': 2}
        """
        adapter = self.adapter(backend)
        job_id = _text("job id", id) if id is not None else self._latest_id(adapter, pipeline_name)
        if wait or timeout is not None:
            seconds = -1.0 if timeout is None else _seconds("timeout", timeout)
            job = adapter.get_result(job_id, seconds)
        else:
            job = adapter.get_status(job_id)
        if job["status"] == "finished":
            return _decode_result(job)
        if job["status"] in TERMINAL:
            raise _job_failed(job)
        return None

    def cancel(self, id: str, backend: str | None = None) -> None:
        """Cancels a job that has not started yet.

        Raises:
            JobNotFound: no such job.
            JobQueueError: (code ``ESTATE``) the job already started or ended.

        Example:
            >>> jq.cancel(job_id)   # doctest: +SKIP
        """
        self.adapter(backend).cancel(_text("job id", id))

    def requeue(self, id: str, backend: str | None = None) -> None:
        """Queues a failed, stopped or canceled job again, with its attempts reset.

        Raises:
            JobNotFound: no such job.
            JobQueueError: (code ``ESTATE``) the job is not failed, stopped or canceled.

        Example:
            >>> jq.requeue(job_id)   # doctest: +SKIP
        """
        self.adapter(backend).requeue(_text("job id", id))

    # -- workers and metrics --

    def start_workers(
        self,
        count: int = 1,
        backend: str | None = None,
        *,
        burst: bool = False,
        isolation: str = "fork",
        queues: str | Sequence[str] | None = None,
        name: str | None = None,
        slots: int = 1,
        quiet: bool = False,
        **popen_kwargs: Any,
    ) -> list[WorkerHandle]:
        """Starts ``count`` worker processes (the installed ``fpq worker start``) for this
        project and returns them; they run until stopped (:meth:`stop_workers`, SIGTERM)
        or, with ``burst``, until nothing is left to do. A backend served by a Python
        adapter starts its own kind of workers (see its ``start_workers``).

        Args:
            count: worker processes to start.
            backend: the backend they serve (name or URL); default: the manager's.
            burst: exit once the queues are empty.
            isolation: ``"fork"`` (a fresh child process per job) or ``"none"``.
            queues: queues in strict priority order (default ``high,default,low``).
            name: worker name (``name-1``, ``name-2``, ... when count > 1).
            slots: jobs each worker runs at once (``--count``).
            quiet: log only problems.
            **popen_kwargs: passed to ``subprocess.Popen`` (e.g. ``stderr=``).

        Raises:
            InvalidInput: a bad count, slots, isolation or name.
            FileNotFoundError: the ``fpq`` command is not installed.

        Example:
            >>> procs = jq.start_workers(burst=True)   # doctest: +SKIP
            >>> [p.wait() for p in procs]              # doctest: +SKIP
            [0]
        """
        if not (isinstance(count, int) and 1 <= count <= 256):
            raise InvalidInput(f"count {count!r} is not a number from 1 to 256")
        if not (isinstance(slots, int) and 1 <= slots <= 256):
            raise InvalidInput(f"slots {slots!r} is not a number from 1 to 256")
        if isolation not in ("fork", "none"):
            raise InvalidInput(f"isolation {isolation!r} is not known: expected fork or none")
        if name is not None and not _WORKER_NAME.fullmatch(name):
            raise InvalidInput(
                f"worker name {name!r} is not valid: use 1-100 of A-Z a-z 0-9 _ - ."
            )
        names = None
        if queues is not None:
            names = queues.split(",") if isinstance(queues, str) else list(queues)
        return self.adapter(backend).start_workers(
            count, burst=burst, isolation=isolation, queues=names, name=name, slots=slots,
            quiet=quiet, **popen_kwargs)

    def stop_workers(
        self,
        backend: str | None = None,
        name: str | None = None,
        wait: bool = False,
        now: bool = False,
        timeout: float = 120.0,
    ) -> list[str]:
        """Asks every live worker of the backend (or the one named) to stop, through the
        backend, so it reaches workers on any machine: they take no new jobs and exit when
        their running jobs end (``now``: running jobs go back to the queue at once).
        Returns the names asked.

        Args:
            wait: return only once they are gone (at most ``timeout`` seconds).

        Raises:
            JobNotFound: no live worker has that name.
            JobTimeout: ``wait`` and some are still running after ``timeout``.

        Example:
            >>> jq.stop_workers(wait=True)   # doctest: +SKIP
            ['host.4242']
        """
        adapter = self.adapter(backend)
        names = adapter.stop_workers(name, now)
        if wait:
            deadline = time.monotonic() + _seconds("timeout", timeout)
            while True:
                left = sorted({w["name"] for w in adapter.list_workers()} & set(names))
                if not left:
                    break
                if time.monotonic() > deadline:
                    raise JobTimeout(
                        f"{len(left)} worker(s) still running after {timeout:g} seconds: "
                        + ", ".join(left)
                    )
                time.sleep(0.1)
        return names

    def metrics(self, backend: str | None = None) -> dict[str, Any]:
        """Counts per queue and status, the age of the oldest queued job, live workers.

        Example:
            >>> jq.metrics()["queues"][0]["queued"]   # doctest: +SKIP
            3
        """
        return self.adapter(backend).metrics()

    def workers(self, backend: str | None = None) -> list[dict[str, Any]]:
        """Live workers: name, hostname, pid, state, queues, current_job, birth and
        last_heartbeat (timezone-aware datetimes), successful, failed, busy_seconds.

        Example:
            >>> [w["state"] for w in jq.workers()]   # doctest: +SKIP
            ['busy']
        """
        out = []
        for worker in self.adapter(backend).list_workers():
            worker["birth"] = _datetime(worker["birth"])
            worker["last_heartbeat"] = _datetime(worker["last_heartbeat"])
            out.append(worker)
        return out


def _status(job: dict[str, Any]) -> dict[str, Any]:
    status = dict(job)
    for name in _TIME_FIELDS:
        status[name] = _datetime(status[name])
    status["run"] = _loads_or_text(status.pop("run_json"))
    status["error"] = _loads_or_text(status.pop("error_json"))
    status.pop("result_json")
    return status


def _decode_result(job: dict[str, Any]) -> Any:
    from . import codec

    text = job["result_json"]
    return None if text is None else codec.loads(text)


def _job_failed(job: dict[str, Any]) -> JobFailed:
    error = _loads_or_text(job["error_json"])
    if not isinstance(error, dict):
        error = {"message": error} if error else {}
    error_type = str(error.get("type") or "")
    message = str(error.get("message") or "")
    status = job["status"]
    if status == "canceled":
        text = f"job '{job['id']}' was canceled before it ran"
        error_type = error_type or "JobCanceled"
    else:
        verb = "was stopped" if status == "stopped" else "failed"
        detail = f"{error_type}: {message}" if error_type else message or "no error recorded"
        text = f"job '{job['id']}' {verb}: {detail}"
    return JobFailed(
        text,
        job_id=job["id"],
        status=status,
        error_type=error_type,
        error_message=message,
        traceback=str(error.get("traceback") or ""),
    )


# ---- FlowerPowerProject methods --------------------------------------------------------

_project_lock = threading.Lock()


def _job_queue(self: FlowerPowerProject) -> JobQueueManager:
    """The project's :class:`JobQueueManager` (made on first use, then kept).

    Example:
        >>> project.job_queue.metrics()   # doctest: +SKIP
    """
    manager: JobQueueManager | None = self.__dict__.get("_fpq_job_queue")
    if manager is None:
        with _project_lock:
            manager = self.__dict__.get("_fpq_job_queue")
            if manager is None:
                manager = JobQueueManager(self)
                self.__dict__["_fpq_job_queue"] = manager
    return manager


def _project_enqueue(
    self: FlowerPowerProject, name: str, run_config: Any = None, priority: str | None = None,
    backend: str | None = None, **kwargs: Any,
) -> str:
    """Queues a run of pipeline ``name`` and returns the job id at once: a worker runs
    ``project.run(name, run_config, **kwargs)`` later. See
    :meth:`JobQueueManager.enqueue`.

    Example:
        >>> job_id = project.enqueue("etl", inputs={"day": "2026-07-01"})   # doctest: +SKIP
    """
    return _job_queue(self).enqueue(name, run_config, priority, backend, **kwargs)


def _project_result(
    self: FlowerPowerProject, name: str | None = None, id: str | None = None,
    wait: bool = False, timeout: float | dt.timedelta | None = None,
    backend: str | None = None,
) -> Any:
    """What a queued run returned (``id=``, else the pipeline's newest job). See
    :meth:`JobQueueManager.result`.

    Example:
        >>> project.result(id=job_id, wait=True)   # doctest: +SKIP
        {'report': ...}
    """
    return _job_queue(self).result(name, id=id, wait=wait, timeout=timeout, backend=backend)


def _project_get_queue_status(
    self: FlowerPowerProject, name: str | None = None, id: str | None = None,
    limit: int = 20, backend: str | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """One queued job (``id=``) or the project's jobs, newest first. See
    :meth:`JobQueueManager.get_queue_status`.

    Example:
        >>> project.get_queue_status("etl")[0]["status"]   # doctest: +SKIP
        'finished'
    """
    return _job_queue(self).get_queue_status(name, id=id, limit=limit, backend=backend)


PROJECT_METHODS: dict[str, Any] = {
    "enqueue": _project_enqueue,
    "result": _project_result,
    "get_queue_status": _project_get_queue_status,
    **PROJECT_SCHEDULE_METHODS,  # schedule, list_schedules, ... (scheduling.py)
    "job_queue": property(_job_queue),
}
"""What ``import flowerpower_job_queue`` adds to ``flowerpower.FlowerPowerProject``."""


def attach(cls: type) -> None:
    """Adds :data:`PROJECT_METHODS` to a class (``FlowerPowerProject``). A name the class
    already has for its own is left alone, so a FlowerPower that grows its own
    ``enqueue`` keeps it.

    Example:
        >>> from flowerpower import FlowerPowerProject
        >>> attach(FlowerPowerProject)
        >>> callable(FlowerPowerProject.enqueue)
        True
    """
    for attr, value in PROJECT_METHODS.items():
        current = cls.__dict__.get(attr)
        if current is None or getattr(current, "__fpq__", False) or (
            isinstance(current, property) and getattr(current.fget, "__fpq__", False)
        ):
            if not isinstance(value, property):
                value.__fpq__ = True
                value.__name__ = attr
                value.__qualname__ = f"{cls.__name__}.{attr}"
            else:
                value.fget.__fpq__ = True  # type: ignore[union-attr]
            setattr(cls, attr, value)
