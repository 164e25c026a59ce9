"""bench/compare: flowerpower-job-queue side by side with the queues a user would pick
instead (rq, celery, dramatiq, huey, arq), on this machine, in one run.

Run it with `bench/compare [--quick]` (the wrapper makes the peers' virtual environment
and the Release C program first); this module is what it runs, inside that environment.
It starts its own redis-server on a free loopback port, makes a FlowerPower project with
a no-op pipeline and a tiny real one, runs the workloads of bench/README.md for every
system, prints one markdown table and writes docs/benchmarks.md and
docs/benchmarks-drain.png.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
VENV_BIN = Path(sys.executable).parent
FPQ = str(VENV_BIN / "fpq")
LOOP = ROOT / "build" / "bench" / "enqueue_loop"
sys.path.insert(0, str(PEERS))
import bp_common

DB = bp_common.DB
# Our rq backend names a project's queues NAME.high/default/low (docs/deployment.md); the
# bench project is bench_project. RQ's own workers and clients use plain "default".
OUR_RQ_QUEUE = "bench_project.default"


def rq_queue(system: str) -> str:
    return OUR_RQ_QUEUE if system == "fpq-rq" else "default"

NOOP_PY = "def result() -> int:\n    return 1\n"
NOOP_YML = ("run:\n  inputs: {}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
            "  retry: {max_retries: 0}\n")
# The tiny real pipeline of workload 4: Hamilton nodes and a small pandas step, like the
# executor's own warm-up pipeline.
TINY_PY = '''import pandas as pd


def x_plus_one(x: int) -> int:
    return x + 1


def frame(x_plus_one: int) -> pd.DataFrame:
    data = pd.DataFrame({"k": [x_plus_one, x_plus_one, 2], "v": [1.0, 2.0, 3.0]})
    return data.groupby("k").sum()


def total(frame: pd.DataFrame) -> float:
    return float(frame["v"].sum())
'''
TINY_YML = ("run:\n  inputs: {x: 1}\n  final_vars: [total]\n  executor: {type: synchronous}\n"
            "  retry: {max_retries: 0}\n")


@dataclasses.dataclass
class Size:
    jobs: int            # workloads 1 and 2
    drain_s: float       # a drain stops after this long (then extrapolated)
    rt: int              # workload 3
    rt_s: float
    fp_jobs: int         # workload 4
    mem_jobs: int        # workload 5, Redis memory (scaled to 100,000)
    ceiling_jobs: int    # workload 6


FULL = Size(jobs=20_000, drain_s=12, rt=1_000, rt_s=4, fp_jobs=500, mem_jobs=100_000,
            ceiling_jobs=20_000)
QUICK = Size(jobs=1_000, drain_s=1.5, rt=100, rt_s=0.75, fp_jobs=100, mem_jobs=10_000,
             ceiling_jobs=5_000)
# --quick also leaves out the rows that repeat a mode another row already shows (the fork
# isolation on SQLite, the forking RQ Worker on the no-op, the second and third backend
# of workload 4, the fork executors of workload 5, the round trips of forking workers), to
# stay under 2 minutes.
QUICK_SKIP = {("fpq-sqlite", "fork"), ("rq", "worker-noop"), ("fp", "sqlite-fork"),
              ("fp", "rq-none"), ("idle", "fork")}


@dataclasses.dataclass
class Row:
    system: str
    workload: str
    figure: str
    value: float | None = None     # what the ratio is computed from
    better: str = "higher"         # higher or lower
    ref: str | None = None         # key of our row this one is compared with
    key: str | None = None         # this row's key, when it is one of ours
    note: str = ""
    ratio: str = ""
    cpu_ms: float | None = None    # drains: CPU per job, compared the same way (lower)


class Bench:
    def __init__(self, size: Size, quick: bool, only: set[str] | None, log: Callable[[str], None]):
        self.size, self.quick, self.only, self.log = size, quick, only, log
        self.rows: list[Row] = []
        self.ours: dict[str, float] = {}
        self.commands: list[str] = []
        self.drains: list[dict[str, Any]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="fpq-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.redis_mem: tuple[float, float] | None = None  # ours, RQ's (workload 5)
        self.redis_per_job: tuple[float, float] | None = None  # µs, commands (workload 6)
        self.execute_ms: float | None = None  # Driver.execute alone, no-op (workload 4)

    # ----------------------------------------------------------------- infrastructure

    def start_redis(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(self.tmp), "--databases", "16",
               "--logfile", str(self.tmp / "redis.log")]
        self.redis_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True)
        self.commands.append("redis-server --port PORT --bind 127.0.0.1 --save '' "
                             "--appendonly no --dir TMP")
        deadline = time.time() + 10
        while True:
            try:
                self.r = redis.Redis(port=self.port, db=0)
                self.r.ping()
                break
            except redis.ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.dbs = {i: redis.Redis(port=self.port, db=i) for i in range(16)}
        self.url = f"redis://127.0.0.1:{self.port}/{DB['fpq']}"
        os.environ["BENCH_REDIS_PORT"] = str(self.port)
        bp_common.PORT = self.port

    def make_project(self) -> None:
        self.project = self.tmp / "bench_project"
        code = ("import contextlib, io, sys\nfrom flowerpower import FlowerPowerProject\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                "    FlowerPowerProject.new(name='bench_project', base_dir=sys.argv[1])\n")
        subprocess.run([sys.executable, "-c", code, str(self.project)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, py, yml in (("noop", NOOP_PY, NOOP_YML), ("tiny", TINY_PY, TINY_YML)):
            (self.project / "pipelines" / f"{name}.py").write_text(py)
            (self.project / "conf" / "pipelines" / f"{name}.yml").write_text(yml)
        os.environ["BENCH_PROJECT"] = str(self.project)

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(PEERS) + (os.pathsep + env["PYTHONPATH"]
                                          if env.get("PYTHONPATH") else "")
        env["FPQ_PYTHON"] = sys.executable
        # Python rq runs our run_pipeline in the project it is told to serve (tasks.py):
        # the peers' workers start in self.tmp, not in the project.
        env["FPQ_PROJECT_DIR"] = str(self.project)
        env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
        for k in ("FPQ_BACKEND", "FPQ_URL", "BENCH_PRELOAD"):
            env.pop(k, None)
        env.update(extra)
        return env

    def fpq_env(self, backend: str) -> dict[str, str]:
        return self.env(FPQ_BACKEND="rq", FPQ_URL=self.url) if backend == "rq" else self.env()

    def reset_sqlite(self) -> None:
        if getattr(self, "_native", None) is not None:
            self._native.close()
            self._native = None
        d = self.project / ".flowerpower"
        for f in ("queue.db", "queue.db-wal", "queue.db-shm"):
            with contextlib.suppress(FileNotFoundError):
                (d / f).unlink()

    def reset(self, system: str) -> None:
        if system == "fpq-sqlite":
            self.reset_sqlite()
        else:
            self.r.flushall()

    def client(self, system: str, *args: Any, env: dict[str, str] | None = None,
               timeout: float = 600) -> dict[str, Any]:
        cmd = [sys.executable, str(PEERS / "bp_client.py"), system, *map(str, args)]
        out = subprocess.run(cmd, env=env or self.env(), capture_output=True, text=True,
                             timeout=timeout, cwd=self.tmp, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def c_loop(self, backend: str, n: int, pipeline: str = "noop",
               batch: int = 0) -> dict[str, Any]:
        cmd = [str(LOOP), str(self.project), pipeline, str(n)]
        if backend == "rq":
            cmd += ["rq", self.url]
        elif batch:
            cmd += ["", ""]  # the default backend (SQLite) and its default URL
        if batch:
            cmd.append(str(batch))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    # ---------------------------------------------------------------------- workers

    def spawn(self, cmds: list[list[str]], env: dict[str, str],
              name: str) -> list[subprocess.Popen[bytes]]:
        logs = self.tmp / "logs"
        logs.mkdir(exist_ok=True)
        procs = []
        for i, cmd in enumerate(cmds):
            log = open(logs / f"{name}-{i}.log", "ab")  # noqa: SIM115
            procs.append(subprocess.Popen(cmd, env=env, cwd=self.tmp, stdout=log, stderr=log,
                                          start_new_session=True))
            log.close()
        self.procs += procs
        return procs

    def stop(self, procs: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
        tree = set()
        for p in procs:
            tree |= descendants(p.pid)
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.time()))
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for pid in tree:  # children in their own process groups (our executors)
            with contextlib.suppress(ProcessLookupError):
                if alive(pid):
                    time.sleep(0.2)
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)
        for p in procs:
            with contextlib.suppress(ValueError):
                self.procs.remove(p)

    def stop_all(self) -> None:
        self.stop(list(self.procs), grace=5)
        if getattr(self, "redis_proc", None) is not None:
            self.redis_proc.terminate()
            self.redis_proc.wait()

    # ------------------------------------------------------------------ the systems

    def worker_cmds(self, system: str, mode: str) -> tuple[list[list[str]], dict[str, str]]:
        """The commands that start 2 job-running processes of a system, and their env."""
        b = VENV_BIN
        # The peers' pipeline rows preload FlowerPower (bp_common); "worker-default" is
        # RQ's forking Worker as `rq worker` runs it: each job's horse imports the task.
        preload = mode in ("pipeline", "simple-pipeline", "worker-pipeline")
        env = self.env(BENCH_PRELOAD="1") if preload else self.env()
        if system.startswith("fpq"):
            backend = system.split("-")[1]
            return ([[FPQ, "worker", "start", "--project", str(self.project), "--count", "2",
                      "--isolation", mode, "--quiet"]], self.fpq_env(backend))
        if system == "rq":
            cls = "rq.worker.SimpleWorker" if mode.startswith("simple") else "rq.worker.Worker"
            cmd = [str(b / "rq"), "worker", "--url", bp_common.redis_url(DB["rq"]), "-w", cls,
                   "-q"]
            if preload:
                cmd += ["-c", "bp_rq_settings"]
            return [cmd + ["default"], list(cmd + ["default"])], env
        if system == "celery":
            return ([[str(b / "celery"), "-A", "bp_celery", "worker", "--pool", "prefork",
                      "--concurrency", "2", "--loglevel", "WARNING"]], env)
        if system == "dramatiq":
            return ([[str(b / "dramatiq"), "bp_dramatiq", "--processes", "2", "--threads", "1"]],
                    env)
        if system == "huey":
            return ([[str(b / "huey_consumer"), "bp_huey.huey", "-k", "process", "-w", "2"]], env)
        if system == "arq":
            cmd = [str(b / "arq"), "bp_arq.WorkerSettings"]
            return [cmd, list(cmd)], env
        raise ValueError(system)

    def done_count(self, system: str) -> int:
        if system == "fpq-sqlite":
            counts = json.loads(self.native().metrics_json())["queues"]
            return sum(q["finished"] + q["failed"] for q in counts)
        if system in ("fpq-rq", "rq"):
            q = rq_queue(system)
            p = self.r.pipeline(transaction=False)
            p.zcard(f"rq:finished:{q}")
            p.zcard(f"rq:failed:{q}")
            return sum(p.execute())
        if system == "celery":
            return int(self.dbs[DB["celery_results"]].dbsize())
        if system == "dramatiq":
            return int(self.dbs[DB["dramatiq_results"]].dbsize())
        if system == "huey":
            return int(self.dbs[DB["huey"]].hlen("huey.results.bp"))
        if system == "arq":
            return self.arq_enqueued - int(self.dbs[DB["arq"]].zcard("arq:queue"))
        raise ValueError(system)

    def failed_count(self, system: str) -> int:
        if system == "fpq-sqlite":
            return sum(q["failed"] for q in json.loads(self.native().metrics_json())["queues"])
        if system in ("fpq-rq", "rq"):
            return int(self.r.zcard(f"rq:failed:{rq_queue(system)}"))
        return 0

    def native(self) -> Any:
        if getattr(self, "_native", None) is None:
            from flowerpower_job_queue import _native

            self._native = _native.Queue(str(self.project))
        return self._native

    def purge(self, system: str) -> None:
        """Drops the jobs a drain cut short left queued, with the workers running."""
        if system == "fpq-sqlite":
            q = self.native()
            for job in q.find(None, self.size.jobs + 100):
                if job["status"] == "queued":
                    with contextlib.suppress(Exception):
                        q.cancel(job["id"])
        elif system in ("fpq-rq", "rq"):
            self.r.delete(f"rq:queue:{rq_queue(system)}")
        elif system == "celery":
            self.dbs[DB["celery"]].delete("celery")
        elif system == "dramatiq":
            d = self.dbs[DB["dramatiq"]]
            for k in d.keys("dramatiq:default*"):
                if not k.endswith(b".acks") and b"__acks__" not in k:
                    d.delete(k)
        elif system == "huey":
            self.dbs[DB["huey"]].delete("huey.redis.bp")
        elif system == "arq":
            self.dbs[DB["arq"]].delete("arq:queue")

    def fill(self, system: str, n: int, kind: str) -> float:
        t0 = time.perf_counter()
        if system.startswith("fpq"):
            self.c_loop(system.split("-")[1], n)
        else:
            self.client(system, "fill", n, kind)
        if system == "arq":
            self.arq_enqueued = n
        return time.perf_counter() - t0

    # -------------------------------------------------------------------- workloads

    def drain(self, system: str, mode: str, label: str, n: int, kind: str,
              roundtrip: bool, ref: str | None, key: str | None) -> None:
        cmds, env = self.worker_cmds(system, mode)
        self.command(f"{label} [{kind}]", cmds[0], env, twice=len(cmds) == 2)
        redis_system = system != "fpq-sqlite"
        if redis_system:
            self.r.config_resetstat()
            cpu0 = redis_cpu(self.r)
        done0 = self.done_count(system)
        assert done0 == 0, f"{system}: {done0} jobs done before the drain"
        spawn, spawn_wall = time.perf_counter(), time.time()
        procs = self.spawn(cmds, env, label.replace(" ", "_").replace("/", "_"))
        first_t, first_done, done = None, 0, 0
        limit = self.size.drain_s
        poll = 0.25 if system == "fpq-sqlite" else 0.01
        while True:
            done = self.done_count(system)
            t = time.perf_counter()
            if first_t is None and done > 0:
                first_t, first_done = t, done
                cpu_first = tree_cpu([p.pid for p in procs])
                redis_first = redis_cpu(self.r) if redis_system else 0.0
            if done >= n or (first_t is not None and t - first_t >= limit):
                break
            if t - spawn > 120:
                raise RuntimeError(f"{label}: no job done 120 s after start (see {self.tmp}/logs)")
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{label}: a worker exited (see {self.tmp}/logs)")
            time.sleep(poll)
        end = t
        complete = done >= n
        assert first_t is not None
        # CPU per job in the steady state (first job done to the end), of every process
        # of the system and of Redis: the figure a busy shared machine disturbs least.
        cpu_jobs = max(done - first_done, 1)
        cpu_per_job = (tree_cpu([p.pid for p in procs]) - cpu_first) / cpu_jobs
        if redis_system:
            cpu_per_job += (redis_cpu(self.r) - redis_first) / cpu_jobs
        rate = (done - first_done) / (end - first_t) if end > first_t else float("nan")
        startup = first_t - spawn
        if system == "fpq-sqlite":
            # Counting in SQLite costs milliseconds, so it was polled coarsely; the jobs'
            # own times give the exact span (first start to last end, wall clock).
            jobs = [j for j in self.native().find(None, n + 10) if j["status"] == "finished"]
            first = min(j["started_at"] for j in jobs)
            last = max(j["ended_at"] for j in jobs)
            done = len(jobs)
            rate = (done - 1) / (last - first)
            startup = first - spawn_wall
        tte = end - spawn if complete else startup + n / rate
        stats: dict[str, Any] = {}
        if redis_system:
            cpu = redis_cpu(self.r) - cpu0
            stats["redis_cpu_us_per_job"] = cpu * 1e6 / max(done, 1)
            stats["redis_cmd_us_per_job"] = commandstats_usec(self.r) / max(done, 1)
        failed = self.failed_count(system)
        rec = {"system": system, "mode": mode, "label": label, "kind": kind, "n": n,
               "done": done, "rate": rate, "tte": tte, "startup": startup,
               "complete": complete, "failed": failed, "cpu_ms": cpu_per_job * 1e3, **stats}
        self.drains.append(rec)
        how = (f"{n:,} in {tte:.1f} s" if complete else
               f"~{tte:.0f} s to empty (extrapolated: {done:,} of {n:,} in {end - first_t:.0f} s)")
        note = f"start-up {startup:.1f} s; CPU {cpu_per_job * 1e3:.2f} ms/job"
        if redis_system:
            note += f" of which Redis {stats['redis_cpu_us_per_job'] / 1e3:.2f}"
        if failed:
            note += f"; {failed} FAILED"
        self.add(Row(label, f"2. drain ({kind})", f"{rate_text(rate)} jobs/s; {how}", rate,
                     "higher", ref, key, note, cpu_ms=cpu_per_job * 1e3))
        self.log(f"  drain {label}: {rate:,.1f} jobs/s, {how}, {note}")
        if roundtrip:
            if not complete:
                self.purge(system)
            rt = self.client(system.split("-")[0], "roundtrip", self.size.rt, self.size.rt_s,
                             2 if self.quick else 6, kind, env=env)
            rkey = f"rt:{key}" if key else None
            rref = f"rt:{ref}" if ref else None
            lim = f" (n={rt['count']}, cut at {self.size.rt_s:g} s)" if rt["limited"] else ""
            self.add(Row(label, "3. round trip", f"p50 {ms(rt['p50_us'])}, p99 "
                         f"{ms(rt['p99_us'])}{lim}", rt["p50_us"], "lower", rref, rkey))
            self.log(f"  round trip {label}: p50 {ms(rt['p50_us'])} p99 {ms(rt['p99_us'])}{lim}")
            time.sleep(1.0)
            mem = tree_memory([p.pid for p in procs])
            mkey = f"idle:{key}" if key else None
            mref = f"idle:{ref}" if ref else None
            self.add(Row(label, "5. idle workers after jobs (PSS)",
                         f"{mb(mem['pss'])} PSS, {mb(mem['rss'])} RSS, {mem['n']} processes",
                         mem["pss"], "lower", mref, mkey))
        self.stop(procs)

    def system_runs(self, system: str, modes: list[tuple[str, str, str, bool, str | None,
                                                            str | None]]) -> None:
        """Workload 1 for a system, then its drains (workload 2) with round trips (3)."""
        if self.only and system.split("-")[0] not in self.only and system not in self.only:
            return
        n = self.size.jobs
        self.log(f"{system}:")
        if self.quick:
            modes = [m for m in modes if (system, m[0]) not in QUICK_SKIP]
            # round trips of the forking modes: one row of each kind is in the full run
            modes = [(m[0], m[1], m[2], m[3] and "fork" not in m[1], m[4], m[5])
                     for m in modes]
        for i, (mode, label, kind, rt, ref, key) in enumerate(modes):
            self.reset(system)
            if i == 0:
                env = self.fpq_env(system.split("-")[1]) if system.startswith("fpq") else None
                out = self.client(system.split("-")[0], "enqueue", n, "pipeline", env=env)
                if system == "arq":
                    self.arq_enqueued = n
                who = "project.enqueue" if system.startswith("fpq") else system
                ekey = f"enq:{system}" if system.startswith("fpq") else None
                self.add(Row(f"{system} ({who})" if system.startswith("fpq") else system,
                             "1. enqueue (Python)", f"{out['jobs_per_s']:,.0f} jobs/s; p50 "
                             f"{us(out['p50_us'])}, p99 {us(out['p99_us'])}", out["p50_us"],
                             "lower", None if ekey else "enq:fpq-rq", ekey))
                self.log(f"  enqueue: {out['jobs_per_s']:,.0f}/s p50 {us(out['p50_us'])}")
            elif system.startswith("fpq") and i == 1:
                self.c_api_enqueue(system, n)
            else:
                secs = self.fill(system, n, kind)
                self.log(f"  filled {n:,} {kind} jobs in {secs:.1f} s")
            self.drain(system, mode, label, n, kind, rt, ref, key)
        self.reset(system)
        if system.startswith("fpq") and len(modes) < 2:
            self.c_api_enqueue(system, n)
            self.reset(system)

    def c_api_enqueue(self, system: str, n: int) -> None:
        """Workload 1 for the C API: bench/c/enqueue_loop, one fpq_enqueue per job."""
        backend = system.split("-")[1]
        out = self.c_loop(backend, n)
        self.add(Row(f"fpq-{backend} (C API)", "1. enqueue (C API loop)",
                     f"{out['jobs_per_s']:,.0f} jobs/s; p50 {us(out['p50_us'])}, p99 "
                     f"{us(out['p99_us'])}", out["p50_us"], "lower", None, f"enqc:{system}"))
        self.log(f"  C API enqueue: p50 {us(out['p50_us'])}")

    def workload_batch(self) -> None:
        """Workload 1b, batch enqueue in calls of 1,000 jobs: our C API (fpq_enqueue_many),
        our Python API (project.job_queue.enqueue_many), RQ's Queue.enqueue_many (one Redis
        pipeline). CPU per job counts the producer and, on Redis, the server."""
        n = self.size.jobs
        label = "1b. batch enqueue (1,000 per call)"

        def measure(system: str, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any],
                                                                             float, str]:
            self.reset(system)
            on_redis = system != "fpq-sqlite"
            r0 = redis_cpu(self.r) if on_redis else 0.0
            out = run()
            server = (redis_cpu(self.r) - r0) * 1e6 / n if on_redis else 0.0
            cpu = out["cpu_us_per_job"] + server
            text = (f"{out['jobs_per_s']:,.0f} jobs/s; CPU/job {cpu:.1f} µs"
                    + (f" ({out['cpu_us_per_job']:.1f} producer + {server:.1f} Redis)"
                       if on_redis else ""))
            return out, cpu, text

        for system in ("fpq-sqlite", "fpq-rq"):
            if self.only and not {"fpq", "batch", system} & self.only:
                continue
            backend = system.split("-")[1]
            self.log(f"{system} batch enqueue:")
            out, cpu, text = measure(system, lambda b=backend: self.c_loop(b, n, batch=1000))
            self.add(Row(f"{system} (C API)", label, text, out["jobs_per_s"], "higher", None,
                         f"batchc:{system}", cpu_ms=cpu / 1000))
            self.log(f"  C API: {text}")
            out, cpu, text = measure(system, lambda b=backend: self.client(
                "fpq", "batch", n, "pipeline", env=self.fpq_env(b)))
            self.add(Row(f"{system} (enqueue_many)", label, text, out["jobs_per_s"], "higher",
                         None, f"batch:{system}", cpu_ms=cpu / 1000))
            self.log(f"  Python: {text}")
        if not self.only or {"rq", "batch"} & self.only:
            out, cpu, text = measure("rq", lambda: self.client("rq", "batch", n, "pipeline"))
            self.add(Row("rq (Queue.enqueue_many)", label, text, out["jobs_per_s"], "higher",
                         "batch:fpq-rq", None, cpu_ms=cpu / 1000))
            self.log(f"rq batch enqueue: {text}")
        self.reset("fpq-sqlite")
        self.reset("fpq-rq")

    def workload_1_to_3(self) -> None:
        self.system_runs("fpq-sqlite", [
            ("none", "fpq sqlite, isolation none", "pipeline", True, None, "sqlite-none"),
            ("fork", "fpq sqlite, isolation fork", "pipeline", True, None, "sqlite-fork")])
        self.system_runs("fpq-rq", [
            ("none", "fpq rq, isolation none", "pipeline", True, None, "rq-none"),
            ("fork", "fpq rq, isolation fork", "pipeline", True, None, "rq-fork")])
        self.system_runs("rq", [
            ("simple-pipeline", "RQ SimpleWorker", "pipeline", True, "rq-none", None),
            ("worker-pipeline", "RQ Worker (fork), preloaded", "pipeline", True, "rq-fork", None),
            ("worker-default", "RQ Worker (fork), rq worker defaults", "pipeline", False,
             "rq-fork", None),
            ("simple-noop", "RQ SimpleWorker", "noop", False, "rq-none", None),
            ("worker-noop", "RQ Worker (fork)", "noop", False, "rq-fork", None)])
        for system, label in (("celery", "Celery prefork -c 2"),
                              ("dramatiq", "Dramatiq 2 processes x 1 thread"),
                              ("huey", "Huey 2 process workers"),
                              ("arq", "arq 2 workers (defaults)")):
            self.system_runs(system, [
                ("pipeline", label, "pipeline", True, "rq-none", None),
                ("noop", label, "noop", False, "rq-none", None)])

    def workload_4(self) -> None:
        """FlowerPower overhead: a tiny real pipeline through our queue, one slot, vs
        direct project.run() calls in one process."""
        if self.only and "fp" not in self.only and "fpq" not in self.only:
            return
        n = self.size.fp_jobs
        self.log("FlowerPower overhead:")
        code = f"""
