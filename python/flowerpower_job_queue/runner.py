"""Load a FlowerPower project and run one pipeline: what a job does, wherever it runs.

The executor (``python -m flowerpower_job_queue.executor``, driven by the C worker) and
the RQ task (:func:`flowerpower_job_queue.tasks.run_pipeline`, run by Python rq) share
this module, so a job behaves the same under both.

FlowerPower facts this module relies on (0.37):

* ``FlowerPowerProject.load(dir)`` returns None unless ``conf/`` and ``pipelines/``
  exist, and it puts ``dir`` and ``dir/pipelines`` first on ``sys.path``;
* ``project.run`` wraps every failure in a RuntimeError whose ``__cause__`` is the real
  exception, and retries 3 times unless told ``retry={"max_retries": 0}``;
* pipeline modules are cached in ``sys.modules`` as ``pipelines.<name>``, so two
  projects in one interpreter collide unless the cache is cleared between them.

Example:
    >>> from flowerpower_job_queue import runner
    >>> runner.run_job("/srv/project", "add_one", {"inputs": {"x": 1}})  # doctest: +SKIP
    {'result': 2}
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from . import codec
from .records import TASK_FUNC  # the only function a job may name

if TYPE_CHECKING:
    from flowerpower import FlowerPowerProject

    from .pipeline_cache import PipelineCache

__all__ = [
    "TASK_FUNC",
    "InvalidJob",
    "Job",
    "JobError",
    "PipelineNotFound",
    "ProjectNotFound",
    "Projects",
    "UnsupportedFunction",
    "error_info",
    "import_flowerpower",
    "parse_job",
    "prepare_job",
    "run_job",
    "warm_up",
]

# Retries are the queue's: these run kwargs are dropped and FlowerPower's retry is off.
_RETRY_KEYS = frozenset(
    {"retry", "max_retries", "retry_delay", "jitter_factor", "retry_exceptions"}
)
NO_RETRY: dict[str, Any] = {"max_retries": 0}
# project.run(name, run_config=None, **kwargs): these names cannot be run kwargs, and a
# job may not name modules to import (enqueue refuses it; this covers rows written
# around the engine, e.g. straight into Redis).
_RESERVED_KEYS = frozenset({"name", "run_config", "additional_modules"})

# Error messages and tracebacks are cut to this many characters: they are stored with
# the job and must never make a frame too large.
TEXT_LIMIT = 1 << 20


class JobError(Exception):
    """A failure the queue detects itself; ``code`` is its name in the protocol."""

    code: ClassVar[str] = "JobError"


class ProjectNotFound(JobError):
    """The directory holds no FlowerPower project (``conf/`` and ``pipelines/``)."""

    code = "ProjectNotFound"


class WrongProject(JobError):
    """The job belongs to another project (by name, or a path that is not this project's
    directory): it is not run, and no path it names is opened."""

    code = "WrongProject"


class PipelineNotFound(JobError):
    """The project has no pipeline of that name."""

    code = "PipelineNotFound"


class UnsupportedFunction(JobError):
    """The job names a function other than :data:`TASK_FUNC`."""

    code = "UnsupportedFunction"


class InvalidJob(JobError):
    """The job's fields have the wrong types."""

    code = "InvalidJob"


@dataclass(frozen=True)
class Job:
    """One job's work: run ``pipeline`` of ``project`` with the ``run`` kwargs."""

    project: str
    pipeline: str
    run: Mapping[str, Any]


