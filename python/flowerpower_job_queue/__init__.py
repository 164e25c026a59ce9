"""flowerpower-job-queue: a job queue, scheduler and workers for FlowerPower pipelines.

Importing this package adds queue methods to ``flowerpower.FlowerPowerProject``:
``project.enqueue(name, run_config=None, priority=None, **run_kwargs) -> job id``,
``project.result(name=None, id=None, wait=False, timeout=None)``,
``project.get_queue_status(name=None, id=None, limit=20)``,
``project.schedule(pipeline_name, run_config=None, schedule="0 2 * * *", timezone=None,
priority="medium", schedule_id=None, **run_kwargs) -> schedule id`` with
``list_schedules``, ``pause_schedule``, ``resume_schedule``, ``remove_schedule`` and
``next_runs(id, n)``, and ``project.job_queue`` (its :class:`JobQueueManager`).
FlowerPower's files are not changed.

The import itself stays cheap: FlowerPower (which brings pandas and Hamilton, about a
second) is not imported for it. If FlowerPower is already imported the methods are added
at once; otherwise a post-import hook adds them the moment FlowerPower is imported, so
the order of the two imports does not matter (:mod:`flowerpower_job_queue.binding`).
``QueueRunConfig`` (a FlowerPower ``RunConfig``) is imported on first use.

Queue backends written in Python subclass :class:`QueueAdapter` and are registered with
:func:`register_adapter` (:mod:`flowerpower_job_queue.backends`).

Example:
    >>> import flowerpower_job_queue  # doctest: +SKIP
    >>> from flowerpower import FlowerPowerProject  # doctest: +SKIP
    >>> project = FlowerPowerProject.load("/srv/my-project")  # doctest: +SKIP
    >>> job_id = project.enqueue("hello", inputs={"name": "Ada"})  # doctest: +SKIP
    >>> project.result(id=job_id, wait=True)  # doctest: +SKIP
    {'greeting': 'Hello, Ada!'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backends import QueueAdapter, register_adapter
from .binding import attach_when_imported
from .exceptions import (
    BackendUnavailable,
    InvalidInput,
    JobFailed,
    JobNotFound,
    JobQueueError,
    JobTimeout,
)
from .manager import JobQueueManager

if TYPE_CHECKING:
    from .config import QueueRunConfig

__all__ = [
    "BackendUnavailable",
    "InvalidInput",
    "JobFailed",
    "JobNotFound",
    "JobQueueError",
    "JobQueueManager",
    "JobTimeout",
    "QueueAdapter",
    "QueueRunConfig",
    "__version__",
    "register_adapter",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # PEP 562: QueueRunConfig subclasses FlowerPower's RunConfig, so it costs FlowerPower's
    # import; pay it only when it is used.
    if name == "QueueRunConfig":
        from .config import QueueRunConfig

        globals()["QueueRunConfig"] = QueueRunConfig
        return QueueRunConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


attach_when_imported()
