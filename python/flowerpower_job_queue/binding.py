"""The binding: what ``import flowerpower_job_queue`` adds to FlowerPower's
``FlowerPowerProject`` (``enqueue``, ``result``, ``get_queue_status``, the schedule
methods and ``job_queue``), without changing FlowerPower's files.

The methods are thin: each passes its arguments to the project's
:class:`~flowerpower_job_queue.JobQueueManager`. They are added when ``flowerpower`` is
imported: at once if it is imported already, else by a post-import hook (the package's
one hook mechanism, in ``_flowerpower_job_queue_cli_hook``), so the order of the two
imports does not matter and importing this package does not cost FlowerPower's import.

Example:
    >>> from flowerpower import FlowerPowerProject
    >>> attach(FlowerPowerProject)
    >>> callable(FlowerPowerProject.enqueue)
    True
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidInput
from .manager import JobQueueManager, project_dir_of
from .scheduling import DEFAULT_PRIORITY, DEFAULT_SCHEDULE

if TYPE_CHECKING:
    from flowerpower import FlowerPowerProject

__all__ = ["PROJECT_METHODS", "attach", "attach_when_imported"]

_MANAGER_ATTR = "_fpq_job_queue"


_project_lock = threading.Lock()


def _job_queue(self: FlowerPowerProject) -> JobQueueManager:
    """The project's :class:`JobQueueManager` (made on first use, then kept).

    Example:
        >>> project.job_queue.metrics()   # doctest: +SKIP
    """
    manager: JobQueueManager | None = self.__dict__.get(_MANAGER_ATTR)
    if manager is None:
        with _project_lock:
            manager = self.__dict__.get(_MANAGER_ATTR)
            if manager is None:
                manager = JobQueueManager(self)
                self.__dict__[_MANAGER_ATTR] = manager
    return manager


def _set_job_queue(self: FlowerPowerProject, manager: JobQueueManager) -> None:
    """``project.job_queue = JobQueueManager(project, backend="rq")``: use that manager
    (it must be this project's).

    Example:
        >>> project.job_queue = JobQueueManager(project, "rq")   # doctest: +SKIP
    """
    if not isinstance(manager, JobQueueManager):
        raise InvalidInput(f"job_queue is a {type(manager).__name__}: expected a "
                           "JobQueueManager of this project")
    mine = project_dir_of(self)
    if manager.project_dir != mine:
        raise InvalidInput(f"that JobQueueManager serves {manager.project_dir!r}, not this "
                           f"project ({mine!r})")
    with _project_lock:
        self.__dict__[_MANAGER_ATTR] = manager


def _pipeline(name: str | None, pipeline_name: str | None) -> str | None:
    """The pipeline, as ``name=`` or as the requirements write it, ``pipeline_name=``."""
    if name is not None and pipeline_name is not None and name != pipeline_name:
        raise InvalidInput(f"give the pipeline once: name={name!r} and "
                           f"pipeline_name={pipeline_name!r}")
    return name if name is not None else pipeline_name


def _project_enqueue(
    self: FlowerPowerProject, name: str | None = None, run_config: Any = None,
    priority: str | None = None, backend: str | None = None, *,
    pipeline_name: str | None = None, **kwargs: Any,
) -> str:
    """Queues a run of pipeline ``name`` (or ``pipeline_name=``) and returns the job id at
    once: a worker runs ``project.run(name, run_config, **kwargs)`` later. See
    :meth:`JobQueueManager.enqueue`.

    Example:
        >>> job_id = project.enqueue("etl", inputs={"day": "2026-07-01"})   # doctest: +SKIP
    """
    pipeline = _pipeline(name, pipeline_name)
    if pipeline is None:
        raise InvalidInput("which pipeline? give its name, e.g. project.enqueue('etl')")
    return _job_queue(self).enqueue(pipeline, run_config, priority, backend, **kwargs)


def _project_result(
    self: FlowerPowerProject, name: str | None = None, id: str | int | None = None,
    wait: bool = False, timeout: float | dt.timedelta | None = None,
    backend: str | None = None, *, pipeline_name: str | None = None,
) -> Any:
    """What a queued run returned (``id=``, else the pipeline's newest job). See
    :meth:`JobQueueManager.result`.

    Example:
        >>> project.result(id=job_id, wait=True)   # doctest: +SKIP
        {'report': ...}
    """
    return _job_queue(self).result(_pipeline(name, pipeline_name), id=id, wait=wait,
                                   timeout=timeout, backend=backend)


def _project_get_queue_status(
    self: FlowerPowerProject, name: str | None = None, id: str | int | None = None,
    limit: int = 20, backend: str | None = None, *, pipeline_name: str | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """One queued job (``id=``) or the project's jobs, newest first. See
    :meth:`JobQueueManager.get_queue_status`.

    Example:
        >>> project.get_queue_status("etl")[0]["status"]   # doctest: +SKIP
        'finished'
    """
    return _job_queue(self).get_queue_status(_pipeline(name, pipeline_name), id=id,
                                             limit=limit, backend=backend)


def _project_schedule(self: FlowerPowerProject, pipeline_name: str, run_config: Any = None,
                      schedule: str = DEFAULT_SCHEDULE, timezone: str | None = None,
                      priority: str = DEFAULT_PRIORITY, schedule_id: str | None = None,
                      **kwargs: Any) -> str:
    """Runs a pipeline on a schedule and returns the schedule's id; a scheduler
    enqueues ``project.run(pipeline_name, run_config, **kwargs)`` at each fire. See
    :meth:`JobQueueManager.schedule`.

    Example:
        >>> project.schedule("etl", schedule="0 2 * * *",
        ...                  timezone="Europe/Berlin")  # doctest: +SKIP
        '2f1c2a9e-4d1b-4c53-9c1e-0f3d2b8a7c11'
    """
    manager = self.job_queue  # type: ignore[attr-defined]
    return str(manager.schedule(pipeline_name, run_config, schedule, timezone, priority,
                                schedule_id, **kwargs))


def _project_list_schedules(self: FlowerPowerProject,
                            backend: str | None = None) -> list[dict[str, Any]]:
    """This project's schedules. See :meth:`JobQueueManager.list_schedules`.

    Example:
        >>> [s["id"] for s in project.list_schedules()]   # doctest: +SKIP
        ['nightly']
    """
    return list(self.job_queue.list_schedules(backend))  # type: ignore[attr-defined]


def _project_pause_schedule(self: FlowerPowerProject, schedule_id: str,
                            backend: str | None = None) -> None:
    """See :meth:`JobQueueManager.pause_schedule`.

    Example:
        >>> project.pause_schedule("nightly")   # doctest: +SKIP
    """
    self.job_queue.pause_schedule(schedule_id, backend)  # type: ignore[attr-defined]


def _project_resume_schedule(self: FlowerPowerProject, schedule_id: str,
                             backend: str | None = None) -> None:
    """See :meth:`JobQueueManager.resume_schedule`.

    Example:
        >>> project.resume_schedule("nightly")   # doctest: +SKIP
    """
    self.job_queue.resume_schedule(schedule_id, backend)  # type: ignore[attr-defined]


def _project_remove_schedule(self: FlowerPowerProject, schedule_id: str,
                             backend: str | None = None) -> None:
    """See :meth:`JobQueueManager.remove_schedule`.

    Example:
        >>> project.remove_schedule("nightly")   # doctest: +SKIP
    """
    self.job_queue.remove_schedule(schedule_id, backend)  # type: ignore[attr-defined]


def _project_next_runs(self: FlowerPowerProject, schedule_id: str, n: int = 5,
                       backend: str | None = None) -> list[dt.datetime]:
    """See :meth:`JobQueueManager.next_runs`.

    Example:
        >>> project.next_runs("nightly", 3)   # doctest: +SKIP
    """
    return list(self.job_queue.next_runs(schedule_id, n, backend))  # type: ignore[attr-defined]


_SCHEDULE_METHODS: dict[str, Any] = {
    "schedule": _project_schedule,
    "list_schedules": _project_list_schedules,
    "pause_schedule": _project_pause_schedule,
    "resume_schedule": _project_resume_schedule,
    "remove_schedule": _project_remove_schedule,
    "next_runs": _project_next_runs,
}


PROJECT_METHODS: dict[str, Any] = {
    "enqueue": _project_enqueue,
    "result": _project_result,
    "get_queue_status": _project_get_queue_status,
    **_SCHEDULE_METHODS,
    "job_queue": property(_job_queue, _set_job_queue),
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


_attach_lock = threading.Lock()


def _attach_to(module: ModuleType) -> bool:
    """Adds the methods to ``module.FlowerPowerProject``; False when the module has no
    such class (yet)."""
    cls = getattr(module, "FlowerPowerProject", None)
    if not isinstance(cls, type):
        return False
    with _attach_lock:
        attach(cls)
    return True


def attach_when_imported() -> None:
    """Adds the methods to ``FlowerPowerProject`` now if FlowerPower is imported, else as
    soon as it is.

    Example:
        >>> attach_when_imported()
    """
    if "flowerpower" in sys.modules:
        # Imported already, or importing us halfway through its own import, in which case
        # its submodule may hold the class already.
        if not _attach_to(sys.modules["flowerpower"]):
            _attach_to(sys.modules.get("flowerpower.flowerpower") or sys.modules["flowerpower"])
        return
    from _flowerpower_job_queue_cli_hook import after_import

    after_import("flowerpower", _attach_to)