# The engine's rule for pipeline names (fpq_validate_pipeline): FlowerPower turns a name
# into a module and a file path, so a job written behind the engine's back (a raw RQ hash,
# a raw SQLite row) must not walk out of the project with "../" or an absolute path.
_PIPELINE_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def parse_job(msg: Mapping[str, Any]) -> Job:
    """Validate a protocol ``run`` message and return its :class:`Job`.

    Example:
        >>> parse_job({"type": "run", "id": "1", "project": "/p", "pipeline": "etl"})
        Job(project='/p', pipeline='etl', run={})
    """
    func = msg.get("func", TASK_FUNC)
    if func != TASK_FUNC:
        raise UnsupportedFunction(f"func {func!r} is not supported; jobs run {TASK_FUNC}")
    project, pipeline, run = msg.get("project"), msg.get("pipeline"), msg.get("run")
    if not isinstance(project, str) or not project:
        raise InvalidJob(f"project must be a non-empty string, not {project!r}")
    if not isinstance(pipeline, str) or not pipeline:
        raise InvalidJob(f"pipeline must be a non-empty string, not {pipeline!r}")
    if len(pipeline) > 255 or not _PIPELINE_NAME.fullmatch(pipeline):
        raise InvalidJob(
            f"pipeline name {pipeline[:80]!r} is not valid: expected letters, digits, '_' and "
            "'-', with '.' between sub-package names"
        )
    if run is None:
        run = {}
    if not isinstance(run, dict):
        raise InvalidJob(
            f"run must be an object of run keyword arguments, not {type(run).__name__}"
        )
    return Job(project, pipeline, run)


def import_flowerpower() -> None:
    """Import FlowerPower now (it takes seconds): before forking, or before a first job.

    Example:
        >>> import_flowerpower()  # doctest: +SKIP
    """
    import flowerpower  # noqa: F401


def speed_up_runs() -> None:
    """Make the per-run overhead of ``project.run()`` small in a long-lived process.

    Measured on a trivial pipeline, a ``run()`` costs ~9.8 ms, of which little is the
    pipeline: FlowerPower sets up loguru twice per run, and each ``logger.add`` asks
    ``sysconfig`` for the install paths 36 times (~3 ms each setup); it also reads its
    YAML files with PyYAML's pure-Python loader. In the executor, a process that lives
    for many runs:

    - ``sysconfig.get_paths`` is memoised (for the default variables only): install
      paths cannot change while the process lives. 9.8 -> 2.9 ms.
    - ``yaml.safe_load`` uses libyaml's ``CSafeLoader`` (the same safe schema, parsed in
      C) when PyYAML has it. 2.9 -> 1.4 ms.

    Both change speed only, never results; set ``FPQ_EXECUTOR_SPEEDUPS=0`` to compare.

    Example:
        >>> speed_up_runs()  # doctest: +SKIP
    """
    if os.environ.get("FPQ_EXECUTOR_SPEEDUPS", "1") == "0":
        return
    import functools
    import sysconfig

    original_get_paths = sysconfig.get_paths
    if not getattr(original_get_paths, "_fpq_memoised", False):

        @functools.lru_cache(maxsize=32)
        def _default_paths(scheme: str | None, expand: bool) -> dict[str, str]:
            if scheme is None:  # sysconfig's own default scheme, not a None scheme
                return original_get_paths(expand=expand)
            return original_get_paths(scheme, expand=expand)

        def get_paths(scheme: str | None = None, vars: dict[str, Any] | None = None,
                      expand: bool = True) -> dict[str, str]:
            if vars is None:
                return dict(_default_paths(scheme, expand))
            if scheme is None:
                return original_get_paths(vars=vars, expand=expand)
            return original_get_paths(scheme, vars, expand)

        get_paths._fpq_memoised = True  # type: ignore[attr-defined]
        sysconfig.get_paths = get_paths
    try:
        import yaml
    except ImportError:
        return
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None and not getattr(yaml.safe_load, "_fpq_fast", False):

        def safe_load(stream: Any) -> Any:
            return yaml.load(stream, Loader=loader)

        safe_load._fpq_fast = True  # type: ignore[attr-defined]
        yaml.safe_load = safe_load


# A pipeline like the ones users write (Hamilton nodes, a small pandas step), run once
# by warm_up().
_WARM_UP_PIPELINE = """
import pandas as pd


def x_plus_one(x: int) -> int:
    return x + 1


def frame(x_plus_one: int) -> pd.DataFrame:
    data = pd.DataFrame({"k": [x_plus_one, x_plus_one, 2], "v": [1.0, 2.0, 3.0]})
    return data.groupby("k").sum()
"""
_WARM_UP_YAML = """run:
  inputs: {x: 1}
  final_vars: [frame]
  executor: {type: synchronous}
  retry: {max_retries: 0}
  log_level: CRITICAL
"""


