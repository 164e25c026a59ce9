"""Queue backends as Python objects: the :class:`QueueAdapter` ABC, the registry of
adapters by backend name, and the native backends (SQLite, RQ) wrapped as adapters.

:class:`~flowerpower_job_queue.JobQueueManager` makes every call through an adapter, so a
backend written in Python serves the Python API and ``flowerpower queue`` alike. The
native ones (:class:`SqliteAdapter`, :class:`RqAdapter` and C plugins, all
:class:`NativeAdapter`) pass each call to the C engine (``_native.Queue``); the
engine's own workers (``fpq worker start``) run their jobs.

An adapter speaks in *job records*: the dicts ``_native.Queue.get`` returns (see
:data:`JOB_FIELDS`): epoch-second floats for times, the sparse run options as JSON text
in ``run_json``, the result as codec JSON text in ``result_json`` and the error as
``{"type", "message", "traceback"}`` JSON text in ``error_json``. The manager turns
them into what its callers see.

Which adapter serves a project is decided by backend *name*: the ``backend=`` argument
(``--backend``), else ``FPQ_BACKEND``, else ``backend:`` in ``conf/job_queue.yml``. A
name registered with :func:`register_adapter`, or configured as

.. code-block:: yaml

    backend: jsonl
    backends:
      jsonl:
        adapter: "jsonl_adapter:JsonlAdapter"   # module:Class, imported on first use
        path: /srv/etl/jobs.jsonl               # other keys: keyword arguments

picks a Python adapter; anything else goes to the engine, which resolves it exactly as
``fpq`` does (URL schemes, ``FPQ_URL``, ``redis_url``, C plugins under
``backends.NAME.library``). An unknown name fails with :class:`InvalidInput` listing
every registered name.

Example:
    >>> from flowerpower_job_queue.adapters import registered_adapters
    >>> registered_adapters()
    ['rq', 'sqlite']
"""

from __future__ import annotations

import abc
import importlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from . import _native
from .exceptions import InvalidInput, JobNotFound, JobQueueError, JobTimeout

__all__ = [
    "JOB_FIELDS",
    "PRIORITY_QUEUES",
    "TASK_FUNC",
    "TERMINAL",
    "NativeAdapter",
    "QueueAdapter",
    "RqAdapter",
    "SqliteAdapter",
    "WorkerHandle",
    "adapter_class",
    "check_enqueue",
    "job_record",
    "open_adapter",
    "register_adapter",
    "registered_adapters",
    "split_run_config",
    "state_error",
    "wait_for_end",
]

JOB_FIELDS = (
    "id", "project", "pipeline", "run_json", "queue", "priority", "status", "description",
    "created_at", "enqueued_at", "started_at", "ended_at", "run_at", "attempts",
    "max_retries", "retry_delay", "jitter_factor", "timeout", "result_ttl", "worker",
    "result_json", "error_json", "func",
)
"""The keys of a job record, in the engine's order."""

TERMINAL = frozenset({"finished", "failed", "stopped", "canceled"})
"""Statuses a job leaves only by requeue."""

PRIORITY_QUEUES = {"high": "high", "medium": "default", "low": "low"}
"""Priority -> queue name (RQ's)."""

TASK_FUNC = "flowerpower_job_queue.tasks.run_pipeline"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")


class WorkerHandle(Protocol):
    """What :meth:`QueueAdapter.start_workers` returns per worker: a
    ``subprocess.Popen`` for the engine's workers, anything with these methods for
    others (a thread, say).

    Example:
        >>> import subprocess, sys
        >>> handle: WorkerHandle = subprocess.Popen([sys.executable, "-c", "pass"])
        >>> handle.wait(10)
        0
    """

    def wait(self, timeout: float | None = None) -> int: ...

    def poll(self) -> int | None: ...


