"""Queue backends written in Python: :class:`QueueAdapter`, :func:`register_adapter`.

A backend stores records; the engine decides everything else. A :class:`QueueAdapter`
subclass implements the same methods a C backend does (``struct fpq_backend_methods`` in
``include/fpq_backend.h``), one for one, and registering it puts it into the engine's
backend registry. From then on the engine calls it exactly as it calls the built-in
``sqlite`` and ``rq`` backends: it validates every job and schedule, makes ids, stamps
times, applies the run config and the pipeline YAML's retry policy, decides retries with
their backoff and jitter, waits for results, runs the scheduler with its leader lease and
computes metrics. An adapter never does any of that; it only keeps records and moves them
between states atomically. The same adapter serves the Python API, ``flowerpower queue``,
the engine's workers (``flowerpower queue worker start``, in a Python process) and its
schedulers.

Register a class in code with :func:`register_adapter`, or name it in the project's
``conf/job_queue.yml`` (the engine imports it on first use):

.. code-block:: yaml

    backend: jsonl
    backends:
      jsonl:
        adapter: "jsonl_adapter:JsonlAdapter"   # module:Class
        path: /srv/etl/jobs.jsonl               # other keys: keyword arguments

Records are plain dicts: a job as ``_native.Queue.get`` returns it (see
:data:`~flowerpower_job_queue.records.JOB_FIELDS`: epoch-second floats or None for times,
``status``/``priority``/``queue`` as names, ``run_json``/``result_json``/``error_json`` as
JSON text), a schedule as ``Queue.schedule_get`` returns it, a worker as
``Queue.workers()`` lists it. Store them as given and give them back as stored.

Errors: raise the package's exceptions, whose ``code`` tells the engine what happened:
:class:`~flowerpower_job_queue.exceptions.JobNotFound` (``ENOTFOUND``),
``JobQueueError(message, code=...)`` with ``EEXIST`` (a taken id), ``ESTATE`` (a job in
the wrong state), ``ELEASE`` (a job this worker no longer holds), and
:class:`~flowerpower_job_queue.exceptions.BackendUnavailable` (``EUNAVAIL``). Any other
exception is reported as a backend error with its type and message.

Threads: the engine may call one adapter object from several threads (a worker takes
jobs on a thread of its own), one call at a time per object; it opens one object per
connection, so a process may hold several. Make each state change atomic across
processes: several workers, producers and schedulers share the storage.

Example (``examples/adapters/jsonl_adapter.py`` is a complete one):
    >>> from flowerpower_job_queue import JobQueueManager, register_adapter
    >>> from jsonl_adapter import JsonlAdapter                        # doctest: +SKIP
    >>> register_adapter("jsonl", JsonlAdapter)                       # doctest: +SKIP
    >>> JobQueueManager("/srv/etl", backend="jsonl").enqueue("hello") # doctest: +SKIP
    '5a0f3c6e-4f0e-4c53-9c1e-0f3d2b8a7c11'
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from . import _native
from .exceptions import InvalidInput, JobQueueError

__all__ = [
    "QueueAdapter",
    "adapter_class",
    "load_adapter",
    "register_adapter",
    "registered_adapters",
]

Record = dict[str, Any]


class QueueAdapter:
    """A storage backend for the engine, written in Python.

    The engine creates one object per connection with the project directory, the
    backend's URL ("" when none is configured), ``create`` (make the storage if it does
    not exist; read-only commands pass False) and the other keys of the backend's section
    of ``conf/job_queue.yml`` as keyword arguments (strings; ``FPQ_BACKENDS_NAME_KEY``
    overrides ``key``).

    Every method below has the meaning of the C method of the same name in
    ``include/fpq_backend.h``. Those not overridden raise ``ENOTSUP``, so a minimal
    adapter may leave out schedules, leases and run records: the engine then says
    "backend 'NAME' does not support schedules" where they are used.

    Example:
        >>> class Nowhere(QueueAdapter):
        ...     def get(self, id):
        ...         return None
        >>> Nowhere("/srv/etl", "", create=False).get("j1") is None
        True
    """

    def __init__(self, project_dir: str, url: str = "", *, create: bool = True,
                 **options: str) -> None:
        self.project_dir = project_dir
        self.url = url
        self.create = create
        self.options = options

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project_dir={self.project_dir!r}, url={self.url!r})"

    def close(self) -> None:
        """Lets go of files and connections (the object is not used afterwards)."""

    # ---- the engine's rules, lent to adapters ----

    @staticmethod
    def retry_decision(job: Record, now: float) -> tuple[str, float | None]:
        """The engine's retry rule for a job whose worker died (call it in
        :meth:`maintain`): ``("failed", None)`` once its attempts are used up, else
        ``("scheduled", run_at)`` with the jittered backoff, or ``("queued", None)``.

        Example:
            >>> QueueAdapter.retry_decision({"id": "j1", "status": "started", "attempts": 2,
            ...                              "max_retries": 1}, 0.0)
            ('failed', None)
        """
        status, run_at = _native.retry_decision(job, now)
        return status, run_at

    # ---- jobs ----

    def enqueue(self, job: Record) -> None:
        """Stores a validated job (id set; status queued or scheduled). A taken id raises
        ``JobQueueError(..., code="EEXIST")``."""
        raise _unsupported(self, "enqueue")

    def get(self, id: str) -> Record | None:
        """The job with that id, or None."""
        raise _unsupported(self, "get")

    def find(self, project: str, pipeline: str | None, limit: int) -> list[Record]:
        """Jobs of ``project`` (all, or one pipeline's), newest first (by created_at), at
        most ``limit``."""
        raise _unsupported(self, "find")

    def cancel(self, id: str, now: float) -> None:
        """queued, scheduled or deferred -> canceled (ended_at = now). Raises JobNotFound,
        or ESTATE for a job in another state."""
        raise _unsupported(self, "cancel")

    def requeue(self, id: str, now: float) -> None:
        """failed, stopped or canceled -> queued at the back of its queue, attempts 0,
        result and error cleared. Raises JobNotFound, or ESTATE."""
        raise _unsupported(self, "requeue")

    def counts(self) -> list[Record]:
        """Per queue: ``{"queue": name, "counts": {status: n, ...},
        "oldest_queued_at": epoch or None}``."""
        raise _unsupported(self, "counts")

    def take(self, worker: str, queues: Sequence[str], lease_seconds: float,
             now: float) -> Record | None:
        """Atomically: the first due job of the first non-empty queue in ``queues``
        (strict order; FIFO by enqueued_at within one), now started by ``worker``
        (attempts + 1, started_at = now, worker set) with a lease until
        ``now + lease_seconds``; None when none is due. Never waits: the engine looks
        again."""
        raise _unsupported(self, "take")

    def extend(self, id: str, worker: str, lease_until: float) -> None:
        """Moves the lease of a started job ``worker`` holds to ``lease_until``. Raises
        ELEASE when the job is not started by that worker any more."""
        raise _unsupported(self, "extend")

    def finish(self, change: Record) -> None:
        """Records the outcome the engine decided for a job ``change["worker"]`` holds
        (else raise ELEASE): ``status`` is finished (store ``result_json``), failed or
        stopped (store ``error_json``; ended_at = ``now``), scheduled (a retry: due at
        ``run_at``, keep ``error_json``) or queued (a retry without delay, or a job put
        back: ``uncount_attempt`` True means attempts - 1). Also keeps a run record for
        :meth:`ended_since` when the status is finished, failed or stopped. Keys: id,
        worker, queue, status, run_at, uncount_attempt, result_json, error_json, duration,
        now, result_ttl, pipeline, started_at, failure_ttl (the retentions: -1 forever,
        0 none, else seconds)."""
        raise _unsupported(self, "finish")

    def maintain(self, now: float) -> int:
        """Due scheduled jobs -> queued; started jobs whose lease ended before ``now``
        (their worker died) -> as :meth:`retry_decision` says, with an error
        ``{"type": "WorkerLost", ...}`` when failed. Returns how many jobs changed."""
        raise _unsupported(self, "maintain")

    # ---- workers ----

    def worker_beat(self, info: Record, ttl: float, now: float) -> None:
        """Registers or refreshes a worker record; it expires ``ttl`` seconds after
        ``now`` unless beaten again."""
        raise _unsupported(self, "worker_beat")

    def worker_gone(self, name: str, now: float) -> None:
        """Removes a worker record (a clean stop)."""
        raise _unsupported(self, "worker_gone")

    def workers(self, now: float) -> list[Record]:
        """Worker records that have not expired at ``now``."""
        raise _unsupported(self, "workers")

    def worker_command(self, name: str, command: str) -> None:
        """Queues a command ("shutdown", "stop-job:ID", ...) for the worker ``name``."""
        raise _unsupported(self, "worker_command")

    def worker_next_command(self, name: str) -> str | None:
        """Takes the oldest pending command for ``name``; None when there is none."""
        raise _unsupported(self, "worker_next_command")

    # ---- schedules, leases, run records ----

    def schedule_put(self, schedule: Record) -> None:
        """Stores a validated schedule, replacing any with its id."""
        raise _unsupported(self, "schedule_put")

    def schedule_get(self, id: str) -> Record | None:
        """The schedule with that id, or None."""
        raise _unsupported(self, "schedule_get")

    def schedule_list(self, project: str | None, due: int, limit: int) -> list[Record]:
        """``due`` 0: every schedule of ``project`` (None: all projects), by id. ``due`` >
        0: unpaused ones with 0 < next_fire <= due, soonest first, at most ``limit``."""
        raise _unsupported(self, "schedule_list")

    def schedule_remove(self, id: str) -> None:
        """Deletes a schedule; raises JobNotFound when there is none."""
        raise _unsupported(self, "schedule_remove")

    def schedule_set_paused(self, id: str, paused: bool, next_fire: int) -> None:
        """Sets the paused flag, and next_fire when it is >= 0; JobNotFound when absent."""
        raise _unsupported(self, "schedule_set_paused")

    def schedule_advance(self, change: Record) -> None:
        """Compare-and-set: when the schedule's next_fire still equals
        ``change["expect_next"]``, set next_fire and last_fire and add fired and skipped
        to its counters; else raise ESTATE (another scheduler got there first).
        JobNotFound when absent."""
        raise _unsupported(self, "schedule_advance")

    def lease_acquire(self, name: str, owner: str, now: float, ttl: float) -> str:
        """Atomically takes the named lease for ``owner`` until ``now + ttl`` when it is
        free, expired or ``owner``'s already; returns the holder afterwards (``owner``
        when taken)."""
        raise _unsupported(self, "lease_acquire")

    def lease_release(self, name: str, owner: str) -> None:
        """Frees the lease if ``owner`` holds it."""
        raise _unsupported(self, "lease_release")

    def ended_since(self, since: float, limit: int) -> list[Record]:
        """Runs that ended at or after ``since``, newest first, at most ``limit``:
        ``{"pipeline", "queue", "status", "started_at", "ended_at"}``. Keep at least the
        last 15 minutes' worth."""
        raise _unsupported(self, "ended_since")