def warm_up() -> None:
    """Run a tiny built-in pipeline once in a throw-away project, then remove every trace
    of it (files, sys.path entries, modules).

    FlowerPower, Hamilton and pandas set much up lazily on a first run. Done once in the
    fork executor's parent, it is inherited by every forked job instead of being redone
    by each: measured here, it takes a trivial job in a fork child from ~28 ms to ~17 ms
    (in-process: ~16 ms). FlowerPower's logging is left as importing it leaves it.

    Example:
        >>> warm_up()  # doctest: +SKIP
    """
    import shutil
    import tempfile

    saved_path = list(sys.path)
    before = set(sys.modules)
    root = tempfile.mkdtemp(prefix="fpq-warm-up-")
    try:
        os.makedirs(os.path.join(root, "conf", "pipelines"))
        os.makedirs(os.path.join(root, "pipelines"))
        with open(os.path.join(root, "pipelines", "fpq_warm_up.py"), "w") as f:
            f.write(_WARM_UP_PIPELINE)
        with open(os.path.join(root, "conf", "pipelines", "fpq_warm_up.yml"), "w") as f:
            f.write(_WARM_UP_YAML)
        result = run_job(root, "fpq_warm_up", {"log_level": "CRITICAL"}, projects=Projects())
        codec.dumps(result)
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:
            if name == "pipelines" or name.startswith("pipelines."):
                del sys.modules[name]
        shutil.rmtree(root, ignore_errors=True)


def _normalize(project: str) -> str:
    # Remote projects (s3://...) are FlowerPower's business; local ones get one cache key.
    return project if "://" in project else os.path.abspath(project)


def _project_paths(project: str) -> tuple[str, ...]:
    """The sys.path entries FlowerPower adds for a local project, pipelines dir first."""
    if "://" in project:
        return ()
    from flowerpower.settings import PIPELINES_DIR

    return (os.path.normpath(os.path.join(project, PIPELINES_DIR)), os.path.normpath(project))


class Projects:
    """Loaded projects, one per directory, and which one owns the pipeline modules.

    Example:
        >>> projects = Projects()
        >>> project = projects.get("/srv/project")  # doctest: +SKIP
    """

    def __init__(self, cache: PipelineCache | None = None) -> None:
        self._loaded: dict[str, FlowerPowerProject] = {}
        self._active: str | None = None
        self._found: set[tuple[str, str]] = set()
        # Warm plans and drivers (pipeline_cache.py); None runs every job cold.
        self.cache = cache

    def get(self, project: str) -> FlowerPowerProject:
        """The loaded project at ``project`` (loaded on first use); ProjectNotFound if none."""
        key = _normalize(project)
        found = self._loaded.get(key)
        if found is None:
            from flowerpower import FlowerPowerProject

            found = FlowerPowerProject.load(key)
            if found is None:
                raise ProjectNotFound(
                    f"no FlowerPower project at {key!r} (it needs conf/ and pipelines/)"
                )
            self._loaded[key] = found
        return found

    def has_pipeline(self, project: str, pipeline: str) -> bool:
        """True if ``project`` has ``pipeline``. Asking FlowerPower lists the pipelines
        directory (an fsspec glob plus a read of each file's name): measured ~15% of a
        trivial job's CPU in a warm executor (bench/compare, issue 6). So a pipeline
        found once is looked up again only if its module file is gone."""
        key = (_normalize(project), pipeline)
        if key in self._found and _module_file_exists(*key):
            return True
        if pipeline not in self.get(project).pipeline_manager.pipelines:
            self._found.discard(key)
            return False
        self._found.add(key)
        return True

    def has(self, project: str) -> bool:
        """True if the project at ``project`` is loaded already."""
        return _normalize(project) in self._loaded

    def activate(self, project: str, *, purge: bool) -> None:
        """Make ``project``'s pipeline modules the ones ``import pipelines.x`` finds.

        Its directories go first on sys.path and other loaded projects' are removed.
        With ``purge`` (a process that runs jobs of several projects in turn), modules
        imported from another project are dropped from sys.modules when the project
        changes, so ``pipelines.<name>`` is imported afresh from this one; that project's
        FlowerPower pipeline cache is cleared too, since Hamilton finds a module's nodes
        only while the module is in sys.modules.
        """
        key = _normalize(project)
        previous, self._active = self._active, key
        others = {p for k in self._loaded if k != key for p in _project_paths(k)}
        mine = _project_paths(key)
        sys.path[:] = [p for p in sys.path if p not in others and p not in mine]
        sys.path[:0] = mine
        if purge and previous is not None and previous != key:
            _purge_modules(previous)
            if self.cache is not None:  # built from the modules just dropped
                self.cache.clear(previous)
            left = self._loaded.get(previous)
            if left is not None:
                left.pipeline_manager.registry.clear_cache()


