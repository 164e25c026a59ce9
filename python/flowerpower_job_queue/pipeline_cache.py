"""A warm pipeline cache: build what ``project.run()`` builds once, execute per job.

``project.run(name, **kwargs)`` does the same work on every call before the pipeline
runs: it re-reads the pipeline's YAML and ``conf/project.yml``, merges and deep-copies the
RunConfig, resolves adapters, resets loguru's handlers twice and builds a Hamilton driver.
Measured on a tiny pipeline that is ~5 ms of a ~6 ms job. In a process that runs many jobs
(the executor) this module keeps, per (project, pipeline, run kwargs other than
``inputs``/``final_vars``), the plan FlowerPower builds (through FlowerPower's own code,
never a copy of it) and, where it is safe, the Hamilton driver, and per job does only what
depends on the job: its ``inputs`` and ``final_vars`` (merged by FlowerPower's own merge
functions, so ``project.run()``'s precedence rules hold), the run itself through
FlowerPower's RetryManager (so callbacks and log lines are the same), and the error it
raises.

Invariants:

* an entry is used only while the files it was built from are unchanged: the pipeline's
  YAML candidates, ``conf/project.yml`` and every module file under the project that was
  imported when it was built, compared by (mtime_ns, size, inode) with one ``stat`` each.
  A change drops every entry of that project, its modules and FlowerPower's pipeline
  cache, so the next job imports the module afresh (what a forked job process sees);
* a driver is reused only when the run has no runtime adapters (tracker, MLflow, adapter
  instances) and a synchronous executor: those hold per-run state or threads, so such an
  entry keeps the plan and builds the driver per job through FlowerPower's own
  ``_execute_sync``;
* a build that raises is remembered (for the same file versions) and its jobs go through
  ``project.run()`` itself, so an error is FlowerPower's own error;
* at most ``size`` entries (least recently used dropped first); ``size`` 0 turns it off.

Relies on FlowerPower 0.37's PipelineExecutor/PipelineRunner (``_build_run_plan``,
``_prepare_run_config``, ``_resolve_modules``, ``_execute_sync``): a FlowerPower without
them turns the cache off (every job through ``project.run()``).

Example:
    >>> cache = PipelineCache(32)
    >>> cache.run(project, "/srv/p", "etl", {"inputs": {"x": 1}}, {"inputs": {"x": 1}})  # doctest: +SKIP
    {'result': 2}
"""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_SIZE", "PipelineCache", "Stats", "purge_project_modules"]

DEFAULT_SIZE = 32
"""Entries kept when conf/job_queue.yml does not say (``executor.pipeline_cache``)."""

# Run kwargs that only Driver.execute reads: they are per job, not part of an entry's key.
_PER_JOB = ("inputs", "final_vars")
_SYNC_EXECUTORS = ("synchronous", "local", None)
_Version = tuple[tuple[str, tuple[int, int, int] | None], ...]


@dataclass
class Stats:
    """What the cache did, for bench/compare and the tests."""

    hits: int = 0
    builds: int = 0
    fallbacks: int = 0  # jobs run through project.run() (a failed build)
    invalidations: int = 0  # projects dropped because a watched file changed
    drivers_per_job: int = 0  # hits whose entry builds its driver per job


@dataclass
class _Entry:
    project: str
    version: _Version
    failed: bool = False
    name: str = ""
    pipeline_run: Any = None  # the pipeline YAML's RunConfig: base of per-job merges
    run_config: Any = None  # effective RunConfig without per-job inputs/final_vars
    runner: Any = None  # FlowerPower's PipelineRunner
    adapter_set: Any = None
    context_builder: Any = None
    modules: list[Any] = field(default_factory=list)
    driver: Any = None  # None: built per job by FlowerPower's _execute_sync
    retry: tuple[Any, ...] = ()


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _read_version(paths: tuple[str, ...]) -> _Version:
    return tuple((p, _stat(p)) for p in paths)


