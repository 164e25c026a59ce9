"""The function a queued job names: ``flowerpower_job_queue.tasks.run_pipeline``.

Python rq runs it when ``rq worker --serializer json`` takes one of our jobs; the C
worker's executor does the same work without going through rq (both use
:mod:`flowerpower_job_queue.runner`).

Example:
    >>> from flowerpower_job_queue.tasks import run_pipeline
    >>> run_pipeline("/srv/project", "add_one", {"inputs": {"x": 1}})  # doctest: +SKIP
    {'result': 2}
"""

from __future__ import annotations

from typing import Any

from . import codec, runner

__all__ = ["run_pipeline"]


def run_pipeline(project: str, pipeline: str, run: dict[str, Any] | None = None) -> Any:
    """Run ``pipeline`` of the project at ``project`` once; return its result as codec JSON.

    ``run`` is the caller's sparse ``project.run`` keyword arguments (codec JSON). The
    return value is what ``project.run`` returned, encoded by :func:`codec.encode` so
    that RQ's JSON serializer can store it; ``codec.decode`` gives the objects back.
    A failing pipeline raises its real exception (not FlowerPower's RuntimeError
    wrapper), so RQ records the real type and traceback. FlowerPower's own retries are
    off: retries are the queue's.

    Example:
        >>> from flowerpower_job_queue import codec
        >>> out = run_pipeline("/srv/project", "daily", {"inputs": {"day": "2026-07-01"}})  # doctest: +SKIP
        >>> codec.decode(out)  # doctest: +SKIP
        {'report': ...}
    """
    return codec.encode(runner.run_job(project, pipeline, run))
