"""The producer side of bench/compare, one system per process so no library's imports or
patches leak into another's numbers.

    python bp_client.py SYSTEM enqueue N KIND       # N jobs, each call timed
    python bp_client.py SYSTEM fill N KIND          # N jobs, fastest way the system has
    python bp_client.py SYSTEM batch N KIND         # N jobs in batch calls of 1,000, timed
    python bp_client.py SYSTEM roundtrip N SECONDS WARMUPS KIND
    python bp_client.py SYSTEM bulk-noop N          # fill for the Redis memory figure

SYSTEM: fpq (backend from FPQ_BACKEND/FPQ_URL), rq, celery, dramatiq, huey, arq.
KIND: pipeline (the bench project's `noop` pipeline) or noop (a pure Python function).
Prints one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import bp_common as c

PIPELINE = "noop"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round((len(s) - 1) * q))]


def summary(samples_s: list[float], wall: float) -> dict[str, Any]:
    us = [x * 1e6 for x in samples_s]
    return {"count": len(us), "seconds": wall, "jobs_per_s": len(us) / wall if wall else 0,
            "p50_us": pct(us, 0.5), "p99_us": pct(us, 0.99), "max_us": max(us)}


def timed_loop(n: int, call: Callable[[], Any]) -> dict[str, Any]:
    lat = [0.0] * n
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        call()
        lat[i] = time.perf_counter() - t0
    return summary(lat, time.perf_counter() - start)


def roundtrip_loop(n: int, limit_s: float, one: Callable[[], Any], warm: int = 6) -> dict[str, Any]:
    for _ in range(warm):  # workers warm, leftovers of a cut-short drain gone
        one()
    lat: list[float] = []
    start = time.perf_counter()
    while len(lat) < n and time.perf_counter() - start < limit_s:
        t0 = time.perf_counter()
        one()
        lat.append(time.perf_counter() - t0)
    out = summary(lat, time.perf_counter() - start)
    out["limited"] = len(lat) < n
    return out


# ------------------------------------------------------------------------------ systems


class Fpq:
    def __init__(self, kind: str) -> None:
        if kind != "pipeline":
            raise SystemExit("fpq runs pipelines only")
        import flowerpower_job_queue  # noqa: F401  (attaches project.enqueue)
        from flowerpower import FlowerPowerProject

        self.project = FlowerPowerProject.load(c.PROJECT)
        self.project.enqueue(PIPELINE)  # opens the connection; not counted

    def enqueue(self) -> Any:
        return self.project.enqueue(PIPELINE)

    def wait(self, job_id: str) -> Any:
        return self.project.result(id=job_id, wait=True, timeout=60)

    def batch(self, n: int) -> Any:
        return self.project.job_queue.enqueue_many([{"pipeline_name": PIPELINE}] * n)


class Rq:
    def __init__(self, kind: str) -> None:
        from redis import Redis
        from rq import Queue

        self.q = Queue("default", connection=Redis(port=c.PORT, db=c.DB["rq"]))
        if kind == "pipeline":
            self.func: Any = "flowerpower_job_queue.tasks.run_pipeline"
            self.kwargs = {"project": c.PROJECT, "pipeline": PIPELINE, "run": {}}
        else:
            self.func, self.kwargs = "bp_common.noop", {}

    def enqueue(self) -> Any:
        return self.q.enqueue(self.func, kwargs=self.kwargs)

    def fill(self, n: int) -> None:
        for start in range(0, n, 1000):
            self.batch(min(1000, n - start))

    def batch(self, n: int) -> Any:
        """RQ's own batch call: Queue.enqueue_many in one Redis pipeline."""
        from rq import Queue

        with self.q.connection.pipeline() as pipe:
            jobs = self.q.enqueue_many([Queue.prepare_data(self.func, kwargs=self.kwargs)
                                        for _ in range(n)], pipeline=pipe)
            pipe.execute()
        return jobs

    def wait(self, job: Any) -> Any:
        result = job.latest_result(timeout=60)
        assert result is not None and result.type == result.Type.SUCCESSFUL, result
        return result.return_value