def _unsupported(adapter: QueueAdapter, method: str) -> JobQueueError:
    name = type(adapter).__name__
    return JobQueueError(f"backend adapter {name} does not support {method}", code="ENOTSUP")


def register_adapter(name: str, cls: type[QueueAdapter]) -> None:
    """Makes ``cls`` the engine's backend ``name`` in this process (a name registered
    again gets the new class). Worker processes started by
    :meth:`JobQueueManager.start_workers` import it again by its module and name, so
    define it in an importable module, or name it in ``conf/job_queue.yml`` instead.

    Raises:
        InvalidInput: a name that is not 1-63 of ``A-Z a-z 0-9 _ -``, the name of a
            built-in or C plugin backend, or a class that is not a QueueAdapter.

    Example:
        >>> class Nowhere(QueueAdapter): ...
        >>> register_adapter("nowhere", Nowhere)
        >>> "nowhere" in registered_adapters()
        True
    """
    if not (isinstance(cls, type) and issubclass(cls, QueueAdapter)):
        raise InvalidInput(f"adapter {cls!r} for backend {name!r} is not a QueueAdapter class",
                           field="adapter")
    if not isinstance(name, str):
        raise InvalidInput(f"backend name {name!r} is not a string", field="backend")
    _native.register_backend(name, cls)