def _changed(version: _Version) -> bool:
    return any(_stat(p) != v for p, v in version)


class PipelineCache:
    """Warm plans and Hamilton drivers for jobs that run in one long-lived process.

    Example:
        >>> PipelineCache(0).enabled
        False
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = max(0, int(size))
        self.stats = Stats()
        self._entries: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self._logging: tuple[Any, ...] | None = None  # (level, sys.stderr) applied last
        self.enabled = self.size > 0 and _flowerpower_supported()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self, project: str | None = None) -> None:
        """Drop every entry, or those of one project (its directory, as run() got it)."""
        for key in [k for k in self._entries if project is None or k[0] == project]:
            del self._entries[key]

    def run(
        self,
        loaded: Any,
        project: str,
        pipeline: str,
        raw_run: Mapping[str, Any],
        kwargs: Mapping[str, Any],
        *,
        fallback: Callable[[], Any],
    ) -> Any:
        """Run ``pipeline`` as ``loaded.run(pipeline, **kwargs)`` would, from a warm entry.

        ``raw_run`` is the job's run kwargs as stored (codec JSON), used for the key;
        ``kwargs`` the decoded ones, retry already off; ``fallback`` runs the job
        through ``project.run()`` (and unwraps its error) when no entry can be built.
        Raises what the pipeline raised.
        """
        entry = self.entry(loaded, project, pipeline, raw_run, kwargs)
        if entry is None or entry.failed:
            self.stats.fallbacks += 1
            return fallback()
        self.stats.hits += 1
        return self._execute(entry, kwargs)

    def entry(
        self,
        loaded: Any,
        project: str,
        pipeline: str,
        raw_run: Mapping[str, Any],
        kwargs: Mapping[str, Any],
    ) -> _Entry | None:
        """The current entry for the job (built now if missing or stale); None when the
        cache is off or the job's kwargs cannot be a key (reload, non-JSON values)."""
        if not self.enabled or kwargs.get("reload"):
            return None
        try:
            shape = json.dumps(
                {k: v for k, v in raw_run.items() if k not in _PER_JOB}, sort_keys=True
            )
        except (TypeError, ValueError):
            return None
        key = (project, pipeline, shape)
        found = self._entries.get(key)
        if found is not None:
            if not _changed(found.version):
                self._entries.move_to_end(key)
                return found
            self.invalidate(loaded, project)
        found = self._build(loaded, project, pipeline, kwargs)
        self._entries[key] = found
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return found

    def invalidate(self, loaded: Any, project: str) -> None:
        """A watched file of ``project`` changed: forget what was built from it."""
        self.stats.invalidations += 1
        self.clear(project)
        purge_project_modules(project)
        registry = getattr(getattr(loaded, "pipeline_manager", None), "registry", None)
        if registry is not None:
            registry.clear_cache()

    # ------------------------------------------------------------------------- build

    def _build(self, loaded: Any, project: str, pipeline: str, kwargs: Mapping[str, Any]) -> _Entry:
        from flowerpower.cfg.pipeline.run import RunConfig
        from flowerpower.pipeline.adapter_provider import AdapterProvider
        from flowerpower.utils.config import merge_run_config_with_kwargs

        self.stats.builds += 1
        watched = _config_paths(project, pipeline)
        version = _read_version(watched)  # before reading: a write meanwhile is seen next job
        base = {k: v for k, v in kwargs.items() if k not in _PER_JOB}
        try:
            # project.run(): RunConfig() with the kwargs merged in, then the manager's
            # PipelineExecutor plan (pipeline YAML, project.yml, adapters, the Pipeline).
            override = merge_run_config_with_kwargs(RunConfig(), dict(base))
            plan = loaded.pipeline_manager._executor._build_run_plan(pipeline, override)
            runner = plan.pipeline._get_runner()
            configured = runner._prepare_run_config(plan.run_config, {})
            modules = runner._resolve_modules(configured)
            context_builder = runner._build_context_builder()
            retry_cfg = configured.retry or plan.pipeline.config.run.retry
            entry = _Entry(
                project=project,
                version=version,
                name=plan.name,
                pipeline_run=plan.pipeline_config.run,
                run_config=configured,
                runner=runner,
                adapter_set=plan.adapter_set,
                context_builder=context_builder,
                modules=modules,
                retry=(
                    retry_cfg.max_retries,
                    retry_cfg.retry_delay,
                    retry_cfg.jitter_factor,
                    tuple(retry_cfg.retry_exceptions),
                ),
            )
            provider = AdapterProvider(plan.pipeline.adapter_manager)
            adapters = provider.construct_runtime_adapters(configured, plan.adapter_set)
            if not adapters.runtime_adapters and configured.executor.type in _SYNC_EXECUTORS:
                entry.driver = _build_driver(modules, configured)
        except Exception:  # noqa: BLE001 - project.run() raises it again, as its own error
            entry = _Entry(project=project, version=version, failed=True)
        # The modules the build imported from the project are watched too.
        entry.version = version + _read_version(_project_module_files(project, watched))
        return entry

    # ----------------------------------------------------------------------- execute

    def _execute(self, entry: _Entry, kwargs: Mapping[str, Any]) -> Any:
        from flowerpower.pipeline.retry import RetryManager

        run_config = entry.run_config
        inputs, final_vars = _per_job(entry.pipeline_run, kwargs)
        self._setup_logging(run_config.log_level)
        driver = entry.driver
        if driver is not None:

            def operation() -> Any:
                return driver.execute(final_vars=final_vars, inputs=inputs)

        else:
            self.stats.drivers_per_job += 1
            import copy

            job_config = copy.copy(run_config)
            job_config.inputs, job_config.final_vars = inputs, final_vars

            def operation() -> Any:
                return entry.runner._execute_sync(
                    entry.context_builder, job_config, entry.adapter_set, entry.modules
                )

        max_retries, delay, jitter, exceptions = entry.retry
        manager = RetryManager(
            max_retries=max_retries,
            retry_delay=delay,
            jitter_factor=jitter,
            retry_exceptions=exceptions,
        )
        try:
            return manager.execute(
                operation=operation,
                on_success=run_config.on_success,
                on_failure=run_config.on_failure,
                context_name=entry.name,
            )
        except Exception as exc:
            # FlowerPower's handle_errors logs this line, then wraps exc in a RuntimeError
            # that the runner unwraps again: raising exc itself is the same outcome.
            from loguru import logger

            logger.error(f"Failed to run: {exc}")
            raise

    def _setup_logging(self, level: str | None) -> None:
        """FlowerPower resets loguru's handlers (to sys.stderr) twice per run when the run
        has a log level; the result only depends on the level and the stream, so it is
        redone only when either changed."""
        if not level:
            return
        applied = (level, sys.stderr, os.environ.get("FP_LOG_LEVEL"))
        if applied == self._logging:
            return
        from flowerpower.utils.logging import setup_logging

        setup_logging(level=level)
        self._logging = applied