def _module_file_exists(project: str, pipeline: str) -> bool:
    """pipelines/a/b.py for pipeline "a.b" of a local project (a stat, not a listing);
    remote projects always ask FlowerPower."""
    if "://" in project:
        return False
    from flowerpower.settings import PIPELINES_DIR

    path = os.path.join(project, PIPELINES_DIR, *pipeline.split(".")) + ".py"
    return os.path.isfile(path)


def _purge_modules(project: str) -> None:
    from .pipeline_cache import purge_project_modules

    purge_project_modules(project)


_DEFAULT_PROJECTS = Projects()


def run_job(
    project: str,
    pipeline: str,
    run: Mapping[str, Any] | None = None,
    *,
    projects: Projects | None = None,
    purge: bool = True,
) -> dict[str, Any]:
    """Run ``pipeline`` of the project at ``project`` once and return what run() returned.

    ``run`` holds the caller's sparse ``project.run`` keyword arguments as codec JSON
    (plain JSON passes unchanged). FlowerPower's own retries are turned off: retries
    are the queue's. Raises ProjectNotFound, PipelineNotFound or InvalidJob, or the
    pipeline's real exception (not FlowerPower's RuntimeError wrapper).

    Example:
        >>> run_job("/srv/project", "add_one", {"inputs": {"x": 1}})  # doctest: +SKIP
        {'result': 2}
    """
    projects = projects if projects is not None else _DEFAULT_PROJECTS
    kwargs = _run_kwargs(run)
    loaded = projects.get(project)
    if not projects.has_pipeline(project, pipeline):
        names = loaded.pipeline_manager.pipelines
        known = ", ".join(sorted(names)[:50]) or "none"
        raise PipelineNotFound(
            f"no pipeline {pipeline!r} in project {_normalize(project)!r} (pipelines: {known})"
        )
    projects.activate(project, purge=purge)
    cache = projects.cache
    with _working_directory(_normalize(project)):
        if cache is None or not cache.enabled:
            return _run_unwrapped(loaded, pipeline, kwargs)
        return cache.run(  # type: ignore[no-any-return]
            loaded,
            _normalize(project),
            pipeline,
            run or {},
            {**kwargs, "retry": dict(NO_RETRY)},
            fallback=lambda: _run_unwrapped(loaded, pipeline, kwargs),
        )


def _run_unwrapped(loaded: FlowerPowerProject, pipeline: str, kwargs: dict[str, Any]) -> Any:
    """``loaded.run()`` with retries off, raising the pipeline's own exception."""
    real: BaseException | None = None
    try:
        result: dict[str, Any] = loaded.run(pipeline, **kwargs, retry=dict(NO_RETRY))
        return result
    except RuntimeError as exc:
        real = _unwrap(exc)
        if real is exc:
            raise
    # Raised outside the except block so the real exception's context stays its own.
    raise real