def registered_adapters() -> list[str]:
    """The engine's backend names in this process, sorted: built-in, C plugins loaded so
    far, and Python adapters registered here.

    Example:
        >>> {"sqlite", "rq"} <= set(registered_adapters())
        True
    """
    return sorted(_native.backend_names())


def adapter_class(spec: str, backend: str = "") -> type[QueueAdapter]:
    """Imports a ``"pkg.module:Class"`` adapter spec and returns the class.

    Raises:
        InvalidInput: a malformed spec, a module that does not import, or something other
            than a QueueAdapter class.

    Example:
        >>> adapter_class("flowerpower_job_queue.backends:QueueAdapter").__name__
        'QueueAdapter'
    """
    where = f"backend {backend!r}: adapter {spec!r}" if backend else f"adapter {spec!r}"
    module_name, sep, attr = spec.partition(":")
    if not (sep and module_name and attr):
        raise InvalidInput(f"{where} is not valid: expected 'pkg.module:Class'", field="adapter")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the setting's fault
        raise InvalidInput(f"{where} cannot be imported: {type(exc).__name__}: {exc}",
                           field="adapter") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, QueueAdapter)):
        raise InvalidInput(f"{where} is not a QueueAdapter class", field="adapter")
    return obj


def load_adapter(name: str, spec: str) -> None:
    """The engine's loader for ``backends.NAME.adapter: SPEC``: imports the class and
    registers it as backend ``name``. The engine calls it the first time a Queue of this
    process resolves to ``name``.

    Example:
        >>> load_adapter("base", "flowerpower_job_queue.backends:QueueAdapter")
        >>> "base" in registered_adapters()
        True
    """
    register_adapter(name, adapter_class(spec, name))


def importable_name(cls: type) -> str | None:
    """``"module:QualName"`` of a class another process can import, else None (a class
    defined in ``__main__`` or inside a function).

    Example:
        >>> importable_name(QueueAdapter)
        'flowerpower_job_queue.backends:QueueAdapter'
    """
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        return None
    return f"{module}:{qualname}"
