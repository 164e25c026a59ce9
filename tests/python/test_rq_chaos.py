"""The `rq` backend under failure and load, with real workers on a real redis-server:
2,000 jobs while one of two workers is SIGKILLed three times mid-run (every job must end
finished, none lost; jobs that ran twice are counted and printed), and two workers on two
"machines" (network namespaces, else process groups) sharing one Redis."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import RedisServer
from fpqtest import run_fpq, start_worker, stop, wait_for
from projects import make_project

redis = pytest.importorskip("redis")

# Appends the job's number to a log with one O_APPEND write: the executions count.
NOOP = '''
import os


def result(i: int, log: str) -> int:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{i}\\n".encode())
    os.close(fd)
    return i
'''
NAP = ("import time\n\n\ndef result(ms: int = 100) -> int:\n"
       "    time.sleep(ms / 1000)\n    return ms\n")
# Retries are what brings a killed worker's jobs back: immediate, no jitter.
RETRY_YAML = ("run:\n  inputs: {}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
              "  retry: {max_retries: 5, retry_delay: 0, jitter_factor: 0}\n")


@pytest.fixture
def rq_env(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    return redis_server


def enqueue_many(fpq_bin: str, server: Any, project: Path, pipeline: str, count: int,
                 run_template: str) -> list[str]:
    """Enqueues count jobs; %d in run_template becomes the job's number. Uses the
    enqueue_many test tool beside fpq when it was built (fast), else fpq enqueue."""
    tool = Path(fpq_bin).parent / "enqueue_many"
    if tool.exists():
        proc = subprocess.run([str(tool), "rq", server.url, str(project), pipeline, str(count),
                               run_template], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    def one(i: int) -> str:
        run = run_template.replace("%d", str(i))
        return run_fpq(fpq_bin, "enqueue", pipeline, "--run-config", run, "--backend", "rq",
                       "--url", server.url, project=project, check=True).stdout.strip()

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def statuses(conn: Any, ids: list[str]) -> Counter[str]:
    pipe = conn.pipeline(transaction=False)
    for i in ids:
        pipe.hget(f"rq:job:{i}", "status")
    return Counter((s or b"missing").decode() for s in pipe.execute())


def held_by(conn: Any, worker: str) -> int:
    """Jobs the worker holds now (started, in rq:wip, under its name)."""
    members = [m.decode().rsplit(":", 1)[0] for m in conn.zrange("rq:wip:default", 0, -1)]
    return sum(conn.hget(f"rq:job:{i}", "worker_name") == worker.encode() for i in members)


@pytest.mark.timeout(400)
def test_no_job_is_lost_when_a_worker_is_killed_three_times(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    jobs_total, kills_wanted = 2000, 3
    project = make_project(tmp_path, "chaos", {"ch_noop": NOOP}, run_yaml={"ch_noop": RETRY_YAML})
    log = tmp_path / "executions.log"
    log.touch()
    conn = redis.Redis.from_url(rq_env.url)
    started = time.monotonic()
    ids = enqueue_many(fpq_bin, rq_env, project, "ch_noop", jobs_total,
                       '{"inputs": {"i": %d, "log": "' + str(log) + '"}}')
    assert len(set(ids)) == jobs_total
    enqueue_seconds = time.monotonic() - started

    args = ("--count", "2", "--lease", "3", "--quiet")
    victim = start_worker(fpq_bin, project, "--name", "chaos-victim", *args,
                          log=tmp_path / "victim.log")
    steady = start_worker(fpq_bin, project, "--name", "chaos-steady", *args,
                          log=tmp_path / "steady.log")
    held_at_kill = []
    try:
        for k in range(kills_wanted):
            goal = (k + 1) * jobs_total // (kills_wanted + 2)
            wait_for(lambda: len(log.read_text().split()) >= goal, timeout=180,
                     what=f"{goal} executions")
            wait_for(lambda: held_by(conn, "chaos-victim") > 0, timeout=30,
                     what="the victim to hold a job")
            held_at_kill.append(held_by(conn, "chaos-victim"))
            victim.send_signal(signal.SIGKILL)  # mid-run: it holds jobs
            victim.wait(30)
            victim = start_worker(fpq_bin, project, "--name", "chaos-victim", *args,
                                  log=tmp_path / "victim.log")

        def all_done() -> bool:
            return statuses(conn, ids)["finished"] == jobs_total

        wait_for(all_done, timeout=240, what="every job to finish")
    finally:
        assert stop(victim) == 0
        assert stop(steady) == 0
    elapsed = time.monotonic() - started

    final = statuses(conn, ids)
    assert final == Counter({"finished": jobs_total}), final
    runs = Counter(int(line) for line in log.read_text().split())
    assert set(runs) == set(range(jobs_total))  # none lost: each ran at least once
    twice = sum(n - 1 for n in runs.values() if n > 1)
    workers = Counter(job_worker for job_worker in
                      (conn.hget(f"rq:job:{i}", "worker_name").decode() for i in ids))
    figures = {"jobs": jobs_total, "kills": kills_wanted, "lost": 0, "ran_twice": twice,
               "held_at_each_kill": held_at_kill, "executions": sum(runs.values()),
               "by_worker": dict(workers), "enqueue_seconds": round(enqueue_seconds, 1),
               "total_seconds": round(elapsed, 1)}
    print("\nchaos figures:", json.dumps(figures))
    (tmp_path / "chaos-figures.json").write_text(json.dumps(figures))
    # Not asserted, reported: a job runs twice when a worker died after running it but
    # before recording it (at most one per slot per kill), or, on a machine stalled past
    # the 3 s lease, when a slow worker's lease was taken over.


def namespaces_work() -> bool:
    """Can this machine give a process its own network and host name (root, no seccomp
    veto)? Then the two workers below are two "machines" that share only Redis' socket."""
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--net", "--uts", "true"], capture_output=True).returncode == 0