import json, sys, time, contextlib, io
sys.argv = ['x']
from flowerpower import FlowerPowerProject
p = FlowerPowerProject.load({str(self.project)!r})
def run(k):
    p.run('tiny', retry={{'max_retries': 0}})
    t0 = time.perf_counter()
    for _ in range(k):
        p.run('tiny', retry={{'max_retries': 0}})
    return (time.perf_counter() - t0) / k
plain = run({n})
from flowerpower_job_queue import runner
runner.speed_up_runs()
fast = run({n})
print(json.dumps({{'plain': plain, 'fast': fast}}))
"""
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=self.project, env=self.env(), check=True)
        direct = json.loads(out.stdout.strip().splitlines()[-1])
        self.add(Row("FlowerPower project.run() direct", "4. per job, tiny pipeline",
                     f"{direct['plain'] * 1e3:.2f} ms (plain process); "
                     f"{direct['fast'] * 1e3:.2f} ms with runner.speed_up_runs()"))
        self.log(f"  direct: {direct['plain'] * 1e3:.2f} ms, sped up {direct['fast'] * 1e3:.2f} ms")
        self.execute_ms = self.execute_alone_ms()
        self.add(Row("Hamilton Driver.execute alone", "4. per job, the drains' no-op pipeline",
                     f"{self.execute_ms:.3f} ms CPU (driver built once)"))
        # Each mode with the executors' warm pipeline cache on (the default) and off
        # (every run builds what project.run() builds), with the minor page faults per
        # job of the whole worker tree (job processes included, from RUSAGE_CHILDREN).
        for backend, isolation in (("sqlite", "none"), ("sqlite", "fork"), ("rq", "none")):
            if self.quick and ("fp", f"{backend}-{isolation}") in QUICK_SKIP:
                continue
            for cache in ("on", "off"):
                self.reset("fpq-" + backend)
                self.c_loop(backend, n, "tiny")
                cmd = [FPQ, "worker", "start", "--project", str(self.project), "--count", "1",
                       "--isolation", isolation, "--burst", "--quiet"]
                env = {**self.fpq_env(backend), "FPQ_EXECUTOR_PIPELINE_CACHE": cache}
                self.command(f"workload 4, {backend} {isolation}, pipeline cache {cache}",
                             cmd, env)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run(cmd, env=env, check=True, stderr=subprocess.DEVNULL, cwd=self.tmp)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                faults = (after.ru_minflt - before.ru_minflt) / n
                cpu = ((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)) / n
                per_job = self.busy_per_job(backend, n)
                over_plain = per_job - direct["plain"]
                over_fast = per_job - direct["fast"]
                self.add(Row(f"fpq {backend}, isolation {isolation}, 1 slot, pipeline cache {cache}",
                             "4. per job, tiny pipeline",
                             f"{per_job * 1e3:.2f} ms: {over_fast * 1e3:+.2f} ms vs sped-up run(), "
                             f"{over_plain * 1e3:+.2f} ms vs plain run(); worker tree CPU "
                             f"{cpu * 1e3:.2f} ms/job (start-up included), "
                             f"{faults:.0f} minor faults/job"))
                self.log(f"  {backend} {isolation} cache {cache}: {per_job * 1e3:.2f} ms/job, "
                         f"{faults:.0f} minor faults/job")
            self.reset("fpq-" + backend)

    def busy_per_job(self, backend: str, n: int) -> float:
        """Seconds per job between the first start and the last end, from the jobs."""
        env = self.fpq_env(backend)
        out = subprocess.run([FPQ, "status", "--project", str(self.project), "--json",
                              "--limit", str(n + 10)], env=env, capture_output=True,
                             text=True, check=True)
        jobs = json.loads(out.stdout)
        bad = [j for j in jobs if j["status"] != "finished"]
        assert len(jobs) == n and not bad, f"{len(bad)} of {len(jobs)} jobs not finished"
        first = min(ts(j["started_at"]) for j in jobs)
        last = max(ts(j["ended_at"]) for j in jobs)
        return (last - first) / n

    def workload_5(self) -> None:
        if self.only and "mem" not in self.only:
            return
        self.log("Footprint:")
        # Our worker, idle: the C supervisor alone and with its executors.
        for isolation in ("none", "fork"):
            if self.quick and ("idle", isolation) in QUICK_SKIP:
                continue
            self.reset_sqlite()
            cmds, env = self.worker_cmds("fpq-sqlite", isolation)
            procs = self.spawn(cmds, env, f"idle-fpq-{isolation}")
            log = self.tmp / "logs" / f"idle-fpq-{isolation}-0.log"
            wait_for(lambda log=log: log.read_text(errors="replace").count("ready in") >= 2,
                     60, "our executors did not start")
            time.sleep(1.0)
            sup = proc_memory(procs[0].pid)
            tree = tree_memory([procs[0].pid])
            if isolation == "none":
                self.add(Row("fpq worker (C supervisor alone)", "5. idle worker RSS",
                             f"{mb(sup['rss'])} RSS, {mb(sup['pss'])} PSS", sup["rss"],
                             "lower", None, "sup"))
            self.add(Row(f"fpq worker --count 2, isolation {isolation}, with executors",
                         "5. idle worker RSS",
                         f"{mb(tree['rss'])} RSS, {mb(tree['pss'])} PSS, {tree['n']} processes",
                         tree["pss"], "lower", None, f"idle-{isolation}"))
            self.log(f"  fpq {isolation}: supervisor {mb(sup['rss'])}, tree {mb(tree['rss'])} "
                     f"RSS / {mb(tree['pss'])} PSS")
            self.stop(procs)
        self.reset_sqlite()
        # Two idle RQ workers as `rq worker` starts them (nothing imported yet).
        self.r.flushall()
        cmds, env = self.worker_cmds("rq", "simple-noop")
        procs = self.spawn(cmds, env, "idle-rq")
        wait_for(lambda: self.r.scard("rq:workers") >= 2, 60, "rq workers did not register")
        time.sleep(1.0)
        one = proc_memory(procs[0].pid)
        tree = tree_memory([p.pid for p in procs])
        self.add(Row("rq worker (one, idle, fresh)", "5. idle worker RSS",
                     f"{mb(one['rss'])} RSS", one["rss"], "lower", "sup"))
        self.add(Row("2 rq workers (idle, fresh: FlowerPower not imported yet)",
                     "5. idle worker RSS", f"{mb(tree['rss'])} RSS, {mb(tree['pss'])} PSS",
                     tree["pss"], "lower", None, None,
                     "not comparable with our executors, which have FlowerPower loaded: see "
                     "workload 3's idle rows for workers after jobs"))
        self.stop(procs)
        # Redis memory per 100,000 queued jobs.
        n = self.size.mem_jobs
        scale = 100_000 / n
        self.r.flushall()
        base = used_memory(self.r)
        self.c_loop("rq", n)
        ours = (used_memory(self.r) - base) * scale
        self.r.flushall()
        base = used_memory(self.r)
        self.client("rq", "fill", n, "pipeline")
        theirs = (used_memory(self.r) - base) * scale
        self.r.flushall()
        note = "" if n == 100_000 else f"measured with {n:,} jobs, scaled"
        self.add(Row("fpq rq backend", "5. Redis memory per 100,000 queued jobs",
                     f"{mb(ours)}", ours, "lower", None, "redis-mem", note))
        self.add(Row("RQ (its default pickle serializer)",
                     "5. Redis memory per 100,000 queued jobs", f"{mb(theirs)}", theirs,
                     "lower", "redis-mem", None, note))
        self.redis_mem = (ours, theirs)
        self.log(f"  Redis per 100k: ours {mb(ours)}, RQ {mb(theirs)}")

    def workload_6(self) -> None:
        """The Redis-bound limit of the rq backend: redis-benchmark running our scripts
        with the arguments our worker really sends (captured with MONITOR)."""
        if self.only and "ceiling" not in self.only:
            return
        self.log("Ceiling:")
        self.r.flushall()
        captured = self.capture_commands()
        n = self.size.ceiling_jobs
        results = {}
        tracker = Tracker(self.port)
        try:
            # enqueue: fresh random ids, every call does the real work
            enq = list(captured["enqueue"])
            enq[3] = "bench-enq-__rand_int__"
            # The hash's field/value pairs (ARGV[7]..., after EVALSHA SHA 0 and six
            # fixed arguments) in any order are the same HSET: `data` goes last, where
            # redis-benchmark can read it from stdin.
            pairs = [enq[i:i + 2] for i in range(9, len(enq), 2)]
            pairs.sort(key=lambda fv: fv[0] == "data")
            enq = enq[:9] + [x for fv in pairs for x in fv]
            self.r.config_resetstat()
            results["enqueue"] = redis_bench(self.port, enq, n, keyspace=10**11)
            results["enqueue"]["inner"] = inner_commands(self.r) / n
            # take: pops each of the jobs just enqueued
            queued = int(self.r.llen(f"rq:queue:{OUR_RQ_QUEUE}"))
            results["take"] = redis_bench(self.port, captured["take"], queued)
            self.r.flushall()
            # The worker's step between two jobs (one script: finish the job it ran, take
            # the next). It needs started jobs of known ids: `pool` of them, enqueued
            # untimed under ids redis-benchmark's __rand_int__ draws from (bench-fin- and
            # 12 digits), then taken with the execution id the captured finish names. A
            # twentieth of that many steps are timed, so only a few % draw an id finished
            # already and do less work (the row says how many finished a job: a slightly
            # high limit). The next jobs wait in the queue under other ids, so every timed
            # step's take starts one, as in a drain.
            pool = n
            steps = max(1000, pool // 20)
            fill = self.r.pipeline(transaction=False)
            raw = [a.encode("latin-1") for a in enq]  # as redis_bench sends them
            for i in range(pool):
                fill.execute_command(*raw[:3], f"bench-fin-{i:012d}".encode(), *raw[4:])
                if i % 500 == 499:
                    fill.execute()
            fill.execute()
            redis_bench(self.port, captured["take"], int(self.r.llen(f"rq:queue:{OUR_RQ_QUEUE}")))
            redis_bench(self.port, [*enq[:3], "bench-next-__rand_int__", *enq[4:]], steps * 2,
                        keyspace=10**11)
            queued = int(self.r.llen(f"rq:queue:{OUR_RQ_QUEUE}"))
            step = list(captured["finish"])
            step[3] = "bench-fin-__rand_int__"
            before = int(self.r.zcard(f"rq:finished:{OUR_RQ_QUEUE}"))
            self.r.config_resetstat()
            results["step"] = redis_bench(self.port, step, steps, keyspace=pool)
            results["step"]["inner"] = inner_commands(self.r) / steps
            real = int(self.r.zcard(f"rq:finished:{OUR_RQ_QUEUE}")) - before
            took = queued - int(self.r.llen(f"rq:queue:{OUR_RQ_QUEUE}"))
            results["step"]["real_fraction"] = real / steps
            results["step"]["took_fraction"] = took / steps
        finally:
            tracker.stop()
            self.r.flushall()
        per = {k: 1e6 / v["rps"] for k, v in results.items()}
        drain_limit = 1e6 / per["step"]
        full_limit = 1e6 / (per["step"] + per["enqueue"])
        self.commands.append("workload 6: redis-benchmark -p PORT -c 8 -n N [-r KEYSPACE] "
                             "EVALSHA <sha> 0 <the arguments our worker sent, captured with "
                             "MONITOR; the job id replaced by ...__rand_int__>, once per "
                             "script (enqueue, take, the worker's step: finish + take)")
        step = results["step"]
        self.redis_per_job = (per["enqueue"] + per["step"],
                              results["enqueue"]["inner"] + step["inner"])
        self.add(Row("Redis 7 + our scripts (redis-benchmark, -c 8)", "6. ceiling",
                     f"enqueue {results['enqueue']['rps']:,.0f}/s, finish + take "
                     f"{step['rps']:,.0f}/s ({per['enqueue']:.0f}+{per['step']:.0f} µs of "
                     f"Redis per job; {results['enqueue']['inner']:.0f}+{step['inner']:.0f} "
                     f"commands inside the scripts): drain limit {drain_limit:,.0f} jobs/s, "
                     f"with the enqueue {full_limit:,.0f} jobs/s; a take alone (a worker's first) "
                     f"{per['take']:.0f} µs", drain_limit, "higher", None, "ceiling",
                     f"{step['real_fraction']:.0%} of timed steps finished a job, "
                     f"{step['took_fraction']:.0%} took one"))
        for d in self.drains:
            if d["system"] == "fpq-rq":
                self.add(Row(d["label"], "6. drain as a fraction of the Redis-bound limit",
                             f"{d['rate'] / drain_limit:.1%} ({d['rate']:,.0f} of "
                             f"{drain_limit:,.0f} jobs/s)"))
        self.log(f"  limit: drain {drain_limit:,.0f}/s, full {full_limit:,.0f}/s: {per}")

    def capture_commands(self) -> dict[str, list[str]]:
        """One job through our rq backend under MONITOR: the EVALSHA argv of its enqueue,
        take and finish."""
        cmds, env = self.worker_cmds("fpq-rq", "none")
        count = cmds[0].index("--count")
        cmds = [cmds[0][:count + 1] + ["1"] + cmds[0][count + 2:]]
        procs = self.spawn(cmds, env, "capture")
        log = self.tmp / "logs" / "capture-0.log"
        wait_for(lambda: "ready in" in log.read_text(errors="replace"), 60,
                 "executor did not start")
        lines: list[str] = []
        mon = socket.create_connection(("127.0.0.1", self.port))
        mon.sendall(b"MONITOR\r\n")
        reader = threading.Thread(target=read_monitor, args=(mon, lines), daemon=True)
        reader.start()
        time.sleep(0.2)
        self.c_loop("rq", 1)
        wait_for(lambda: self.r.zcard(f"rq:finished:{OUR_RQ_QUEUE}") >= 1, 30, "capture job not done")
        time.sleep(0.3)
        mon.close()
        reader.join(2)
        self.stop(procs)
        found: dict[str, list[str]] = {}
        takes: list[list[str]] = []
        for line in "".join(lines).splitlines():
            argv = parse_monitor(line)
            if not argv or argv[0].upper() != "EVALSHA" or len(argv) < 6:
                continue
            args = argv[3:]
            if len(args) > 12 and args[2] in ("queued", "scheduled") and "enqueue" not in found:
                found["enqueue"] = argv
            elif len(args) >= 8 and args[6].isdigit() and len(args) == 7 + int(args[6]):
                takes.append(argv)
            elif len(args) >= 13 and args[2] == "finished":
                found["finish"] = argv
        # The take that started the finished job: its execution id (ARGV[6]) is the one the
        # finish names (ARGV[16]), so jobs taken with it can be finished by the captured
        # finish. An idle worker's empty takes may come before it under other ids.
        if "finish" in found:
            ran = found["finish"][3 + 15]
            found.update({"take": t for t in takes if t[3 + 5] == ran})
        missing = {"enqueue", "take", "finish"} - set(found)
        if missing:
            raise RuntimeError(f"MONITOR did not show {missing}")
        return found

    # ------------------------------------------------------------------------ output

    def command(self, what: str, cmd: list[str], env: dict[str, str],
                twice: bool = False) -> None:
        """Records a worker command as a reader can type it: paths relative to the
        checkout, the temporary project as $PROJECT, the environment that matters."""
        def clean(x: str) -> str:
            x = x.replace(str(self.project), "$PROJECT").replace(str(VENV_BIN) + "/", "")
            return x.replace(f":{self.port}/", ":PORT/")
        words = [clean(x) for x in cmd]
        extra = [f"{k}={clean(env[k])}" for k in ("BENCH_PRELOAD", "FPQ_BACKEND", "FPQ_URL")
                 if k in env]
        line = " ".join(extra + [shlex.quote(w) if "$" not in w else w for w in words])
        self.commands.append(f"{what}: {line}" + ("   (two processes)" if twice else ""))

    def add(self, row: Row) -> None:
        if row.key is not None and row.value is not None:
            self.ours[row.key] = row.value
            if row.cpu_ms is not None:
                self.ours["cpu:" + row.key] = row.cpu_ms
        self.rows.append(row)

    def ratios(self) -> None:
        for row in self.rows:
            if row.ref is None or row.value is None or row.ref not in self.ours:
                continue
            us_v = self.ours[row.ref]
            if row.value <= 0 or us_v <= 0 or math.isnan(row.value):
                continue
            x = us_v / row.value if row.better == "higher" else row.value / us_v
            row.ratio = times(x)
            ours_cpu = self.ours.get("cpu:" + row.ref)
            if row.cpu_ms and ours_cpu:
                row.ratio += f" (CPU/job {times(row.cpu_ms / ours_cpu)})"

    def execute_alone_ms(self) -> float:
        """CPU per job of Hamilton's Driver.execute alone on the drains' pipeline, in a
        process of its own: the driver built once, then executed 2,000 times."""
        code = ("import sys, time\nsys.path.insert(0, sys.argv[1])\nimport noop\n"
                "from hamilton import driver\n"
                "d = driver.Builder().with_modules(noop).build()\n"
                "for _ in range(200): d.execute(final_vars=['result'])\n"
                "t = time.thread_time()\n"
                "for _ in range(2000): d.execute(final_vars=['result'])\n"
                "print((time.thread_time() - t) / 2000 * 1e3)\n")
        out = subprocess.run([sys.executable, "-c", code, str(self.project / "pipelines")],
                             capture_output=True, text=True, check=True)
        return float(out.stdout.split()[-1])

    def targets(self) -> str:
        """The issue's targets, checked against this run's figures."""
        def drain(label: str, kind: str = "pipeline") -> dict[str, Any] | None:
            return next((d for d in self.drains if d["label"] == label and d["kind"] == kind),
                        None)

        def vs(ours: dict[str, Any] | None, theirs: dict[str, Any] | None, goal: float) -> str:
            if not ours or not theirs:
                return "not measured"
            x, c = ours["rate"] / theirs["rate"], theirs["cpu_ms"] / ours["cpu_ms"]
            verdict = "met" if x >= goal else "**missed**"
            return f"{times(x)} in jobs/s, {times(c)} in CPU per job: {verdict}"

        def at_most(v: float | None, limit: float, text: str) -> str:
            if v is None:
                return "not measured"
            return f"{text}: {'met' if v <= limit else '**missed**'}"

        out = []
        none_rq, fork_rq = drain("fpq rq, isolation none"), drain("fpq rq, isolation fork")
        none_sq, fork_sq = drain("fpq sqlite, isolation none"), drain("fpq sqlite, isolation fork")
        simple, huey = drain("RQ SimpleWorker"), drain("Huey 2 process workers")
        out.append(f"- Drain, `--isolation none` >= 8x RQ `SimpleWorker`: rq backend "
                   f"{vs(none_rq, simple, 8)}; SQLite {vs(none_sq, simple, 8)}. >= 2x Huey: "
                   f"rq backend {vs(none_rq, huey, 2)}; SQLite {vs(none_sq, huey, 2)}.")
        execute = self.execute_ms
        outside = [(name, d["cpu_ms"] - execute) for name, d in (("rq", none_rq),
                                                                 ("SQLite", none_sq))
                   if d and execute is not None]
        out.append("- Our CPU per job outside the pipeline's own execute <= 0.3 ms (a drain's "
                   "CPU per job, Redis included, less Hamilton's `Driver.execute` of the same "
                   f"pipeline alone, {execute or 0:.2f} ms): " + at_most(
                       max(v for _, v in outside) if outside else None, 0.3,
                       "; ".join(f"{name} {v:.2f} ms" for name, v in outside)) + ".")
        preloaded = drain("RQ Worker (fork), preloaded")
        cpu_fork = [d["cpu_ms"] for d in (fork_rq, fork_sq) if d]
        out.append(f"- Drain, `--isolation fork` >= 3x a preloaded RQ `Worker`: "
                   f"{vs(fork_rq, preloaded, 3)}; <= 10 ms CPU per job: " + at_most(
                       max(cpu_fork) if cpu_fork else None, 10,
                       " and ".join(f"{c:.1f} ms" for c in cpu_fork)) + ".")
        if self.redis_per_job:
            us_job, cmds = self.redis_per_job
            out.append(f"- Redis per job (enqueue, then the worker's finish + take): <= 200 µs "
                       f"of Redis: {at_most(us_job, 200, f'{us_job:.0f} µs')}; <= 15 commands: "
                       f"{at_most(cmds, 15, f'{cmds:.0f}')}.")
        if self.redis_mem:
            mine, rq_mem = self.redis_mem
            out.append(f"- Redis memory per queued job no more than RQ's: "
                       f"{at_most(mine, rq_mem, f'{mb(mine)} against {mb(rq_mem)} per 100,000')}.")

        def p50_at_most(key: str, limit: float) -> str:
            v = self.ours.get(key)
            return at_most(v, limit, f"{v:.1f} µs" if v is not None else "")
        out.append(f"- `project.enqueue` p50 <= 100 µs on rq: {p50_at_most('enq:fpq-rq', 100)}; "
                   f"<= 40 µs on SQLite: {p50_at_most('enq:fpq-sqlite', 40)}. C API p50 <= 30 µs "
                   f"on SQLite: {p50_at_most('enqc:fpq-sqlite', 30)}.")

        def over(key: str, goal: float) -> str:
            v = self.ours.get(key)
            if v is None:
                return "not measured"
            return f"{v:,.0f} jobs/s: {'met' if v >= goal else '**missed**'}"
        out.append(f"- Batch enqueue >= 50,000 jobs/s on rq: C API {over('batchc:fpq-rq', 5e4)}; "
                   f"`enqueue_many` {over('batch:fpq-rq', 5e4)}. >= 100,000 jobs/s on SQLite: "
                   f"C API {over('batchc:fpq-sqlite', 1e5)}; `enqueue_many` "
                   f"{over('batch:fpq-sqlite', 1e5)}.")
        starts = [d["startup"] for d in (none_rq, none_sq) if d]
        out.append("- `worker start --count 2` to the first job finished <= 2 s: " + at_most(
            max(starts) if starts else None, 2,
            " and ".join(f"{t:.1f} s" for t in starts) + " (rq and SQLite, isolation none)") + ".")
        return "\n".join(out)

    def table(self) -> str:
        self.ratios()
        out = ["| System | Workload | Figure | Ratio to us |", "|---|---|---|---|"]
        for r in self.rows:
            fig = r.figure + (f" ({r.note})" if r.note else "")
            out.append(f"| {r.system} | {r.workload} | {fig} | {r.ratio or '—'} |")
        return "\n".join(out)

    def chart(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        drains = list(reversed(self.drains))
        labels = [f"{d['label']} [{d['kind']}]" for d in drains]
        rates = [d["rate"] for d in drains]
        colors = ["#2a7ab9" if d["system"].startswith("fpq") else
                  ("#bbbbbb" if d["kind"] == "noop" else "#e07b39") for d in drains]
        fig, ax = plt.subplots(figsize=(10, 0.42 * len(drains) + 1.6))
        bars = ax.barh(labels, rates, color=colors)
        for bar, d in zip(bars, drains, strict=True):
            if not d["complete"]:
                bar.set_hatch("//")
            rate = d["rate"]
            ax.text(bar.get_width() * 1.05, bar.get_y() + bar.get_height() / 2,
                    f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}", va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("jobs/s while draining (log scale; hatched: cut at the time bound, "
                      "extrapolated)")
        ax.set_title(f"Drain of {self.size.jobs:,} queued jobs by 2 worker processes\n"
                     "blue: flowerpower-job-queue; orange: peers, same FlowerPower pipeline; "
                     "grey: peers, pure Python no-op", fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


# ------------------------------------------------------------------------ helpers


def times(x: float) -> str:
    return f"{x:,.1f}x" if x >= 10 else f"{x:.2f}x"


def rate_text(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2f}"


def ms(us_: float) -> str:
    return f"{us_ / 1000:.2f} ms" if us_ < 100_000 else f"{us_ / 1e6:.2f} s"


def us(v: float) -> str:
    return f"{v:.0f} µs"


def mb(b: float) -> str:
    return f"{b / 2**20:.1f} MB"


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def proc_memory(pid: int) -> dict[str, int]:
    rss = pss = 0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError), \
            open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    return {"rss": rss, "pss": pss}


def tree_memory(pids: list[int]) -> dict[str, int]:
    every = set(pids)
    for p in pids:
        every |= descendants(p)
    every = {p for p in every if alive(p)}
    mems = [proc_memory(p) for p in every]
    return {"rss": sum(m["rss"] for m in mems), "pss": sum(m["pss"] for m in mems),
            "n": len(every)}


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds used by the processes and their descendants (reaped children included,
    through cutime/cstime)."""
    hz = os.sysconf("SC_CLK_TCK")
    every = set(pids)
    for p in pids:
        every |= descendants(p)
    total = 0
    for pid in every:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
    return total / hz


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def inner_commands(r: redis.Redis) -> int:
    """Commands run since the last CONFIG RESETSTAT, the scripts' calls themselves and this
    client's own left out: what the scripts ran inside Redis."""
    skip = ("cmdstat_evalsha", "cmdstat_config|resetstat", "cmdstat_info")
    return sum(int(v["calls"]) for k, v in r.info("commandstats").items() if k not in skip)