class QueueAdapter(abc.ABC):
    """A queue backend: stores jobs, hands them to workers, keeps their results.

    Subclass it, implement the abstract methods, and register the class under a backend
    name (:func:`register_adapter`, or ``backends: {NAME: {adapter: "pkg.mod:Class"}}`` in
    ``conf/job_queue.yml``). The manager validates and converts its callers' arguments
    first, so an adapter receives plain data: a pipeline name, the sparse run options as a
    JSON-safe dict of FlowerPower ``RunConfig`` fields, floats for times.

    Errors are the package's exceptions: :class:`InvalidInput` for bad input (nothing
    stored), :class:`JobNotFound`, :class:`BackendUnavailable`, :class:`JobTimeout`, and
    :class:`JobQueueError` with ``code="ESTATE"`` for a job in the wrong state.

    Args:
        project_dir: the FlowerPower project's absolute directory.
        url: the backend's URL, when one was given (flag, ``FPQ_URL``, ``url:``).
        **options: the other keys of the backend's section in ``conf/job_queue.yml``.

    Example:
        >>> class Nothing(QueueAdapter):                        # doctest: +SKIP
        ...     def enqueue_task(self, pipeline, run_config, **kw): ...
        ...     # ... and the other abstract methods
        >>> register_adapter("nothing", Nothing)                # doctest: +SKIP
    """

    name: ClassVar[str] = ""
    """The backend name the class was registered under."""

    def __init__(self, project_dir: str, url: str | None = None, **options: Any) -> None:
        self.project_dir = project_dir
        self.url = url or ""
        self.options = options

    @property
    def backend(self) -> str:
        """The backend's name, e.g. ``"sqlite"``.

        Example:
            >>> SqliteAdapter("/srv/etl").backend   # doctest: +SKIP
            'sqlite'
        """
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project_dir={self.project_dir!r}, url={self.url!r})"

    # -- producer --

    @abc.abstractmethod
    def enqueue_task(
        self,
        pipeline: str,
        run_config: Mapping[str, Any],
        *,
        priority: str | None = None,
        job_id: str | None = None,
        run_at: float = 0.0,
        timeout: float = 0.0,
    ) -> str:
        """Stores one run of ``pipeline`` and returns its job id.

        Args:
            run_config: the caller's sparse RunConfig fields (``inputs``, ``executor``,
                ``retry``, ``priority``...); :func:`split_run_config` splits them into
                run() keyword arguments and the retry policy.
            priority: ``"high"``, ``"medium"``, ``"low"``, or None for the run config's
                (else medium).
            job_id: the caller's id, or None for a new uuid4.
            run_at: epoch seconds to run at; 0 means now.
            timeout: seconds a run may take; 0 means no limit.
        """

    # -- status and results --

    @abc.abstractmethod
    def get_status(self, id: str) -> dict[str, Any]:
        """The job's record now. Raises JobNotFound."""

    @abc.abstractmethod
    def get_result(self, id: str, timeout: float | None = None) -> dict[str, Any]:
        """The job's record once it has ended (:data:`TERMINAL`).

        ``timeout`` None: do not wait, return the record as it is; negative: wait as long
        as it takes; else wait at most that many seconds, then raise JobTimeout
        (``"job 'ID' is still queued after 0.5 seconds"``). Raises JobNotFound.
        """

    @abc.abstractmethod
    def find(self, pipeline: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """This project's jobs (all, or one pipeline's), newest first, at most ``limit``."""

    @abc.abstractmethod
    def cancel(self, id: str) -> None:
        """Cancels a job that has not started. Raises JobNotFound, or JobQueueError with
        code ESTATE when it has."""

    @abc.abstractmethod
    def requeue(self, id: str) -> None:
        """Queues a failed, stopped or canceled job again with its attempts reset. Raises
        JobNotFound, or JobQueueError with code ESTATE for a job in another state."""

    # -- workers and metrics --

    @abc.abstractmethod
    def start_workers(
        self,
        count: int = 1,
        *,
        burst: bool = False,
        isolation: str = "fork",
        queues: Sequence[str] | None = None,
        name: str | None = None,
        slots: int = 1,
        quiet: bool = False,
        **kwargs: Any,
    ) -> list[WorkerHandle]:
        """Starts ``count`` workers with ``slots`` jobs at once each (the manager checked
        the arguments) and returns them; with ``burst`` they end when nothing is left."""

    @abc.abstractmethod
    def list_workers(self) -> list[dict[str, Any]]:
        """Live workers: ``name``, ``hostname``, ``pid``, ``state``, ``queues`` (list),
        ``current_job``, ``birth``, ``last_heartbeat`` (epoch seconds), ``successful``,
        ``failed``, ``busy_seconds``."""

    @abc.abstractmethod
    def stop_workers(self, name: str | None = None, now: bool = False) -> list[str]:
        """Asks every live worker (or the one named) to stop and returns the names asked;
        ``now``: running jobs go back to the queue at once. Raises JobNotFound for a name
        no live worker has."""

    @abc.abstractmethod
    def metrics(self) -> dict[str, Any]:
        """``{"backend": NAME, "queues": [{"name", "queued", "started", ...,
        "oldest_queued_age_seconds"}], "workers": [...]}``, as ``fpq metrics --json``."""

    def close(self) -> None:
        """Lets go of connections and files; the adapter may be used again afterwards.

        Example:
            >>> SqliteAdapter("/srv/etl").close()   # doctest: +SKIP
        """


# ---- the native backends -----------------------------------------------------------------


class NativeAdapter(QueueAdapter):
    """A backend of the C engine: ``sqlite``, ``rq`` or a C plugin. Resolves the backend
    as ``fpq`` does (flag > environment > conf file > default); connects on first use.

    Args:
        backend: the backend name, or None for the configured one.

    Example:
        >>> NativeAdapter("/srv/etl").queue.backend   # doctest: +SKIP
        'sqlite'
    """

    name = ""

    def __init__(self, project_dir: str, url: str | None = None, *, backend: str | None = None,
                 **options: Any) -> None:
        super().__init__(project_dir, url, **options)
        self.backend_flag = backend or None
        self.url_flag = url or None
        self._handle: _native.Queue | None = None
        self._lock = threading.Lock()

    @property
    def queue(self) -> _native.Queue:
        """The engine's handle (opened on first use, then kept).

        Example:
            >>> SqliteAdapter("/srv/etl").queue.url   # doctest: +SKIP
            'sqlite:///srv/etl/.flowerpower/queue.db'
        """
        with self._lock:
            if self._handle is None:
                try:
                    self._handle = _native.Queue(self.project_dir, backend=self.backend_flag,
                                                 url=self.url_flag)
                except InvalidInput as exc:
                    raise _with_python_names(exc, self.project_dir) from None
            return self._handle

    @property
    def backend(self) -> str:
        return self.queue.backend

    def enqueue_task(self, pipeline: str, run_config: Mapping[str, Any], *,
                     priority: str | None = None, job_id: str | None = None,
                     run_at: float = 0.0, timeout: float = 0.0) -> str:
        payload = (json.dumps(run_config, separators=(",", ":"), allow_nan=False)
                   if run_config else None)
        return self.queue.enqueue(pipeline, run_config_json=payload, priority=priority,
                                  job_id=job_id, run_at=run_at, timeout=timeout)

    def get_status(self, id: str) -> dict[str, Any]:
        return self.queue.get(id)

    def get_result(self, id: str, timeout: float | None = None) -> dict[str, Any]:
        if timeout is None:
            return self.queue.get(id)
        return self.queue.wait(id, timeout)

    def find(self, pipeline: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.queue.find(pipeline, limit)

    def cancel(self, id: str) -> None:
        self.queue.cancel(id)

    def requeue(self, id: str) -> None:
        self.queue.requeue(id)

    def start_workers(self, count: int = 1, *, burst: bool = False, isolation: str = "fork",
                      queues: Sequence[str] | None = None, name: str | None = None,
                      slots: int = 1, quiet: bool = False,
                      **popen_kwargs: Any) -> list[WorkerHandle]:
        """Starts ``count`` ``fpq worker start`` processes; ``popen_kwargs`` go to
        ``subprocess.Popen``. The executors use this interpreter unless ``FPQ_PYTHON``
        says otherwise."""
        from .manager import find_fpq

        argv = [find_fpq(), "worker", "start", "--project", self.project_dir,
                "--isolation", isolation, "--count", str(slots)]
        if self.backend_flag:
            argv += ["--backend", self.backend_flag]
        if self.url_flag:
            argv += ["--url", self.url_flag]
        if queues is not None:
            argv += ["--queues", ",".join(queues)]
        if burst:
            argv.append("--burst")
        if quiet:
            argv.append("--quiet")
        env = dict(popen_kwargs.pop("env", None) or os.environ)
        # The executors must import this package: use this interpreter unless told not to.
        env.setdefault("FPQ_PYTHON", sys.executable)
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        procs: list[WorkerHandle] = []
        for i in range(count):
            worker_argv = list(argv)
            if name is not None:
                worker_argv += ["--name", name if count == 1 else f"{name}-{i + 1}"]
            procs.append(subprocess.Popen(worker_argv, env=env, **popen_kwargs))
        return procs

    def list_workers(self) -> list[dict[str, Any]]:
        return self.queue.workers()

    def stop_workers(self, name: str | None = None, now: bool = False) -> list[str]:
        handle = self.queue
        names = [w["name"] for w in handle.workers() if name is None or w["name"] == name]
        if name is not None and not names:
            raise JobNotFound(f"no live worker named {name!r}")
        for worker in names:
            handle.worker_command(worker, "shutdown-now" if now else "shutdown")
        return names

    def metrics(self) -> dict[str, Any]:
        return dict(json.loads(self.queue.metrics_json()))

    def close(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


class SqliteAdapter(NativeAdapter):
    """The embedded SQLite backend (``sqlite:///abs/path.db``; default
    ``<project>/.flowerpower/queue.db``).

    Example:
        >>> SqliteAdapter("/srv/etl").enqueue_task("hello", {"inputs": {"x": 1}})  # doctest: +SKIP
        '6f1c2a9e-4d1b-4c53-9c1e-0f3d2b8a7c11'
    """

    name = "sqlite"

    def __init__(self, project_dir: str, url: str | None = None, **options: Any) -> None:
        super().__init__(project_dir, url, backend="sqlite", **options)


class RqAdapter(NativeAdapter):
    """The Redis backend in RQ's wire format (``redis://host:port/db``).

    Example:
        >>> RqAdapter("/srv/etl", "redis://127.0.0.1:6379/0").metrics()["backend"]  # doctest: +SKIP
        'rq'
    """

    name = "rq"

    def __init__(self, project_dir: str, url: str | None = None, **options: Any) -> None:
        super().__init__(project_dir, url, backend="rq", **options)


# ---- the registry ------------------------------------------------------------------------

_registry: dict[str, type[QueueAdapter]] = {"sqlite": SqliteAdapter, "rq": RqAdapter}
_registry_lock = threading.Lock()


def register_adapter(name: str, cls: type[QueueAdapter]) -> None:
    """Makes ``cls`` the adapter of backend ``name`` in this process (a name registered
    again gets the new class). The native names ``sqlite`` and ``rq`` cannot be taken.

    Raises:
        InvalidInput: a name that is not 1-63 of ``A-Z a-z 0-9 _ -``, a native name, or a
            class that is not a QueueAdapter.

    Example:
        >>> class Nowhere(QueueAdapter): ...                    # doctest: +SKIP
        >>> register_adapter("nowhere", Nowhere)                # doctest: +SKIP
        >>> JobQueueManager("/srv/etl", backend="nowhere")     # doctest: +SKIP
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"adapter name {name!r} is not valid: use 1-63 of A-Z a-z 0-9 _ -")
    if not (isinstance(cls, type) and issubclass(cls, QueueAdapter)):
        raise InvalidInput(f"adapter {cls!r} for backend {name!r} is not a QueueAdapter class")
    with _registry_lock:
        current = _registry.get(name)
        if current is not None and issubclass(current, NativeAdapter) and current.name == name:
            raise InvalidInput(f"backend {name!r} is native: register the adapter under "
                               "another name")
        _registry[name] = cls
    if "name" not in cls.__dict__ or not cls.name:
        cls.name = name


def registered_adapters() -> list[str]:
    """Backend names with an adapter in this process, sorted (native ones included).

    Example:
        >>> "sqlite" in registered_adapters()
        True
    """
    with _registry_lock:
        return sorted(_registry)


def adapter_class(spec: str, backend: str = "") -> type[QueueAdapter]:
    """Imports a ``"pkg.module:Class"`` adapter spec and returns the class.

    Raises:
        InvalidInput: a malformed spec, a module that does not import, or something other
            than a QueueAdapter class.

    Example:
        >>> adapter_class("flowerpower_job_queue.adapters:SqliteAdapter").name
        'sqlite'
    """
    where = f"backend {backend!r}: adapter {spec!r}" if backend else f"adapter {spec!r}"
    module_name, sep, attr = spec.partition(":")
    if not (sep and module_name and attr):
        raise InvalidInput(f"{where} is not valid: expected 'pkg.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the setting's fault
        raise InvalidInput(f"{where} cannot be imported: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, QueueAdapter)):
        raise InvalidInput(f"{where} is not a QueueAdapter class")
    return obj


# ---- resolution ---------------------------------------------------------------------------

_CONF = os.path.join("conf", "job_queue.yml")


def _env(key: str) -> str | None:
    value = os.environ.get("FPQ_" + key.upper().replace(".", "_"))
    return value or None


def _conf(project_dir: str) -> dict[str, Any]:
    """The project's conf file as YAML data ({} when absent or unreadable: the engine
    reports those itself, naming the file and line)."""
    try:
        with open(os.path.join(project_dir, _CONF), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        import yaml

        data = yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - the engine reports a broken file
        return {}
    return data if isinstance(data, dict) else {}


def _mentions_adapter(project_dir: str) -> bool:
    """Whether the conf file could configure a Python adapter (cheap: no YAML parse)."""
    try:
        with open(os.path.join(project_dir, _CONF), "rb") as f:
            return b"adapter" in f.read()
    except OSError:
        return False


def _python_names() -> list[str]:
    with _registry_lock:
        return sorted(n for n, c in _registry.items() if not issubclass(c, NativeAdapter))


def _with_python_names(exc: InvalidInput, project_dir: str) -> InvalidInput:
    """The engine's "backend 'x' is not known: expected one of sqlite, rq (...)" with the
    Python adapters' names added: registered ones and those the conf file declares."""
    extra = set(_python_names())
    if _mentions_adapter(project_dir):
        backends = _conf(project_dir).get("backends")
        if isinstance(backends, dict):
            extra |= {str(name) for name, section in backends.items()
                      if isinstance(section, dict) and section.get("adapter")}
    message = str(exc)
    if not extra or "is not known: expected one of " not in message:
        return exc
    head, _, rest = message.partition("is not known: expected one of ")
    names, paren, tail = rest.partition(" (")
    native = names.split(", ")
    merged = ", ".join([*native, *sorted(extra - set(native))])
    return InvalidInput(f"{head}is not known: expected one of {merged}{paren and ' ('}{tail}",
                        code=exc.code)


def _options(conf: Mapping[str, Any], name: str) -> tuple[str | None, dict[str, Any]]:
    """The adapter spec and options of backend ``name``: conf ``backends.NAME``, each key
    overridden by ``FPQ_BACKENDS_NAME_KEY``."""
    backends = conf.get("backends")
    section = backends.get(name) if isinstance(backends, dict) else None
    options = dict(section) if isinstance(section, dict) else {}
    for key in list(options):
        override = _env(f"backends.{name}.{key}")
        if override is not None:
            options[key] = override
    spec = _env(f"backends.{name}.adapter") or options.pop("adapter", None)
    options.pop("adapter", None)
    options.pop("library", None)
    return (str(spec) if spec else None), options


def open_adapter(project_dir: str, backend: str | None = None,
                 url: str | None = None) -> QueueAdapter:
    """The adapter serving a project: chosen by the ``backend`` name (else
    ``FPQ_BACKEND``, else the conf file's ``backend:``) when that names a Python adapter,
    else the engine's backend resolved from the same arguments. Connects on first use.

    Raises:
        InvalidInput: an adapter spec that does not import, or a project directory that
            is not one (the engine raises the same for its own backends on first use).

    Example:
        >>> open_adapter("/srv/etl", "sqlite")   # doctest: +SKIP
        SqliteAdapter(project_dir='/srv/etl', url='')
    """
    name = backend or (None if url else _env("backend"))
    cls: type[QueueAdapter] | None = None
    if name is not None:
        with _registry_lock:
            cls = _registry.get(name)
    conf: dict[str, Any] | None = None
    if cls is None and not url and (_python_names() or _mentions_adapter(project_dir)
                                    or any(k.endswith("_ADAPTER") for k in os.environ
                                           if k.startswith("FPQ_BACKENDS_"))):
        conf = _conf(project_dir)
        if name is None:
            value = conf.get("backend")
            name = str(value) if value else None
            if name is not None:
                with _registry_lock:
                    cls = _registry.get(name)
    if name is not None and (cls is None or not issubclass(cls, NativeAdapter)):
        if conf is None:
            conf = _conf(project_dir)
        spec, options = _options(conf, name)
        if spec is not None:
            cls = adapter_class(spec, name)
            register_adapter(name, cls)
        if cls is not None and not issubclass(cls, NativeAdapter):
            if not os.path.isdir(project_dir):
                raise InvalidInput(f"project directory {project_dir!r} is not a directory")
            conf_url = conf.get("url")
            chosen_url = url or _env("url") or (str(conf_url) if conf_url else None)
            return cls(project_dir, chosen_url, **options)
    if cls is not None and backend is not None:
        return cls(project_dir, url)
    return NativeAdapter(project_dir, url, backend=backend)


# ---- helpers for adapters written in Python ---------------------------------------------

_RENAMES = {"executor": "executor_cfg", "with_adapter": "with_adapter_cfg"}
_RETRY_KEYS = ("max_retries", "retry_delay", "jitter_factor")
_RUN_KEYS = frozenset({
    "inputs", "final_vars", "config", "cache", "executor_cfg", "with_adapter_cfg",
    "pipeline_adapter_cfg", "project_adapter_cfg", "adapter", "additional_modules",
    "async_driver", "reload", "log_level",
})


def split_run_config(run_config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits sparse RunConfig fields into ``project.run`` keyword arguments and the
    queue's own settings (``max_retries``, ``retry_delay``, ``jitter_factor`` from the
    ``retry`` block or the flat legacy keys, and ``priority``), as the engine does.

    Raises:
        InvalidInput: an unknown run option, a ``schedule``, or a retry value of the
            wrong type.

    Example:
        >>> split_run_config({"inputs": {"x": 1}, "executor": {"type": "synchronous"},
        ...                   "retry": {"max_retries": 2}})
        ({'inputs': {'x': 1}, 'executor_cfg': {'type': 'synchronous'}}, {'max_retries': 2})
    """
    run: dict[str, Any] = {}
    policy: dict[str, Any] = {}
    for key, value in run_config.items():
        if value is None or key == "backend":
            continue
        if key == "schedule":
            raise InvalidInput("run config has a 'schedule': use schedule, not enqueue, for "
                               "recurring runs")
        if key == "priority":
            if value not in PRIORITY_QUEUES:
                raise InvalidInput(f"run config 'priority' is {value!r}: expected 'high', "
                                   "'medium' or 'low'")
            policy["priority"] = value
            continue
        if key in (*_RETRY_KEYS, "retry_exceptions", "retry"):
            block = value if key == "retry" else {key: value}
            if not isinstance(block, Mapping):
                raise InvalidInput(f"run config 'retry' is {value!r}: expected an object like "
                                   "{'max_retries': 2}")
            prefix = "retry." if key == "retry" else ""
            for field in _RETRY_KEYS:
                number = block.get(field)
                if number is None:
                    continue
                whole = field == "max_retries"
                if (isinstance(number, bool) or not isinstance(number, (int, float))
                        or number < 0 or (whole and number != int(number))):
                    raise InvalidInput(f"run config '{prefix}{field}' is {number!r}: expected "
                                       f"a {'whole ' if whole else ''}number >= 0")
                policy[field] = int(number) if whole else float(number)
            continue
        kwarg = _RENAMES.get(key, key)
        if kwarg not in _RUN_KEYS:
            raise InvalidInput(f"run option {key!r} is not one FlowerPower's run() takes: "
                               f"expected one of {', '.join(sorted(_RUN_KEYS))}")
        run[kwarg] = value
    return run, policy


def check_enqueue(project_dir: str, pipeline: str, job_id: str | None = None,
                  priority: str | None = None) -> None:
    """The engine's checks of an enqueue, for adapters in Python: a well-formed pipeline
    name the project has (``pipelines/a/b.py`` for ``a.b``), a well-formed job id, a
    known priority. Raises InvalidInput with the engine's words.

    Example:
        >>> try:
        ...     check_enqueue("/srv/etl", "a/b")
        ... except InvalidInput as e:
        ...     print(e.code, str(e)[:45])
        EINVAL pipeline name 'a/b' contains a path separator
    """
    _native.validate_pipeline(pipeline)
    pipelines = os.path.join(project_dir, "pipelines")
    if os.path.isdir(pipelines):
        relative = pipeline.replace(".", "/") + ".py"
        if not os.path.isfile(os.path.join(pipelines, relative)):
            raise InvalidInput(f"pipeline '{pipeline}' is not in project {project_dir}: there "
                               f"is no pipelines/{relative}")
    if job_id is not None:
        _native.validate_id(job_id)
    if priority is not None and priority not in PRIORITY_QUEUES:
        raise InvalidInput(f"priority {priority!r} is not known: expected high, medium or low")


def job_record(project: str, pipeline: str, **fields: Any) -> dict[str, Any]:
    """A job record with the engine's defaults for every field not given: queued,
    medium priority, created now, no retries.

    Example:
        >>> job = job_record("/srv/etl", "hello", id="j1")
        >>> job["status"], job["queue"], job["run_json"]
        ('queued', 'default', '{}')
    """
    now = time.time()
    priority = fields.get("priority", "medium")
    record: dict[str, Any] = {
        "id": "", "project": project, "pipeline": pipeline, "run_json": "{}",
        "queue": PRIORITY_QUEUES.get(priority, "default"), "priority": priority,
        "status": "queued", "description": f"run_pipeline(pipeline={pipeline!r})",
        "created_at": now, "enqueued_at": now, "started_at": None, "ended_at": None,
        "run_at": None, "attempts": 0, "max_retries": 0, "retry_delay": 0.0,
        "jitter_factor": 0.0, "timeout": 0.0, "result_ttl": 0.0, "worker": None,
        "result_json": None, "error_json": None, "func": TASK_FUNC,
    }
    unknown = set(fields) - set(record)
    if unknown:
        raise InvalidInput(f"job record fields {sorted(unknown)} are not known")
    record.update(fields)
    return record


def wait_for_end(get: Any, id: str, timeout: float | None, poll: float = 0.05) -> dict[str, Any]:
    """:meth:`QueueAdapter.get_result` for adapters that can only poll: calls ``get(id)``
    until the job ends or ``timeout`` runs out.

    Example:
        >>> wait_for_end(lambda i: {"id": i, "status": "finished"}, "j1", 1.0)["status"]
        'finished'
    """
    job: dict[str, Any] = get(id)
    if timeout is None:
        return job
    deadline = None if timeout < 0 else time.monotonic() + timeout
    while job["status"] not in TERMINAL:
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeout(f"job '{id}' is still {job['status']} after {timeout:g} seconds")
        time.sleep(poll)
        job = get(id)
    return job


def state_error(id: str, status: str, action: str) -> JobQueueError:
    """The ESTATE error of a job in the wrong state for ``action``.

    Example:
        >>> state_error("j1", "finished", "cancel").code
        'ESTATE'
    """
    return JobQueueError(f"job '{id}' is {status}: cannot {action} it", code="ESTATE")