def test_two_workers_on_two_machines_share_the_jobs(tmp_path: Path, fpq_bin: str) -> None:
    """Two workers in separate network and UTS namespaces (their own loopback and host
    name: they can reach Redis only through its unix socket) and separate process groups,
    sharing one Redis. Without namespaces (not root), two process groups with distinct
    names. Jobs must spread across both, and `fpq worker stop --all` must reach both."""
    sock = tmp_path / "redis.sock"
    server = RedisServer(tmp_path / "redis", extra=["--unixsocket", str(sock),
                                                    "--unixsocketperm", "777"])
    server.directory.mkdir()
    server.start()
    isolated = namespaces_work()
    project = make_project(tmp_path, "spread", {"sp_nap": NAP})
    hosts = ["node-a", "node-b"]
    names = [f"{h}.1" for h in hosts]
    env = {**os.environ, "FPQ_BACKEND": "rq", "FPQ_URL": server.url}
    workers = []
    try:
        for host, name in zip(hosts, names):
            argv = [fpq_bin, "worker", "start", "--project", str(project), "--name", name,
                    "--lease", "3", "--url", f"unix://{sock}"]
            if isolated:
                argv = ["unshare", "--net", "--uts", "sh", "-c",
                        f'hostname {host} && exec "$0" "$@"', *argv]
            out = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - closed by the OS
            workers.append(subprocess.Popen(argv, stdout=out, stderr=out, env=env,
                                            start_new_session=True))
        groups = {os.getpgid(w.pid) for w in workers}
        assert len(groups) == 2 and os.getpgid(0) not in groups

        def listed() -> Any:
            proc = subprocess.run([fpq_bin, "worker", "list", "--json", "--project",
                                   str(project)], capture_output=True, text=True, env=env)
            found = {w["name"]: w for w in json.loads(proc.stdout or "[]")}
            return found if set(found) >= set(names) else None

        registered = wait_for(listed, what="both workers to register")
        if isolated:
            assert {registered[n]["hostname"] for n in names} == set(hosts)
        ids = enqueue_many(fpq_bin, server, project, "sp_nap", 40, '{"inputs": {"ms": 200}}')
        conn = redis.Redis.from_url(server.url)
        wait_for(lambda: statuses(conn, ids)["finished"] == len(ids), timeout=120,
                 what="all jobs to finish")
        ran = Counter(conn.hget(f"rq:job:{i}", "worker_name").decode() for i in ids)
        assert set(ran) == set(names), ran
        assert min(ran.values()) >= 5, ran
        stopped = subprocess.run([fpq_bin, "worker", "stop", "--all", "--wait", "--project",
                                  str(project)], capture_output=True, text=True, env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert [w.wait(60) for w in workers] == [0, 0]
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGKILL)
                w.wait()
        server.stop()
