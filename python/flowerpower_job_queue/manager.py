"""JobQueueManager: the Python API of the queue for one FlowerPower project.

It turns what a FlowerPower user has (a project, a pipeline name, a ``RunConfig`` or run
keyword arguments, datetimes) into what the C engine takes (a sparse JSON object of run
options, epoch seconds), and the engine's records back into Python (timezone-aware
datetimes, decoded results, typed exceptions). Everything else is the engine's, through
one connection type, ``_native.Queue``, whatever the backend: validation, storage,
retries, waiting, and the worker processes started with :meth:`start_workers`.

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
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self

from . import _native
from .exceptions import InvalidInput, JobNotFound, JobTimeout
from .records import TERMINAL, api_job, decode_result, job_failed, to_datetime
from .runconfig import (
    check_text,
    options_json,
    run_at,
    run_config_to_dict,
    run_kwargs_to_dict,
    seconds,
)
from .scheduling import SchedulingMixin
from .workers import worker_command

if TYPE_CHECKING:
    from flowerpower import FlowerPowerProject

__all__ = ["JobQueueManager", "project_dir_of"]

_WORKER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")

# Queue handles opened before a fork. A child must not use them (SQLite forbids carrying
# a connection across fork) nor close them (that would disturb the parent's files), so
# the child forgets them here and opens its own.
_inherited_handles: list[Any] = []


def project_dir_of(project: Any) -> str:
    """The absolute directory of a ``FlowerPowerProject`` or of a path.

    Raises:
        InvalidInput: something else, or a project on a remote file system.

    Example:
        >>> project_dir_of("/srv/etl/../etl")
        '/srv/etl'
    """
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


# enqueue's own keyword arguments; every other key of an enqueue_many item is a
# project.run keyword argument, as with enqueue's **run_kwargs.
_ENQUEUE_NAMES = ("pipeline_name", "run_config", "priority", "backend", "job_id", "at",
                  "delay", "timeout", "result_ttl", "failure_ttl", "depends_on", "on_success",
                  "on_failure", "on_stopped")


def _is_project(value: Any) -> bool:
    """A FlowerPowerProject (or anything with its pipeline manager), not a name."""
    return getattr(value, "pipeline_manager", None) is not None


def _job_id(value: Any) -> str:
    """A job id as the requirements write it: text, or an int (``id=1234``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return str(check_text("job id", value))


def _ttl(name: str, value: Any) -> float | str | None:
    """A retention for the engine: None (the project's), seconds, or text it parses."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InvalidInput(f"{name} {value!r} is not a retention: expected seconds, a timedelta, "
                       "text like '7d', 0 (keep none) or -1 (keep forever)")


def callback_refs(project_dir: str, **given: Any) -> dict[str, str]:
    """The references of the callbacks given (None ones left out), each checked: its shape
    by the engine, then that it imports as the worker will import it (with the project
    directory on the module path) and is the project's own code, which only Python can
    tell. Raises InvalidInput.

    Example:
        >>> callback_refs("/srv/etl", on_failure="alerts:page", on_success=None)  # doctest: +SKIP
        {'on_failure': 'alerts:page'}
    """
    if all(value is None for value in given.values()):
        return {}  # the common case, and a batch asks once per job
    # Imported here: `python -m flowerpower_job_queue.callback` imports this package
    # first, which must not have imported that module already.
    from . import callback

    refs = {}
    for which, value in given.items():
        if value is None:
            continue
        try:
            ref = callback.reference(value, which)
            _native.check_callback(which, ref)  # InvalidInput: not a reference
            callback.check_importable(ref, project_dir, which)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        refs[which] = ref
    return refs


class JobQueueManager(SchedulingMixin):
    """The queue of one FlowerPower project: enqueue runs, read their status and
    results, cancel and requeue them, start and stop workers, read metrics.

    Args:
        project: a ``FlowerPowerProject`` or the path of a project directory.
        backend: a backend name (``"sqlite"``, ``"rq"``, a C plugin's or a Python
            adapter's) or a URL (``"redis://host:6379/0"``, ``"sqlite:///abs/queue.db"``).
            None: the project's configuration (``FPQ_BACKEND``/``FPQ_URL``,
            ``conf/job_queue.yml``), else SQLite at ``<project>/.flowerpower/queue.db``.
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
        self.project_dir = project_dir_of(project)
        if backend is not None and "://" in backend:
            if url is not None:
                raise InvalidInput("give the URL as backend or as url, not both")
            backend, url = None, backend
        self.backend = backend
        self.url = url
        self._queues: dict[tuple[str | None, str | None], _native.Queue] = {}
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

    def queue(self, backend: str | None = None) -> _native.Queue:
        """The engine's connection to a backend (opened on first use, then kept).

        Raises:
            InvalidInput: an unknown backend name or a bad setting (its ``field`` names
                it).
            BackendUnavailable: the backend cannot be reached.

        Example:
            >>> JobQueueManager("/srv/my-project").queue().backend   # doctest: +SKIP
            'sqlite'
        """
        key = self._target(backend)
        with self._lock:
            if self._pid != os.getpid():
                _inherited_handles.extend(self._queues.values())
                self._queues = {}
                self._pid = os.getpid()
            handle = self._queues.get(key)
            if handle is None:
                handle = _native.Queue(self.project_dir, backend=key[0], url=key[1])
                self._queues[key] = handle
            return handle

    def close(self) -> None:
        """Closes every open connection; the next call opens them again.

        Example:
            >>> with JobQueueManager("/srv/my-project") as jq:        # doctest: +SKIP
            ...     jq.metrics()
        """
        with self._lock:
            handles, self._queues = self._queues, {}
            if self._pid != os.getpid():
                _inherited_handles.extend(handles.values())
                return
        for handle in handles.values():
            handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- producer --

    def enqueue(
        self,
        *args: Any,
        pipeline_name: str | None = None,
        run_config: Any = None,
        priority: str | None = None,
        backend: str | None = None,
        job_id: str | int | None = None,
        at: dt.datetime | None = None,
        delay: float | dt.timedelta | None = None,
        timeout: float | dt.timedelta | None = None,
        result_ttl: float | str | dt.timedelta | None = None,
        failure_ttl: float | str | dt.timedelta | None = None,
        depends_on: str | list[str] | tuple[str, ...] | None = None,
        on_success: str | Callable[..., Any] | None = None,
        on_failure: str | Callable[..., Any] | None = None,
        on_stopped: str | Callable[..., Any] | None = None,
        **run_kwargs: Any,
    ) -> str:
        """Queues one run of a pipeline and returns the job's id at once.

        Positional arguments are ``pipeline_name, run_config, priority, backend`` in that
        order, optionally after the project, as the requirements write it:
        ``jq.enqueue(project, "etl", run_config, priority="high")`` (the project must be
        this manager's).

        Args:
            pipeline_name: the pipeline, as ``project.run`` names it (``"etl"``, ``"a.b"``).
            run_config: a FlowerPower ``RunConfig``, a :class:`QueueRunConfig` or a dict of
                RunConfig fields; only the fields set are stored, so the pipeline's YAML
                still supplies the rest. Its ``retry`` block is the queue's retry policy.
            priority: ``"high"``, ``"medium"`` or ``"low"``; default: the run config's
                priority, else medium.
            backend: the backend for this job (name or URL); default: the run config's
                ``backend``, else the manager's.
            job_id: your own id (1-128 of ``A-Z a-z 0-9 _ -``); default: a new time-ordered UUID.
            at: when to run it (a datetime; naive means local time).
            delay: run it after this many seconds (or a timedelta); not with ``at``.
            timeout: stop the run after this long (seconds or a timedelta).
            result_ttl: keep the finished job (and its result) this long: seconds, a
                timedelta or text like ``"7d"``; ``0`` not at all, ``-1`` forever.
                Default: the project's ``result_ttl`` (``conf/job_queue.yml``), else 7 days.
            failure_ttl: the same for a failed or stopped job (``failure_ttl``).
            depends_on: a job id, or a list of them: this job waits (status
                ``deferred``) until they have all finished, then is queued; a parent that
                fails keeps it waiting (as RQ's ``depends_on``). Unknown ids are refused.
            on_success, on_failure, on_stopped: callbacks, as RQ's: a top-level function
                or its reference ``"package.module:function"``, run by the worker in the
                project's directory once the job finished, failed for good (after its
                last retry) or was stopped; see docs/python-api.md, "Callbacks". Refused
                unless it imports here (with the project directory on the module path).
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
        backend_name, native = self._enqueue_arguments(
            args, pipeline_name=pipeline_name, run_config=run_config, priority=priority,
            backend=backend, job_id=job_id, at=at, delay=delay, timeout=timeout,
            result_ttl=result_ttl, failure_ttl=failure_ttl, depends_on=depends_on,
            on_success=on_success, on_failure=on_failure, on_stopped=on_stopped,
            run_kwargs=run_kwargs)
        return str(self.queue(backend_name).enqueue(**native))

    def enqueue_many(self, jobs: Any) -> list[str]:
        """Queues a batch of pipeline runs in one go and returns their ids, in order.

        Each item is a dict of the keyword arguments :meth:`enqueue` takes
        (``pipeline_name``, ``run_config``, ``priority``, ``job_id``, ``at``, ``delay``,
        ``timeout``, ``result_ttl``, ``failure_ttl``, ``depends_on``, ``on_success``,
        ``on_failure``, ``on_stopped`` and ``project.run``
        keyword arguments such as ``inputs=``), read exactly as ``enqueue`` reads them.
        The engine checks every job before it stores any: one bad item raises and
        nothing is written. The batch is stored in one transaction on SQLite and one
        pipelined round trip on rq (RQ's records exactly as ``enqueue`` writes them).
        All items go to one backend (``backend=`` may name it, the same in each).

        Raises:
            InvalidInput: an item is bad (the message begins ``jobs[I]:``, its index) or
                two items ask for one ``job_id``; nothing is stored.
            JobQueueError: a ``job_id`` already taken (``jobs[I]:``, nothing stored);
                BackendUnavailable when the backend cannot be reached.

        Example:
            >>> jq.enqueue_many([{"pipeline_name": "etl", "inputs": {"day": d}}  # doctest: +SKIP
            ...                  for d in ("2026-07-01", "2026-07-02")])
            ['6f1c2a9e-...', '0b7d5e41-...']
        """
        if isinstance(jobs, (str, bytes, dict)) or not hasattr(jobs, "__iter__"):
            raise InvalidInput(f"jobs {jobs!r} is not a list of dicts of enqueue's arguments")
        batch: list[dict[str, Any]] = []
        chosen: str | None = None
        for i, item in enumerate(jobs):
            if not isinstance(item, dict):
                raise InvalidInput(f"jobs[{i}]: {item!r} is not a dict of enqueue's arguments")
            given = dict(item)
            known = {key: given.pop(key) for key in _ENQUEUE_NAMES if key in given}
            try:
                backend_name, native = self._enqueue_arguments((), run_kwargs=given, **known)
            except InvalidInput as error:
                raise InvalidInput(f"jobs[{i}]: {error}", code=error.code,
                                   field=error.field) from None
            if i and backend_name != chosen:
                raise InvalidInput(f"jobs[{i}]: backend {backend_name!r} differs from the "
                                   f"batch's {chosen!r}: expected one backend per batch")
            chosen = backend_name
            batch.append(native)
        return [str(i) for i in self.queue(chosen).enqueue_many(batch)]

    def _enqueue_arguments(
        self, args: tuple[Any, ...], *, pipeline_name: Any = None, run_config: Any = None,
        priority: Any = None, backend: Any = None, job_id: Any = None, at: Any = None,
        delay: Any = None, timeout: Any = None, result_ttl: Any = None,
        failure_ttl: Any = None, depends_on: Any = None, on_success: Any = None,
        on_failure: Any = None, on_stopped: Any = None, run_kwargs: dict[str, Any],
    ) -> tuple[str | None, dict[str, Any]]:
        """What enqueue hands the engine: (backend name or None, _native enqueue keyword
        arguments). The one reading of enqueue's arguments, for enqueue and a batch."""
        if args and _is_project(args[0]):
            self._check_project(args[0])
            args = args[1:]
        if len(args) > 4:
            raise InvalidInput(f"enqueue takes at most 4 positional arguments (pipeline_name, "
                               f"run_config, priority, backend); got {len(args)}")
        named = {"pipeline_name": pipeline_name, "run_config": run_config,
                 "priority": priority, "backend": backend}
        for key, value in zip(named, args, strict=False):
            if named[key] is not None:
                raise InvalidInput(f"{key} is given twice: as an argument and as {key}=")
            named[key] = value
        pipeline_name, run_config = named["pipeline_name"], named["run_config"]
        priority, backend = named["priority"], named["backend"]
        if not isinstance(pipeline_name, str):
            raise InvalidInput(
                f"pipeline name {pipeline_name!r} is not a string: expected e.g. 'etl'"
            )
        check_text("pipeline name", pipeline_name)
        job_id = _job_id(job_id) if job_id is not None else None
        config = run_config_to_dict(run_config)
        config_backend = config.pop("backend", None)
        if config_backend is not None and not isinstance(config_backend, str):
            raise InvalidInput(f"run_config backend {config_backend!r} is not a string")
        kwargs = run_kwargs_to_dict(run_kwargs)
        when = run_at(at, delay)
        limit = 0.0 if timeout is None else seconds("timeout", timeout)
        if limit == 0 and timeout is not None:
            raise InvalidInput("timeout 0 is not a time limit: give more than 0 seconds")
        payload = options_json(config)
        parents = [depends_on] if isinstance(depends_on, str) else depends_on
        hooks = callback_refs(self.project_dir, on_success=on_success, on_failure=on_failure,
                              on_stopped=on_stopped)
        return backend if backend is not None else config_backend, {
            "pipeline": pipeline_name, "run_config_json": payload,
            "run_kwargs_json": options_json(kwargs), "priority": priority,
            "job_id": job_id, "run_at": when, "timeout": limit,
            "result_ttl": _ttl("result_ttl", result_ttl),
            "failure_ttl": _ttl("failure_ttl", failure_ttl), "depends_on": parents, **hooks}

    def _check_project(self, project: Any) -> None:
        other = project_dir_of(project)
        if other != self.project_dir:
            raise InvalidInput(f"project {other!r} is not this manager's project "
                               f"{self.project_dir!r}: use that project's job_queue")

    # -- status and results --

    def get_queue_status(
        self,
        pipeline_name: str | None = None,
        id: str | int | None = None,
        limit: int = 20,
        backend: str | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """One job (``id=``) or this project's jobs, newest first (all, or one pipeline's;
        at most ``limit``).

        A job is a dict: ``id``, ``pipeline``, ``project``, ``status``, ``priority``,
        ``queue``, ``description``, ``run`` (the stored run options), times
        (``created_at``, ``enqueued_at``, ``started_at``, ``ended_at``, ``run_at``) as
        timezone-aware datetimes or None, ``attempts``, ``max_retries``, ``retry_delay``,
        ``jitter_factor``, ``timeout``, ``result_ttl``, ``failure_ttl``, ``worker``,
        ``error`` (a dict with ``type``, ``message``, ``traceback``, or None) and ``func``. The one-job form
        also has ``result``: the decoded return value once finished, else None.

        Raises:
            JobNotFound: no job has that id.
            InvalidInput: a malformed id or pipeline name.

        Example:
            >>> [j["status"] for j in jq.get_queue_status("etl", limit=3)]  # doctest: +SKIP
            ['queued', 'finished', 'failed']
        """
        handle = self.queue(backend)
        if id is not None:
            record = handle.get(_job_id(id))
            job = api_job(record)
            job["result"] = decode_result(record) if record["status"] == "finished" else None
            return job
        return [api_job(r) for r in handle.find(check_text("pipeline name", pipeline_name),
                                                limit)]

    def _latest_id(self, handle: _native.Queue, pipeline_name: str | None,
                   finished: bool) -> str:
        if pipeline_name is None:
            raise InvalidInput("which job? give a pipeline name or id=")
        return str(handle.latest(check_text("pipeline name", pipeline_name), finished)["id"])

    def result(
        self,
        pipeline_name: str | None = None,
        id: str | int | None = None,
        wait: bool = False,
        timeout: float | dt.timedelta | None = None,
        backend: str | None = None,
    ) -> Any:
        """What the job's ``project.run`` returned, decoded to the same Python types
        (``{final_var: value}``); the job is ``id=``, else the pipeline's newest finished
        run (with ``wait``: its newest run, whatever its state, waited for).

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
        handle = self.queue(backend)
        waiting = wait or timeout is not None
        job_id = _job_id(id) if id is not None else self._latest_id(
            handle, pipeline_name, finished=not waiting)
        if waiting:
            record = handle.wait(job_id, -1.0 if timeout is None else seconds("timeout", timeout))
        else:
            record = handle.get(job_id)
        if record["status"] == "finished":
            return decode_result(record)
        if record["status"] in TERMINAL:
            raise job_failed(record)
        return None

    def cancel(self, id: str | int, backend: str | None = None) -> None:
        """Cancels a job that has not started yet.

        Raises:
            JobNotFound: no such job.
            JobQueueError: (code ``ESTATE``) the job already started or ended.

        Example:
            >>> jq.cancel(job_id)   # doctest: +SKIP
        """
        self.queue(backend).cancel(_job_id(id))

    def requeue(self, id: str | int, backend: str | None = None) -> None:
        """Queues a failed, stopped or canceled job again, with its attempts reset.

        Raises:
            JobNotFound: no such job.
            JobQueueError: (code ``ESTATE``) the job is not failed, stopped or canceled.

        Example:
            >>> jq.requeue(job_id)   # doctest: +SKIP
        """
        self.queue(backend).requeue(_job_id(id))

    def logs(self, id: str | int, backend: str | None = None) -> str | None:
        """What the job's last run wrote (stdout, stderr and FlowerPower's log lines), as
        kept with the job: at most 64 KiB, its head and its last 4 KiB around a marker
        saying how much was cut; None when it has not run yet or wrote nothing.

        Raises:
            JobNotFound: no such job.

        Example:
            >>> print(jq.logs(job_id))   # doctest: +SKIP
            2026-12-01 02:00:01 | INFO | Running pipeline 'etl' ...
        """
        log = self.queue(backend).get(_job_id(id)).get("log")
        return None if log is None else str(log)

    def prune(self, backend: str | None = None) -> int:
        """Deletes ended jobs whose ``result_ttl`` / ``failure_ttl`` has passed, now
        rather than at a worker's next maintenance; returns how many went (``fpq
        prune``).

        Example:
            >>> jq.prune()   # doctest: +SKIP
            0
        """
        return int(self.queue(backend).prune())

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
        slots: int | None = None,
        quiet: bool = False,
        processes: int = 1,
        **popen_kwargs: Any,
    ) -> list[subprocess.Popen[bytes]]:
        """Starts worker processes for this project and returns them; they run until
        stopped (:meth:`stop_workers`, SIGTERM) or, with ``burst``, until nothing is left
        to do. Each is the engine's worker (``fpq worker start``; for a backend written in
        Python, the same worker in a Python process that can call it).

        ``count`` means what ``fpq worker start --count`` means: how many jobs one worker
        runs at once (its executors). ``processes`` starts that many such workers.

        Args:
            count: jobs each worker runs at once (``--count``).
            backend: the backend they serve (name or URL); default: the manager's.
            burst: exit once the queues are empty.
            isolation: ``"fork"`` (a fresh child process per job) or ``"none"``.
            queues: exact queue names in strict priority order (default: the project's three,
                ``NAME.high,NAME.default,NAME.low`` on rq, else ``high,default,low``).
            name: worker name (``name-1``, ``name-2``, ... when processes > 1).
            slots: the former name of ``count``; give one of them.
            processes: worker processes to start, each with ``count`` executors.
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
        if slots is not None:
            if count != 1 and count != slots:
                raise InvalidInput(f"count {count!r} and slots {slots!r} are one setting "
                                   "(jobs a worker runs at once): give count")
            count = slots
        if not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 256):
            raise InvalidInput(f"count {count!r} is not a number from 1 to 256")
        if not (isinstance(processes, int) and not isinstance(processes, bool)
                and 1 <= processes <= 256):
            raise InvalidInput(f"processes {processes!r} is not a number from 1 to 256")
        if isolation not in ("fork", "none"):
            raise InvalidInput(f"isolation {isolation!r} is not known: expected fork or none")
        if name is not None and not _WORKER_NAME.fullmatch(name):
            raise InvalidInput(
                f"worker name {name!r} is not valid: use 1-100 of A-Z a-z 0-9 _ - ."
            )
        target_backend, target_url = self._target(backend)
        program, env = worker_command(self.project_dir, target_backend, target_url)
        argv = [*program, "--project", self.project_dir, "--isolation", isolation,
                "--count", str(count)]
        argv += ["--backend", target_backend] if target_backend else []
        if queues is not None:
            argv += ["--queues", queues if isinstance(queues, str) else ",".join(queues)]
        argv += ["--burst"] if burst else []
        argv += ["--quiet"] if quiet else []
        env.update(popen_kwargs.pop("env", None) or {})
        # The URL may hold a password: it goes through the environment (FPQ_URL, which the
        # engine reads as it reads --url), never onto a command line `ps` shows.
        if target_url:
            env["FPQ_URL"] = target_url
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        procs = []
        for i in range(processes):
            worker_argv = list(argv)
            if name is not None:
                worker_argv += ["--name", name if processes == 1 else f"{name}-{i + 1}"]
            procs.append(subprocess.Popen(worker_argv, env=env, **popen_kwargs))
        return procs

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
        handle = self.queue(backend)
        # All: this project's workers (its queues), not every worker on a shared Redis.
        names = [w["name"] for w in handle.workers()
                 if (w["ours"] if name is None else w["name"] == name)]
        if name is not None and not names:
            raise JobNotFound(f"no live worker named {name!r}")
        for worker in names:
            handle.worker_command(worker, "shutdown-now" if now else "shutdown")
        if wait:
            deadline = time.monotonic() + seconds("timeout", timeout)
            while True:
                left = sorted({w["name"] for w in handle.workers()} & set(names))
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
        """Counts per queue and status, the age of the oldest queued job, live workers,
        throughput and run times: the document ``fpq metrics --json`` prints.

        Example:
            >>> jq.metrics()["queues"][0]["queued"]   # doctest: +SKIP
            3
        """
        return dict(json.loads(self.queue(backend).metrics_json()))

    def workers(self, backend: str | None = None) -> list[dict[str, Any]]:
        """Live workers: name, hostname, pid, state, queues, current_job, birth and
        last_heartbeat (timezone-aware datetimes), successful, failed, busy_seconds.

        Example:
            >>> [w["state"] for w in jq.workers()]   # doctest: +SKIP
            ['busy']
        """
        out = []
        for worker in self.queue(backend).workers():
            worker["birth"] = to_datetime(worker["birth"])
            worker["last_heartbeat"] = to_datetime(worker["last_heartbeat"])
            out.append(worker)
        return out
