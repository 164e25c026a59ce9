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
at once; otherwise a one-shot import hook adds them the moment FlowerPower is imported,
so the order of the two imports does not matter. ``QueueRunConfig`` (a FlowerPower
``RunConfig``) is imported on first use.

Example:
    >>> import flowerpower_job_queue  # doctest: +SKIP
    >>> from flowerpower import FlowerPowerProject  # doctest: +SKIP
    >>> project = FlowerPowerProject.load("/srv/my-project")  # doctest: +SKIP
    >>> job_id = project.enqueue("hello", inputs={"name": "Ada"})  # doctest: +SKIP
    >>> project.result(id=job_id, wait=True)  # doctest: +SKIP
    {'greeting': 'Hello, Ada!'}
"""

from __future__ import annotations

import contextlib
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .adapters import QueueAdapter, register_adapter
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
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

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


# ---- adding the queue methods to FlowerPowerProject ----------------------------------

_attach_lock = threading.Lock()


def _attach(flowerpower: ModuleType) -> bool:
    """Adds the methods to ``flowerpower.FlowerPowerProject``; False when that module has
    no such class (yet)."""
    cls = getattr(flowerpower, "FlowerPowerProject", None)
    if not isinstance(cls, type):
        return False
    from .manager import attach

    with _attach_lock:
        attach(cls)
    return True


# The hook's two classes follow importlib's protocols without subclassing importlib.abc:
# importing that module costs ~20 ms (it pulls in importlib.resources and pathlib).


class _AttachingLoader:
    """Runs FlowerPower's own loader, then attaches. It restores the module's real loader
    before FlowerPower's code runs, so nothing later ever sees this one."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _HOOK.remove()
        _attach(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _FlowerPowerHook:
    """A one-shot post-import hook for the ``flowerpower`` package: finds its spec with
    the other finders and wraps the loader. Removed once FlowerPower has loaded (kept if
    that import failed, so a later successful one still attaches)."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "flowerpower":
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AttachingLoader(spec.loader)  # type: ignore[assignment]
                return spec
        return None

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


_HOOK = _FlowerPowerHook()

if "flowerpower" in sys.modules:
    # Already imported (or importing us halfway through its own import, in which case its
    # submodule may hold the class already).
    _attach(sys.modules["flowerpower"]) or _attach(
        sys.modules.get("flowerpower.flowerpower") or sys.modules["flowerpower"])
else:
    _HOOK.install()
