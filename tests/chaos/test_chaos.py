"""Nothing acknowledged is lost, whatever dies when.

For each backend, 5,000 jobs (FPQ_SOAK=1: 50,000) are enqueued by four producers that are
SIGKILLed mid-enqueue and started again, and run by three workers that are SIGKILLed at
random moments (holding jobs) and started again; on `rq`, redis-server is SIGKILLed and
started again twice, with AOF on (appendonly yes, appendfsync always). One job in ten
runs a pipeline designed to fail.

Afterwards every acknowledged enqueue (the producer printed its id) must be `finished`
(`failed` for the jobs designed to fail) and must have run: none lost. A job runs twice
when a worker dies after running it but before recording it; such duplicates are counted
and reported, not asserted. The figures are printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from chaoslib import (FAIL_PIPELINE, FAIL_YAML, OK_PIPELINE, OK_YAML, SOAK, Lane,
                      RestartableRedis, Workers, enqueue_tool, execution_counts, report,
                      rq_statuses, sqlite_statuses, wait_until)
from fpqtest import RedisServer, wait_for
from projects import make_project

redis = pytest.importorskip("redis")

JOBS = 50_000 if SOAK else 5_000
WORKER_KILLS = 60 if SOAK else 10
PRODUCER_KILLS = 20 if SOAK else 6
FAIL_SHARE = 10  # one job in ten fails by design

# Three workers of different shapes; a short lease brings a dead worker's jobs back fast.
WORKER_SPECS = [["--count", "2", "--isolation", "none"],
                ["--count", "2", "--isolation", "none"],
                ["--count", "1", "--isolation", "fork"]]


def held(backend: str, handle: Any, name: str) -> int:
    """Jobs the named worker holds (started, under its name) right now; -1 if unknown."""
    if backend == "sqlite":
        conn = sqlite3.connect(str(handle), timeout=30)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'started' AND"
                                    " worker = ?", (name,)).fetchone()[0])
        finally:
            conn.close()
    try:
        ids = [m.decode().rsplit(":", 1)[0] for m in handle.zrange("rq:wip:default", 0, -1)]
        pipe = handle.pipeline(transaction=False)
        for i in ids:
            pipe.hget(f"rq:job:{i}", "worker_name")
        return sum(w == name.encode() for w in pipe.execute())
    except redis.exceptions.ConnectionError:
        return -1  # Redis is down this instant


@pytest.mark.timeout(3600 if SOAK else 600)
@pytest.mark.parametrize("backend", ["sqlite", "rq"])
def test_no_acknowledged_job_is_lost(backend: str, tmp_path: Path, fpq_bin: str,
                                     request: pytest.FixtureRequest) -> None:
    seed = int(os.environ.get("FPQ_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    project = make_project(tmp_path, f"chaos_{backend}", {"cx_ok": OK_PIPELINE,
                                                          "cx_fail": FAIL_PIPELINE},
                           run_yaml={"cx_ok": OK_YAML, "cx_fail": FAIL_YAML})
    log = tmp_path / "executions.log"
    log.touch()
    server: RestartableRedis | None = None
    if backend == "rq":
        server = request.getfixturevalue("aof_redis")
        url = server.url
        conn = redis.Redis.from_url(url)
        handle: Any = conn
    else:
        url = f"sqlite://{project}/.flowerpower/queue.db"
        handle = project / ".flowerpower" / "queue.db"
    # Workers find the backend through the environment, as an operator would set it.
    env = {**os.environ, "FPQ_BACKEND": backend, "FPQ_URL": url}
    tool = enqueue_tool(fpq_bin)
    template = '{"inputs": {"i": %d, "log": "' + str(log) + '"}}'
    fail_jobs = JOBS // FAIL_SHARE
    per_ok = (JOBS - fail_jobs) // 3
    lanes = [Lane(tool, backend, url, project, "cx_ok", per_ok, k * 10_000_000, template)
             for k in range(3)]
    lanes.append(Lane(tool, backend, url, project, "cx_fail", JOBS - 3 * per_ok,
                      90_000_000, template))
    fail_lane = lanes[-1]
    logs = tmp_path / "logs"
    logs.mkdir()
    incarnation: Counter[int] = Counter()

    def spec(i: int) -> list[str]:
        incarnation[i] += 1
        return [*WORKER_SPECS[i], "--lease", "3", "--quiet", "--name",
                f"chaos-{i}-{incarnation[i]}"]

    workers = Workers(fpq_bin, project, [spec(i) for i in range(len(WORKER_SPECS))], logs, env)
    started = time.monotonic()
    workers.start_all()
    for lane in lanes:
        lane.start()

    held_at_kills: list[int] = []
    redis_restart_at = [0.3, 0.65] if server else []
    next_worker_kill = time.monotonic() + rng.uniform(0.5, 2.0)
    kill_after = {id(lane): rng.uniform(0.05, 0.8) for lane in lanes}
    producer_kills = 0

    def expected() -> dict[str, str]:
        want = {}
        for lane in lanes:
            final = "failed" if lane is fail_lane else "finished"
            want.update({job_id: final for job_id in lane.acked.values()})
        return want

    def statuses(ids: list[str] | None = None) -> dict[str, str]:
        if backend == "sqlite":
            return sqlite_statuses(handle)
        return rq_statuses(conn, ids)

    def all_ended() -> bool:
        workers.check()
        want = expected()
        try:
            got = statuses(list(want))
        except redis.exceptions.ConnectionError:
            return False
        return all(got.get(i) in ("finished", "failed") for i in want)

    deadline = time.monotonic() + (3000 if SOAK else 420)
    while time.monotonic() < deadline:
        now = time.monotonic()
        for lane in lanes:
            if lane.reap():
                if not lane.done:  # failed while Redis was down: go on
                    time.sleep(0.05)
                    lane.start()
            elif (lane.running and producer_kills < PRODUCER_KILLS
                  and now - lane.started_at > kill_after[id(lane)]):
                lane.kill()  # mid-enqueue: it was still printing ids
                producer_kills += 1
                kill_after[id(lane)] = rng.uniform(0.05, 1.5)
                lane.start()
        acked = sum(len(lane.acked) for lane in lanes)
        if server and redis_restart_at and acked >= redis_restart_at[0] * JOBS:
            redis_restart_at.pop(0)
            server.restart(down_for=rng.uniform(0.3, 1.5))
        if workers.kills < WORKER_KILLS and now >= next_worker_kill:
            i = rng.randrange(len(WORKER_SPECS))
            held_at_kills.append(held(backend, handle, workers.specs[i][-1]))
            workers.specs[i] = spec(i)
            workers.kill_and_restart(i)
            next_worker_kill = now + rng.uniform(0.5, 3.0)
        workers.check()
        producing = not all(lane.done for lane in lanes)
        if not producing and not redis_restart_at and workers.kills >= WORKER_KILLS:
            break
        time.sleep(0.02)
    produced_seconds = time.monotonic() - started
    assert all(lane.done for lane in lanes), [lane.errors[-3:] for lane in lanes]
    assert not redis_restart_at, "Redis was not restarted twice"

    try:
        wait_until(all_ended, timeout=2400 if SOAK else 300,
                   what="every acknowledged job to end")
    finally:
        codes = workers.stop_all()
    elapsed = time.monotonic() - started

    want = expected()
    got = statuses(list(want))
    wrong = {i: (got.get(i, "missing"), final) for i, final in want.items()
             if got.get(i) != final}
    runs = execution_counts(log)
    numbers = {n for lane in lanes for n in lane.acked}
    # A job designed to fail whose worker died before it started it is failed (WorkerLost,
    # no retries) without a run; a finished job must have run.
    never_ran = sorted(n for n in numbers if runs[n] == 0 and n not in fail_lane.acked)
    stored = statuses() if backend == "sqlite" else rq_statuses(conn)
    figures = {
        "backend": backend, "seed": seed, "jobs_acknowledged": len(want),
        "designed_to_fail": len(fail_lane.acked),
        "stored_but_not_acknowledged": len(set(stored) - set(want)),
        "worker_kills": workers.kills, "worker_restarts": workers.restarts,
        "jobs_held_at_kills": sum(max(h, 0) for h in held_at_kills),
        "producer_kills": sum(lane.kills for lane in lanes),
        "producer_runs_failed": sum(lane.failures for lane in lanes),
        "redis_restarts": server.restarts if server else 0,
        "lost": len(wrong) + len(never_ran),
        "failed_by_worker_loss_before_running": sum(1 for n in fail_lane.acked
                                                     if runs[n] == 0),
        "duplicated_runs": sum(runs[n] - 1 for n in numbers if runs[n] > 1),
        "jobs_run_more_than_once": sum(1 for n in numbers if runs[n] > 1),
        "executions": sum(runs.values()), "produce_seconds": round(produced_seconds, 1),
        "total_seconds": round(elapsed, 1),
    }
    report(f"chaos [{backend}]", figures)
    assert not wrong, f"{len(wrong)} acknowledged jobs did not end as expected: " + \
        str(list(wrong.items())[:10])
    assert not never_ran, f"acknowledged jobs that never ran: {never_ran[:10]}"
    assert codes == [0] * len(WORKER_SPECS), codes
    assert figures["producer_kills"] >= 1
    if server:
        assert server.restarts == 2


def namespaces_work() -> bool:
    """Can this machine give a process its own network and host name (root, no seccomp
    veto)? Then the two workers below are two "machines" that share only Redis' socket."""
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--net", "--uts", "true"], capture_output=True).returncode == 0


NAP = ("import time\n\n\ndef result(ms: int = 100) -> int:\n"
       "    time.sleep(ms / 1000)\n    return ms\n")


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
        tool = enqueue_tool(fpq_bin)
        proc = subprocess.run([str(tool), "rq", server.url, str(project), "sp_nap", "40",
                               '{"inputs": {"ms": 200}}'], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        ids = proc.stdout.split()
        conn = redis.Redis.from_url(server.url)
        wait_for(lambda: Counter(rq_statuses(conn, ids).values())["finished"] == len(ids),
                 timeout=120, what="all jobs to finish")
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
