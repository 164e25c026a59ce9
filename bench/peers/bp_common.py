"""What every peer's worker and producer share in bench/compare: where Redis and the
project are, and the two tasks every system runs.

* ``run_pipeline``: the same trivial FlowerPower pipeline job our queue runs: it calls
  ``flowerpower_job_queue.tasks.run_pipeline`` (what Python rq runs on our jobs), which
  loads the project once per process and runs ``project.run`` with FlowerPower's retry off.
* ``noop``: a pure Python no-op, so a reader sees each queue's own overhead (our queue
  cannot run a non-pipeline job).

A worker started with ``BENCH_PRELOAD=1`` (the pipeline rows) imports FlowerPower, loads
the project and applies ``runner.speed_up_runs()`` once at start, before it forks its
children, as our executor does: every system then pays the same ~1.4 ms per
``project.run`` and the rows compare queues, not our patch of FlowerPower
(``BENCH_PEER_SPEEDUPS=0`` leaves the peers at FlowerPower's own ~9.8 ms per run).
"""

from __future__ import annotations

import os
from typing import Any

PORT = int(os.environ.get("BENCH_REDIS_PORT", "6379"))
PROJECT = os.environ.get("BENCH_PROJECT", "")

# One Redis database per system (and one more for results where the system keeps them
# apart), so each one's keys can be counted without scanning.
DB = {"fpq": 0, "rq": 0, "celery": 1, "celery_results": 2, "dramatiq": 3,
      "dramatiq_results": 4, "huey": 5, "arq": 6}


def redis_url(db: int) -> str:
    return f"redis://127.0.0.1:{PORT}/{db}"


def preload() -> None:
    """Import FlowerPower, load the bench project and speed up run(), once per worker."""
    from flowerpower_job_queue import runner

    runner.import_flowerpower()
    if os.environ.get("BENCH_PEER_SPEEDUPS", "1") == "1":
        runner.speed_up_runs()
    if PROJECT:
        # The cache tasks.run_pipeline uses (private, but this is the bench): loading it
        # here is what a long-lived worker has done after its first job.
        runner._DEFAULT_PROJECTS.get(PROJECT)


def run_pipeline(project: str, pipeline: str, run: dict[str, Any] | None = None) -> Any:
    from flowerpower_job_queue.tasks import run_pipeline as task

    return task(project, pipeline, run)


def noop() -> int:
    return 1


if os.environ.get("BENCH_PRELOAD") == "1":
    preload()
