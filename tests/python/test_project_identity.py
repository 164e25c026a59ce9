"""Project identity (issue 12): a job names its project by name, never by a path.

Two projects with the same pipeline names share one Redis database; each has a producer
checkout and a worker checkout at different paths (a stand-in for two machines). Each
worker runs only its own project's jobs, from its own copy of the code, and a job that
names a path (or another project) is never opened.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fpqtest import enqueue, job, run_burst, run_fpq
from projects import make_project
from redis import Redis
from rq import Queue

from flowerpower_job_queue import _native

TASK = "flowerpower_job_queue.tasks.run_pipeline"


def says(text: str) -> str:
    """A pipeline that returns text: which copy of the code ran is in the result."""
    return f"def result() -> str:\n    return {text!r}\n"


def touches(marker: Path) -> str:
    """A pipeline that leaves a marker file: it ran, wherever it was."""
    return ("from pathlib import Path\n\n\ndef result() -> str:\n"
            f"    Path({str(marker)!r}).write_text('ran')\n    return 'ran'\n")


def checkout(base: Path, name: str, dirname: str, text: str, marker: Path) -> Path:
    """A copy of project `name` at base/dirname (the directory's name is not the
    project's: the name comes from conf/project.yml)."""
    made = make_project(base, name, {"pid_job": says(text), "pid_touch": touches(marker)})
    if dirname != name:
        shutil.move(str(made), str(base / dirname))
    return (base / dirname).resolve()


def rq(args: list[str], server: Any) -> list[str]:
    return ["--backend", "rq", "--url", server.url, *args]


def test_two_projects_share_a_redis_and_each_worker_runs_only_its_own_code(
        tmp_path: Path, fpq_bin: str, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Producers' commands find the database in their environment; workers are started
    # with explicit flags, as a deployment's service file would.
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    markers = tmp_path / "markers"
    markers.mkdir()
    # Producers (laptops) and workers (servers): the same two projects, other paths and
    # other code, so a result says which copy ran.
    prod_a = checkout(tmp_path / "home", "alpha", "etl-a", "producer copy of alpha",
                      markers / "producer-alpha")
    prod_b = checkout(tmp_path / "home", "beta", "etl-b", "producer copy of beta",
                      markers / "producer-beta")
    srv_a = checkout(tmp_path / "srv", "alpha", "alpha-checkout", "A", markers / "worker-alpha")
    srv_b = checkout(tmp_path / "srv", "beta", "beta-checkout", "B", markers / "worker-beta")

    a_jobs = [enqueue(fpq_bin, prod_a, "pid_job") for _ in range(2)]
    b_jobs = [enqueue(fpq_bin, prod_b, "pid_job") for _ in range(2)]
    b_high = enqueue(fpq_bin, prod_b, "pid_job", "--priority", "high")
    conn = Redis.from_url(redis_server.url)
    record = Queue("alpha.default", connection=conn, serializer="json")
    # The job's record names its project, and RQ sees each project's own queues.
    assert conn.hget(f"rq:job:{a_jobs[0]}", "origin") == b"alpha.default"
    assert conn.hget(f"rq:job:{b_high}", "origin") == b"beta.high"
    assert record.count == 2
    assert job(fpq_bin, prod_a, a_jobs[0])["project"] == "alpha"

    # Written into alpha's queue behind the engine's back: a job naming a path (the
    # producer's checkout of beta, which exists and holds a pipeline that leaves a
    # marker), one naming another project, and an older record naming exactly the
    # worker's own directory (compatibility: it runs, in that directory).
    by_path = record.enqueue(TASK, kwargs={"project": str(prod_b), "pipeline": "pid_touch"})
    by_name = record.enqueue(TASK, kwargs={"project": "beta", "pipeline": "pid_touch"})
    legacy = record.enqueue(TASK, kwargs={"project": str(srv_a), "pipeline": "pid_job"})

    log_a = tmp_path / "worker-a.log"
    assert run_burst(fpq_bin, srv_a, *rq([], redis_server), log=log_a) == 0
    assert "queues alpha.high,alpha.default,alpha.low" in log_a.read_text()

    for job_id in a_jobs:
        ours = job(fpq_bin, prod_a, job_id)
        assert ours["status"] == "finished"
        assert ours["result"] == {"result": "A"}  # the worker's copy, not the producer's
    for job_id in (*b_jobs, b_high):  # never taken by alpha's worker
        assert job(fpq_bin, prod_b, job_id)["status"] == "queued"
    for foreign, named in ((by_path, str(prod_b)), (by_name, "beta")):
        ours = job(fpq_bin, prod_a, foreign.id)
        assert ours["status"] == "failed"
        assert ours["attempts"] == 1  # failed once: retrying cannot make it alpha's
        assert ours["error"]["type"] == "WrongProject"
        assert f"belongs to project '{named}'; this worker serves 'alpha'" in \
            ours["error"]["message"]
    assert sorted(p.name for p in markers.iterdir()) == []  # nothing was opened or run
    old = job(fpq_bin, prod_a, legacy.id)
    assert old["status"] == "finished"
    assert old["result"] == {"result": "A"}

    assert run_burst(fpq_bin, srv_b, *rq([], redis_server), log=tmp_path / "worker-b.log") == 0
    for job_id in (*b_jobs, b_high):
        ours = job(fpq_bin, prod_b, job_id)
        assert ours["status"] == "finished"
        assert ours["result"] == {"result": "B"}
    # Each project's status lists only its own jobs, found by name from any checkout.
    listed = json.loads(run_fpq(fpq_bin, "status", "pid_job", "--json", "--limit", "50",
                                project=srv_b, check=True).stdout)
    assert {j["id"] for j in listed} == {*b_jobs, b_high}
    assert sorted(p.name for p in markers.iterdir()) == []


def test_python_asks_the_engine_which_jobs_a_project_serves(tmp_path: Path) -> None:
    """tasks.run_pipeline (what a Python `rq worker` runs) asks this before it runs
    anything, and runs in its own directory's project."""
    marker = tmp_path / "ran"
    srv = checkout(tmp_path / "srv", "gamma", "gamma-checkout", "G", marker)
    other = checkout(tmp_path / "home", "delta", "delta", "D", marker)
    assert _native.project_serves("gamma", srv)
    assert _native.project_serves(None, srv)
    assert _native.project_serves(str(srv), srv)
    assert not _native.project_serves(str(other), srv)
    assert not _native.project_serves("delta", srv)


def test_the_name_and_queue_names_come_from_the_settings(tmp_path: Path, fpq_bin: str) -> None:
    root = make_project(tmp_path, "fromconf", {"pid_job": says("x")})
    cfg = _native.resolve_config(root, backend="rq")
    assert cfg["project_name"] == "fromconf"  # conf/project.yml's name
    assert cfg["queues"] == ["fromconf.high", "fromconf.default", "fromconf.low"]
    # SQLite's queue.db is per project directory: RQ's plain names stay.
    assert _native.resolve_config(root)["queues"] == ["high", "default", "low"]
    (root / "conf" / "job_queue.yml").write_text("project: etl.prod\n")
    assert _native.resolve_config(root, backend="rq")["queues"][0] == "etl.prod.high"
    (root / "conf" / "job_queue.yml").write_text("project: etl\nqueue_namespace: false\n")
    assert _native.resolve_config(root, backend="rq")["queues"] == ["high", "default", "low"]

    # SQLite jobs carry the name too, in the plain queues.
    job_id = enqueue(fpq_bin, root, "pid_job")
    ours = job(fpq_bin, root, job_id)
    assert (ours["project"], ours["queue"]) == ("etl", "default")

    for text, expected in (("project: ../etc\n", "project name '../etc' is not valid"),
                           ("queue_namespace: maybe\n", "queue_namespace 'maybe'")):
        (root / "conf" / "job_queue.yml").write_text(text)
        proc = run_fpq(fpq_bin, "enqueue", "pid_job", project=root)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_each_projects_scheduler_fires_only_its_own_schedules_into_its_own_queues(
        tmp_path: Path, fpq_bin: str, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = 1711800000  # 2024-03-30T12:00:00Z
    clock = tmp_path / "clock"
    clock.write_text(str(t0))
    monkeypatch.setenv("FPQ_TEST_CLOCK_FILE", str(clock))
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    unused = tmp_path / "unused"
    a = checkout(tmp_path, "alpha", "a-checkout", "A", unused)
    b = checkout(tmp_path, "beta", "b-checkout", "B", unused)
    for project, sid in ((a, "a-five"), (b, "b-five")):
        run_fpq(fpq_bin, "schedule", "pid_job", "--schedule", "*/5 * * * *", "--id", sid,
                project=project, check=True)
    # Ids are one namespace per database: beta cannot take alpha's schedule over.
    taken = run_fpq(fpq_bin, "schedule", "pid_job", "--schedule", "@daily", "--id", "a-five",
                    project=b)
    assert taken.returncode != 0
    assert "schedule 'a-five' belongs to project 'alpha'" in taken.stderr
    [listed] = json.loads(run_fpq(fpq_bin, "schedules", "list", "--json", project=a,
                                  check=True).stdout)
    assert listed["project"] == "alpha"  # its name; each project lists only its own
    clock.write_text(str(t0 + 300))
    # alpha's scheduler leads alpha's lease only: beta's schedule is beta's to fire.
    tick = run_fpq(fpq_bin, "scheduler", "--once", "--json", project=a, check=True)
    assert json.loads(tick.stdout)["enqueued"] == 1
    conn = Redis.from_url(redis_server.url)
    assert conn.hget(f"rq:job:sched-a-five-{t0 + 300}", "origin") == b"alpha.default"
    assert conn.llen("rq:queue:beta.default") == 0
    tick = run_fpq(fpq_bin, "scheduler", "--once", "--json", project=b, check=True)
    assert json.loads(tick.stdout)["enqueued"] == 1
    assert conn.hget(f"rq:job:sched-b-five-{t0 + 300}", "origin") == b"beta.default"
    assert conn.llen("rq:queue:alpha.default") == 1


def test_worker_stop_without_a_name_stops_only_this_projects_workers(
        tmp_path: Path, fpq_bin: str, redis_server: Any) -> None:
    from fpqtest import start_worker, stop, wait_for

    alpha = make_project(tmp_path, "alpha", {"pid_job": says("A")})
    beta = make_project(tmp_path, "beta", {"pid_job": says("B")})
    args = rq([], redis_server)
    workers = [start_worker(fpq_bin, p, *args, "--name", f"{p.name}-w") for p in (alpha, beta)]
    try:
        def live() -> set[str]:
            listed = run_fpq(fpq_bin, "worker", "list", "--json", *args, project=alpha,
                             check=True).stdout
            return {w["name"] for w in json.loads(listed)}

        wait_for(lambda: live() == {"alpha-w", "beta-w"}, what="both workers registered")
        stopped = run_fpq(fpq_bin, "worker", "stop", "--wait", *args, project=alpha, check=True)
        assert stopped.stdout == "asked alpha-w to stop\n"
        assert workers[0].wait(60) == 0 and workers[1].poll() is None
        # The Python API's stop_workers() with no name: the same rule.
        from flowerpower_job_queue import JobQueueManager

        with JobQueueManager(beta, backend=redis_server.url) as jq:
            assert jq.stop_workers() == ["beta-w"]
        assert workers[1].wait(60) == 0
    finally:
        for w in workers:
            stop(w)