def commandstats_usec(r: redis.Redis) -> float:
    return sum(float(v["usec"]) for v in r.info("commandstats").values())


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise RuntimeError(what)
        time.sleep(0.05)


def read_monitor(sock: socket.socket, lines: list[str]) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = sock.recv(1 << 20)
            if not data:
                return
            lines.append(data.decode("latin-1"))


def parse_monitor(line: str) -> list[str] | None:
    """The argv of one MONITOR line (its quoting is sdscatrepr's), as latin-1 text."""
    start = line.find('] "')
    if start < 0:
        return None
    i, s, out = start + 2, line, []
    while i < len(s):
        if s[i] != '"':
            i += 1
            continue
        i += 1
        buf = []
        while i < len(s) and s[i] != '"':
            ch = s[i]
            if ch == "\\" and i + 1 < len(s):
                nxt = s[i + 1]
                if nxt == "x":
                    buf.append(chr(int(s[i + 2:i + 4], 16)))
                    i += 4
                    continue
                buf.append({"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}.get(nxt, nxt))
                i += 2
                continue
            buf.append(ch)
            i += 1
        out.append("".join(buf))
        i += 1
    return out


def redis_bench(port: int, argv: list[str], n: int, keyspace: int | None = None) -> dict[str, Any]:
    """redis-benchmark running one command n times from 8 clients; requests per second."""
    cmd = ["redis-benchmark", "-p", str(port), "-c", "8", "-n", str(n), "--csv"]
    if keyspace:
        cmd += ["-r", str(keyspace)]
    # The job's `data` (zlib) may hold NUL bytes, which argv cannot carry: the last
    # argument then goes through stdin (-x).
    last = argv[-1].encode("latin-1")
    stdin = None
    if b"\0" in last:
        cmd.append("-x")
        argv, stdin = argv[:-1], last
    out = subprocess.run([c.encode() for c in cmd] + [a.encode("latin-1") for a in argv],
                         input=stdin, capture_output=True, check=True)
    # CSV: "test","rps",...; the test column echoes the command (binary included).
    last = out.stdout.decode("latin-1").strip().splitlines()[-1]
    return {"rps": float(last.rsplit('","', 7)[1].strip('"')), "n": n}


class Tracker:
    """A client tracking rq:queue: and rq:scheduled: keys in BCAST mode, as our worker's
    take connection does, so Redis pays for the invalidation messages in the ceiling too."""

    def __init__(self, port: int) -> None:
        self.sub = redis.Connection(port=port, protocol=2)
        self.sub.connect()
        self.sub.send_command("CLIENT", "ID")
        sub_id = self.sub.read_response()
        self.sub.send_command("SUBSCRIBE", "__redis__:invalidate")
        self.sub.read_response()
        self.tracking = redis.Connection(port=port, protocol=2)
        self.tracking.connect()
        self.tracking.send_command("CLIENT", "TRACKING", "on", "REDIRECT", sub_id, "BCAST",
                                   "PREFIX", "rq:queue:", "PREFIX", "rq:scheduled:")
        self.tracking.read_response()
        self.running = True
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        with contextlib.suppress(Exception):
            while self.running:
                if self.sub.can_read(timeout=0.2):
                    self.sub.read_response()

    def stop(self) -> None:
        self.running = False
        self.thread.join(2)
        with contextlib.suppress(Exception):
            self.tracking.disconnect()
            self.sub.disconnect()


def machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                             check=False).stdout.split()[2].removeprefix("v=")
    from importlib import metadata

    versions = {}
    for dist in ("flowerpower", "rq", "celery", "dramatiq", "huey", "arq", "redis"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {"cpu": f"{os.cpu_count()} cores, {model}", "memory": mem,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "redis": redis_v,
            "versions": ", ".join(f"{k} {v}" for k, v in versions.items())}


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def write_page(bench: Bench, table: str, started: float, load0: str, argv: list[str],
               out: Path, chart: Path) -> None:
    m = machine()
    elapsed = time.time() - started
    s = bench.size
    cmds = "\n".join(f"    {c}" for c in bench.commands)
    page = f"""# Benchmarks: flowerpower-job-queue side by side with its peers

Written by `bench/compare{' --quick' if bench.quick else ''}` on {dt.datetime.now():%Y-%m-%d %H:%M},
in {elapsed / 60:.1f} minutes. Re-run it to get this page for your machine; how it works and
what is fair about it: [bench/README.md](../bench/README.md).

**Machine**: {m['cpu']}, {m['memory']} RAM, {m['os']}, Python {m['python']}, Redis {m['redis']}
(a local `redis-server` the benchmark starts itself). Peers from PyPI, latest releases:
{m['versions']}. Load average before / after: {load0} / {loadavg()} (a shared machine: other
work running at the same time shows up as noise).

**Sizes**: {s.jobs:,} jobs per enqueue and drain (a drain is cut after {s.drain_s:g} s of
draining and its time to empty extrapolated from the steady rate, marked "~"), {s.rt:,}
round trips (cut at {s.rt_s:g} s), {s.fp_jobs} jobs for the FlowerPower overhead,
{s.mem_jobs:,} jobs for Redis memory, {s.ceiling_jobs:,} calls per script for the ceiling.

**Every job is the same**: the `noop` pipeline of a FlowerPower project
(`def result() -> int: return 1`), run through `flowerpower_job_queue.tasks.run_pipeline` by
the peers (what Python rq runs on our jobs; the project is loaded once per process) and by
our executor. Every peer worker preloads FlowerPower and applies the same
`runner.speed_up_runs()` our executor applies, so a run costs the same everywhere and the
figures compare the queues. Rows marked `noop` run a pure Python no-op function instead, to
show a peer's own overhead (our queue cannot run a non-pipeline job). Same concurrency
everywhere: 2 processes running jobs.

**Ratio to us**: how many times better our figure is than the row's (higher jobs/s; lower
latency or memory), against our closest mode: `fpq rq, isolation none` for peers whose
worker processes live on, `fpq rq, isolation fork` for RQ's forking `Worker`, the idle
supervisor for one idle RQ worker. Above 1: we are ahead. Rows marked `noop` are compared
with our pipeline rows (we run a FlowerPower pipeline in the time they run nothing). For a
drain, the ratio of CPU per job follows in brackets: on a shared machine it is the steadier
of the two.

{table}

![Drain throughput per system](benchmarks-drain.png)

## Issue 14's targets, in this run

{bench.targets()}

What bounds them is in [bench/README.md](../bench/README.md#what-bounds-the-figures).

## Exact commands

Worker commands run from `build/bench-peers-venv/bin` (on `PATH`) with
`PYTHONPATH=bench/peers`, `BENCH_REDIS_PORT=PORT` and `BENCH_PROJECT=$PROJECT` (the bench
project in a temporary directory).

    {' '.join(['bench/compare', *argv])}
{cmds}
"""
    out.write_text(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts: under 2 minutes")
    parser.add_argument("--only", default="", help="comma list: fpq,rq,celery,dramatiq,huey,"
                        "arq,fp,mem,ceiling,batch (for working on the benchmark; no page "
                        "written)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--jobs", type=int, help="override the jobs per drain (with --only)")
    parser.add_argument("--drain-seconds", type=float, help="override the drain bound")
    args = parser.parse_args()
    started = time.time()
    load0 = loadavg()
    only = set(filter(None, args.only.split(","))) or None
    size = dataclasses.replace(QUICK if args.quick else FULL)
    if args.jobs:
        size.jobs = args.jobs
    if args.drain_seconds:
        size.drain_s = args.drain_seconds
    if (args.jobs or args.drain_seconds) and only is None:
        parser.error("--jobs and --drain-seconds are for --only runs (the page uses fixed sizes)")
    bench = Bench(size, args.quick, only, lambda s: print(s, file=sys.stderr, flush=True))
    try:
        bench.start_redis()
        bench.make_project()
        bench.log(f"redis on port {bench.port}, project {bench.project}")
        bench.workload_1_to_3()
        bench.workload_batch()
        bench.workload_4()
        bench.workload_5()
        bench.workload_6()
    finally:
        bench.stop_all()
    table = bench.table()
    print(table)
    if not args.no_write and only is None:
        docs = ROOT / "docs"
        bench.chart(docs / "benchmarks-drain.png")
        write_page(bench, table, started, load0, sys.argv[1:], docs / "benchmarks.md",
                   docs / "benchmarks-drain.png")
        print(f"\nwrote docs/benchmarks.md and docs/benchmarks-drain.png "
              f"({(time.time() - started) / 60:.1f} min)", file=sys.stderr)
    shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