def _per_job(pipeline_run: Any, kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    """inputs and final_vars as project.run() resolves them from the pipeline YAML's
    values and the job's, each handed to the run as its own deep copy.

    The common shapes take a short path that does what FlowerPower's two merges do
    (RunConfig() <- kwargs, then YAML <- that): a non-empty ``inputs`` dict updates the
    YAML's inputs (an empty one, equal to RunConfig()'s default, leaves them), a
    ``final_vars`` list replaces the YAML's. Anything else (None, other types) goes
    through FlowerPower's own merge functions. tests/python/test_pipeline_cache.py holds
    the short path to the merge functions' results.
    """
    from flowerpower.utils.config import _safe_copy, validate_config_dict

    inputs, final_vars = pipeline_run.inputs, pipeline_run.final_vars
    job_inputs = kwargs.get("inputs", {})
    job_vars = kwargs.get("final_vars", final_vars)
    if not isinstance(job_inputs, dict) or not isinstance(job_vars, list):
        return _per_job_merged(pipeline_run, kwargs)
    if job_inputs:
        validate_config_dict(job_inputs)  # as each of FlowerPower's merges does
        inputs = {**(inputs or {}), **job_inputs}
    return _safe_copy(inputs), _safe_copy(job_vars)


def _per_job_merged(pipeline_run: Any, kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    """FlowerPower's merges on RunConfigs that hold only inputs and final_vars (each
    field merges on its own, so the others cannot change the outcome)."""
    from flowerpower.cfg.pipeline.run import RunConfig
    from flowerpower.utils.config import (
        clone_run_config,
        merge_run_config_with_kwargs,
        merge_run_configs,
    )

    per_job = {k: kwargs[k] for k in _PER_JOB if k in kwargs}
    override = merge_run_config_with_kwargs(RunConfig(), per_job)
    base = RunConfig(inputs=pipeline_run.inputs, final_vars=pipeline_run.final_vars)
    merged = clone_run_config(merge_run_configs(base, override))
    return merged.inputs, merged.final_vars


def _build_driver(modules: list[Any], run_config: Any) -> Any:
    """The driver PipelineRunner._execute_sync builds for a synchronous run without
    runtime adapters (its builder chain, step for step)."""
    from hamilton import driver
    from hamilton.execution import executors

    return (
        driver.Builder()
        .with_modules(*modules)
        .with_config(run_config.config)
        .with_adapters()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_local_executor(executors.SynchronousLocalTaskExecutor())
        .build()
    )


def _config_paths(project: str, pipeline: str) -> tuple[str, ...]:
    """The files FlowerPower reads for a run: project.yml, the pipeline YAML's candidate
    paths (missing ones too: one appearing is a change) and the pipeline module."""
    if "://" in project:
        return ()
    from flowerpower import settings
    from flowerpower.utils.filesystem import format_pipeline_file_path, get_pipeline_config_paths

    names = get_pipeline_config_paths(
        format_pipeline_file_path(pipeline), settings.CONFIG_DIR, settings.PIPELINES_DIR
    )
    conf = os.path.join(project, settings.CONFIG_DIR)
    paths = [os.path.join(conf, "project.yml"), os.path.join(conf, "project.yaml")]
    paths += [os.path.join(project, p) for p in names]
    # The module itself, even when it has not imported (a build that failed must be
    # retried once it is fixed).
    module = format_pipeline_file_path(pipeline) + ".py"
    paths.append(os.path.join(project, settings.PIPELINES_DIR, module))
    return tuple(dict.fromkeys(paths))


def _project_module_files(project: str, already: tuple[str, ...]) -> tuple[str, ...]:
    if "://" in project:
        return ()
    prefix = project.rstrip(os.sep) + os.sep
    files = {
        path
        for module in list(sys.modules.values())
        if isinstance(path := getattr(module, "__file__", None), str) and path.startswith(prefix)
    }
    return tuple(sorted(files - set(already)))


def purge_project_modules(project: str) -> None:
    """Drop the project's modules (and every ``pipelines.*``) so the next import reads
    the files again."""
    import importlib

    prefix = project.rstrip(os.sep) + os.sep
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if (
            name == "pipelines"
            or name.startswith("pipelines.")
            or (isinstance(path, str) and path.startswith(prefix))
        ):
            del sys.modules[name]
    importlib.invalidate_caches()


def _flowerpower_supported() -> bool:
    try:
        from flowerpower.pipeline.executor import PipelineExecutor
        from flowerpower.pipeline.runner import PipelineRunner
    except ImportError:
        return False
    return all(
        hasattr(PipelineRunner, n)
        for n in (
            "_prepare_run_config",
            "_resolve_modules",
            "_execute_sync",
            "_build_context_builder",
        )
    ) and hasattr(PipelineExecutor, "_build_run_plan")
