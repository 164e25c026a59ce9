"""The warm pipeline cache and fork isolation, measured: drains of the tiny real pipeline
(bench/compare's workload 4: Hamilton nodes and a small pandas step) by `fpq worker start
--count 2 --burst` on SQLite, with `executor.pipeline_cache` off and on, in both
isolations. Per mode: jobs/s while running, CPU per job of the whole worker tree (the C
worker, its executors and their job processes, from RUSAGE_CHILDREN) and minor page faults
per job.

    .venv/bin/python bench/pipeline_cache.py [--jobs 1000] [--loop build/dev/enqueue_loop]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import first

# bench/compare's tiny real pipeline (workload 4).
from compare import TINY_PY as TINY
from compare import TINY_YML


def measure(loop: Path, base: Path, jobs: int, isolation: str, cache: str) -> dict[str, float]:
    project = first.make_project(base, f"{isolation}_{cache}")
    (project / "pipelines" / "noop.py").write_text(TINY)
    (project / "conf" / "pipelines" / "noop.yml").write_text(TINY_YML)
    os.environ["FPQ_EXECUTOR_PIPELINE_CACHE"] = cache
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = first.drain(first.fpq_binary(), loop, project, jobs, isolation)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    r["cpu_ms_per_job"] = cpu / jobs * 1e3  # includes the fill and the executors' start
    r["minflt_per_job"] = (after.ru_minflt - before.ru_minflt) / jobs
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--loop", type=Path, default=first.ROOT / "build" / "dev" / "enqueue_loop")
    args = parser.parse_args()
    os.environ.setdefault("FPQ_PYTHON", sys.executable)
    print("| isolation | pipeline cache | jobs/s | CPU ms/job (tree) | minor faults/job |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for isolation in ("none", "fork"):
            for cache in ("off", "on"):
                r = measure(args.loop, Path(tmp), args.jobs, isolation, cache)
                print(
                    f"| {isolation} | {cache} | {r['jobs_per_s']:.0f} | "
                    f"{r['cpu_ms_per_job']:.2f} | {r['minflt_per_job']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
