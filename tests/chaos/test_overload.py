"""Overload: a backlog of 50,000 queued jobs on each backend (FPQ_SOAK=1: 200,000, the
issue's figure), built in batches while a worker keeps running jobs from it.

After each batch the test measures, and prints as a curve at the end of the run:
- the enqueue rate of that batch (one producer process, jobs/s);
- the resident memory of the worker (the C process) and of its executor;
- the latency of "status by pipeline name" (fpq_find(pipeline, limit 20), what
  `fpq status PIPELINE` and `project.get_queue_status` run): p50 and p99 of 200 calls.

Rates and latencies are reported, not asserted (tests never assert wall-clock times). The
worker's memory is asserted to stay flat within a generous bound: a backlog must not grow
the worker.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from chaoslib import (OK_PIPELINE, OK_YAML, SOAK, Workers, children, enqueue_tool, report,
                      rss_kib)
from projects import make_project

TOTAL = 200_000 if SOAK else 50_000
BATCH = 20_000 if SOAK else 10_000
PROBES = 200


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.timeout(3600 if SOAK else 600)
@pytest.mark.parametrize("backend", ["sqlite", "rq"])
def test_a_large_backlog_keeps_enqueue_status_and_worker_memory_flat(
        backend: str, tmp_path: Path, fpq_bin: str, request: pytest.FixtureRequest) -> None:
    from flowerpower_job_queue import _native

    project = make_project(tmp_path, f"overload_{backend}", {"ov_ok": OK_PIPELINE},
                           run_yaml={"ov_ok": OK_YAML})
    log = tmp_path / "executions.log"
    log.touch()
    if backend == "rq":
        url = request.getfixturevalue("redis_server").url
    else:
        url = f"sqlite://{project}/.flowerpower/queue.db"
    env = {**os.environ, "FPQ_BACKEND": backend, "FPQ_URL": url}
    tool = enqueue_tool(fpq_bin)
    template = '{"inputs": {"i": %d, "log": "' + str(log) + '"}}'
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(fpq_bin, project, [["--count", "1", "--isolation", "none", "--quiet"]],
                      logs, env)
    workers.start_all()
    worker = workers.procs[0]
    assert worker is not None
    queue = _native.Queue(str(project), backend, url)
    curve: list[dict[str, Any]] = []
    try:
        for first in range(0, TOTAL, BATCH):
            started = time.perf_counter()
            proc = subprocess.run([str(tool), backend, url, str(project), "ov_ok", str(BATCH),
                                   template, str(first)], capture_output=True, text=True,
                                  timeout=900)
            seconds = time.perf_counter() - started
            assert proc.returncode == 0, proc.stderr
            assert len(proc.stdout.split()) == BATCH
            workers.check()
            latencies = []
            for _ in range(PROBES):
                t = time.perf_counter()
                found = queue.find("ov_ok", limit=20)
                latencies.append((time.perf_counter() - t) * 1000)
                assert len(found) == 20
            executors = children(worker.pid)
            curve.append({
                "queued_total": first + BATCH,
                "enqueue_per_s": round(BATCH / seconds),
                "status_p50_ms": round(statistics.median(latencies), 2),
                "status_p99_ms": round(p(latencies, 0.99), 2),
                "worker_rss_mib": round(rss_kib(worker.pid) / 1024, 1),
                "executor_rss_mib": round(sum(rss_kib(c) for c in executors) / 1024, 1),
                "jobs_run": len(log.read_text().split()),
            })
    finally:
        codes = workers.stop_all()
    report(f"overload [{backend}]", {"jobs": TOTAL, "batch": BATCH, "curve": curve})
    assert codes == [0]
    first_rss, last_rss = curve[0]["worker_rss_mib"], curve[-1]["worker_rss_mib"]
    assert last_rss <= first_rss * 1.5 + 16, curve
    first_exec, last_exec = curve[0]["executor_rss_mib"], curve[-1]["executor_rss_mib"]
    assert last_exec <= first_exec * 1.5 + 64, curve