def prepare_job(job: Job, projects: Projects) -> bool:
    """Build ``job``'s warm pipeline-cache entry now, without running it: in a fork
    executor's parent, so that every child forked afterwards inherits it. True when an
    entry was built (children forked before it lack it). Failures are left for the
    job process, which meets them again and reports them.

    Example:
        >>> prepare_job(Job("/srv/project", "etl", {}), Projects(PipelineCache(8)))  # doctest: +SKIP
        True
    """
    cache = projects.cache
    if cache is None or not cache.enabled or "://" in job.project:
        return False
    try:
        kwargs = _run_kwargs(job.run)
        loaded = projects.get(job.project)
        if not projects.has_pipeline(job.project, job.pipeline):
            return False
        # The parent prepares jobs of every project in turn: another project's modules
        # (and the entries built from them) must go, as in an isolation-none executor.
        projects.activate(job.project, purge=True)
        before = cache.stats.builds
        with _working_directory(_normalize(job.project)):
            cache.entry(
                loaded,
                _normalize(job.project),
                job.pipeline,
                job.run,
                {**kwargs, "retry": dict(NO_RETRY)},
            )
        return cache.stats.builds != before
    except Exception:  # noqa: BLE001 - the job process reports it
        return False


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Run in ``path`` and come back afterwards.

    A job runs in its project directory, as ``project.run()`` does when its user works
    from the project, so relative data paths in pipelines resolve the same way. The old
    directory is restored so a project directory removed later (a warm-up project, a
    test's) never leaves the executor in a directory that no longer exists.
    """
    try:
        previous = os.getcwd()
    except FileNotFoundError:
        previous = "/"
    os.chdir(path)
    try:
        yield
    finally:
        try:
            os.chdir(previous)
        except OSError:
            os.chdir("/")


def _run_kwargs(run: Mapping[str, Any] | None) -> dict[str, Any]:
    if run is None:
        return {}
    if not isinstance(run, Mapping):
        raise InvalidJob(
            f"run must be a mapping of run keyword arguments, not {type(run).__name__}"
        )
    try:
        decoded = codec.decode(dict(run))
    except ValueError as exc:
        raise InvalidJob(f"run keyword arguments are malformed: {exc}") from None
    bad = sorted(k for k in decoded if not isinstance(k, str) or k in _RESERVED_KEYS)
    if bad:
        raise InvalidJob(f"run keyword arguments may not include {bad!r}")
    return {k: v for k, v in decoded.items() if k not in _RETRY_KEYS}


def _unwrap(exc: RuntimeError) -> BaseException:
    """The exception FlowerPower's ``handle_errors`` wrapped, or exc itself."""
    cause = exc.__cause__
    if type(exc) is RuntimeError and cause is not None:
        text = str(exc)
        if text.startswith(("Run failed: ", "Pipeline run failed for ")):
            return cause
    return exc


def error_info(exc: BaseException) -> dict[str, str]:
    """The protocol's ``error`` object for exc: type name, message and traceback.

    Example:
        >>> error_info(ValueError("x must be positive"))["type"]
        'ValueError'
    """
    if isinstance(exc, JobError):
        name, trace = exc.code, f"{exc.code}: {exc}\n"
    else:
        t = type(exc)
        name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
        try:
            trace = "".join(traceback.format_exception(exc))
        except Exception as err:  # noqa: BLE001 - the report must still go out
            trace = f"<traceback could not be formatted: {type(err).__name__}: {err}>\n"
    try:
        message = str(exc)
    except Exception as err:  # noqa: BLE001 - a broken __str__ must not lose the report
        message = f"<str() failed: {type(err).__name__}>"
    return {"type": _clean(name), "message": _clean(message), "traceback": _clean(trace)}


def _clean(text: str) -> str:
    """Cut text to TEXT_LIMIT and make it valid for any JSON reader (no NUL, no lone
    surrogates), keeping the end of a long traceback (where the error is)."""
    if len(text) > TEXT_LIMIT:
        text = f"[{len(text) - TEXT_LIMIT} characters cut]...{text[-TEXT_LIMIT:]}"
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
