"""The function a queued job names: ``flowerpower_job_queue.tasks.run_pipeline``.

Python rq runs it when ``rq worker --serializer json`` takes one of our jobs; the C
worker's executor does the same work without going through rq (both use
:mod:`flowerpower_job_queue.runner`). Start ``rq worker`` in the project's directory (or
set ``FPQ_PROJECT_DIR``): as the C worker does, it runs the job with that copy of the
code, never in a path the job names.

Example:
    >>> from flowerpower_job_queue.tasks import run_pipeline
    >>> run_pipeline("project", "add_one", {"inputs": {"x": 1}})  # doctest: +SKIP
    {'result': 2}
"""

from __future__ import annotations

import os
from typing import Any

from . import _native, codec, runner

__all__ = ["run_pipeline"]


def run_pipeline(project: str, pipeline: str, run: dict[str, Any] | None = None) -> Any:
    """Run ``pipeline`` of this process's project once; return its result as codec JSON.

    ``project`` is the project's name the job carries (older jobs: its directory). The
    project that runs is the one in ``FPQ_PROJECT_DIR``, else the current directory; a job
    of another project raises :class:`runner.WrongProject` (the engine's rule,
    ``_native.project_serves``) and no path it names is opened.

    ``run`` is the caller's sparse ``project.run`` keyword arguments (codec JSON). The
    return value is what ``project.run`` returned, encoded by :func:`codec.encode` so
    that RQ's JSON serializer can store it; ``codec.decode`` gives the objects back.
    A failing pipeline raises its real exception (not FlowerPower's RuntimeError
    wrapper), so RQ records the real type and traceback. FlowerPower's own retries are
    off: retries are the queue's.

    Example:
        >>> from flowerpower_job_queue import codec
        >>> out = run_pipeline("project", "daily", {"inputs": {"day": "2026-07-01"}})  # doctest: +SKIP
        >>> codec.decode(out)  # doctest: +SKIP
        {'report': ...}
    """
    here = os.path.abspath(os.environ.get("FPQ_PROJECT_DIR") or os.getcwd())
    if not _native.project_serves(project, here):
        raise runner.WrongProject(
            f"job belongs to project {project!r}; this worker serves the project at {here!r}"
        )
    return codec.encode(runner.run_job(here, pipeline, run))