class Celery:
    def __init__(self, kind: str) -> None:
        import bp_celery

        self.task = bp_celery.run_pipeline if kind == "pipeline" else bp_celery.noop
        self.args = (c.PROJECT, PIPELINE, {}) if kind == "pipeline" else ()

    def enqueue(self) -> Any:
        return self.task.delay(*self.args)

    def wait(self, r: Any) -> Any:
        return r.get(timeout=60)


class Dramatiq:
    def __init__(self, kind: str) -> None:
        import bp_dramatiq

        self.actor = bp_dramatiq.run_pipeline if kind == "pipeline" else bp_dramatiq.noop
        self.args = (c.PROJECT, PIPELINE, {}) if kind == "pipeline" else ()

    def enqueue(self) -> Any:
        return self.actor.send(*self.args)

    def wait(self, m: Any) -> Any:
        return m.get_result(block=True, timeout=60_000)


class Huey:
    def __init__(self, kind: str) -> None:
        import bp_huey

        self.task = bp_huey.run_pipeline if kind == "pipeline" else bp_huey.noop
        self.args = (c.PROJECT, PIPELINE, {}) if kind == "pipeline" else ()

    def enqueue(self) -> Any:
        return self.task(*self.args)

    def wait(self, r: Any) -> Any:
        return r.get(blocking=True, timeout=60)


class Arq:
    """arq is asyncio-only: each call runs on one event loop kept for the process."""

    def __init__(self, kind: str) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(create_pool(
            RedisSettings(host="127.0.0.1", port=c.PORT, database=c.DB["arq"])))
        self.name = "run_pipeline" if kind == "pipeline" else "noop"
        self.args = (c.PROJECT, PIPELINE, {}) if kind == "pipeline" else ()

    def enqueue(self) -> Any:
        return self.loop.run_until_complete(self.pool.enqueue_job(self.name, *self.args))

    def fill(self, n: int) -> None:
        async def many() -> None:
            for start in range(0, n, 20):  # arq's pool allows few connections
                await asyncio.gather(*(self.pool.enqueue_job(self.name, *self.args)
                                       for _ in range(min(20, n - start))))
        self.loop.run_until_complete(many())

    def wait(self, job: Any) -> Any:
        return self.loop.run_until_complete(job.result(timeout=60))


SYSTEMS = {"fpq": Fpq, "rq": Rq, "celery": Celery, "dramatiq": Dramatiq, "huey": Huey,
           "arq": Arq}


def main(argv: list[str]) -> None:
    system, action, n = argv[0], argv[1], int(argv[2])
    kind = argv[-1]
    s = SYSTEMS[system](kind)
    if action == "enqueue":
        out = timed_loop(n, s.enqueue)
    elif action == "fill":
        start = time.perf_counter()
        if hasattr(s, "fill"):
            s.fill(n)
        else:
            for _ in range(n):
                s.enqueue()
        out = {"count": n, "seconds": time.perf_counter() - start}
    elif action == "batch":
        calls = [0.0] * ((n + 999) // 1000)
        start, cpu0 = time.perf_counter(), time.process_time()
        for i in range(len(calls)):
            t0 = time.perf_counter()
            s.batch(min(1000, n - i * 1000))
            calls[i] = time.perf_counter() - t0
        wall = time.perf_counter() - start
        out = {"count": n, "seconds": wall, "jobs_per_s": n / wall,
               "p50_us": pct([x * 1e6 for x in calls], 0.5),
               "cpu_us_per_job": (time.process_time() - cpu0) * 1e6 / n}
    elif action == "roundtrip":
        limit, warm = float(argv[3]), int(argv[4])
        out = roundtrip_loop(n, limit, lambda: s.wait(s.enqueue()), warm)
    else:
        raise SystemExit(f"unknown action {action!r}")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
