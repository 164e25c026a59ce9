"""First benchmark of flowerpower-job-queue on this machine, embedded SQLite backend.

Prints enqueue latency (C API loop, `fpq enqueue` CLI loop, Python `project.enqueue`) and
the drain rate of N no-op pipeline jobs by one worker with --count 2, in both isolations.

    .venv/bin/python bench/first.py [--jobs 2000]

It builds a Release tree in build/bench for the C loop program, and uses the `fpq` and
Python package installed in the running interpreter's environment (./scripts/bootstrap).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOOP = "def result() -> int:\n    return 1\n"
NOOP_YAML = ("run:\n  inputs: {}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
             "  retry: {max_retries: 0}\n")


def build_loop_program() -> Path:
    build = ROOT / "build" / "bench"
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", "-DFPQ_BUILD_BENCH=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(build), "enqueue_loop"], check=True,
                   stdout=subprocess.DEVNULL)
    return build / "enqueue_loop"


def make_project(base: Path, name: str) -> Path:
    from flowerpower import FlowerPowerProject

    root = base / name
    with contextlib.redirect_stdout(io.StringIO()):
        FlowerPowerProject.new(name=name, base_dir=str(root))
    (root / "pipelines" / "noop.py").write_text(NOOP)
    (root / "conf" / "pipelines" / "noop.yml").write_text(NOOP_YAML)
    return root


def percentiles(samples_us: list[float]) -> str:
    ordered = sorted(samples_us)
    p = lambda q: ordered[int((len(ordered) - 1) * q)]  # noqa: E731
    return f"p50 {p(0.5):8.1f} us   p99 {p(0.99):8.1f} us   (n={len(ordered)})"


def fpq_binary() -> str:
    beside = Path(sys.executable).parent / "fpq"
    return str(beside) if beside.exists() else (shutil.which("fpq") or "fpq")


def bench_cli(fpq: str, project: Path, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([fpq, "enqueue", "noop", "--project", str(project)], check=True,
                       stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - t0) * 1e6)
    return samples


def bench_python(project_dir: Path, n: int) -> list[float]:
    from flowerpower import FlowerPowerProject

    import flowerpower_job_queue  # noqa: F401

    project = FlowerPowerProject.load(str(project_dir))
    project.enqueue("noop")  # opens the handle
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        project.enqueue("noop")
        samples.append((time.perf_counter() - t0) * 1e6)
    return samples


def drain(fpq: str, loop: Path, project: Path, jobs: int, isolation: str) -> dict[str, float]:
    subprocess.run([str(loop), str(project), "noop", str(jobs)], check=True,
                   stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    subprocess.run([fpq, "worker", "start", "--project", str(project), "--burst", "--count",
                    "2", "--isolation", isolation, "--quiet"], check=True,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    status = subprocess.run([fpq, "status", "--project", str(project), "--json", "--limit",
                             str(jobs + 10)], check=True, capture_output=True, text=True)
    done = json.loads(status.stdout)
    assert len(done) == jobs and all(j["status"] == "finished" for j in done), "not all finished"
    from datetime import datetime

    def ts(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    first = min(ts(j["started_at"]) for j in done)
    last = max(ts(j["ended_at"]) for j in done)
    return {"wall_s": wall, "busy_s": last - first, "jobs_per_s": jobs / (last - first),
            "wall_jobs_per_s": jobs / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs to drain")
    parser.add_argument("--enqueues", type=int, default=2000, help="enqueues to time")
    args = parser.parse_args()
    os.environ.setdefault("FPQ_PYTHON", sys.executable)
    fpq = fpq_binary()
    loop = build_loop_program()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        print(f"machine: {os.cpu_count()} cores, {sys.version.split()[0]}, fpq {fpq}")
        out = subprocess.run([str(loop), str(make_project(base, "c_api")), "noop",
                              str(args.enqueues)], check=True, capture_output=True, text=True)
        c_api = json.loads(out.stdout)
        print(f"enqueue, C API loop          : p50 {c_api['p50_us']:8.1f} us   "
              f"p99 {c_api['p99_us']:8.1f} us   (n={c_api['count']}, "
              f"{c_api['jobs_per_s']:.0f}/s)")
        print(f"enqueue, fpq CLI (process)   : {percentiles(bench_cli(fpq, make_project(base, 'cli'), 300))}")
        print(f"enqueue, project.enqueue     : {percentiles(bench_python(make_project(base, 'py'), args.enqueues))}")
        for isolation in ("none", "fork"):
            r = drain(fpq, loop, make_project(base, f"drain_{isolation}"), args.jobs, isolation)
            print(f"drain {args.jobs} no-op jobs, --count 2, isolation {isolation:4}: "
                  f"{r['jobs_per_s']:7.1f} jobs/s while running "
                  f"({r['wall_jobs_per_s']:.1f}/s including start-up, {r['wall_s']:.1f} s)")


if __name__ == "__main__":
    main()
