"""The `rq` backend against the real thing: a real redis-server (one per test) and real
Python rq 2.x from PyPI. Jobs `fpq` writes are read by rq's own Job.fetch, `rq info` and
`rq worker --serializer json`; jobs Python rq enqueues are run by our worker; pickled
jobs are refused; our worker answers rq's pub/sub commands and survives a Redis restart.

Every `fpq` process here reaches Redis through FPQ_BACKEND/FPQ_URL (the `rq_env`
fixture), so the shared helpers in fpqtest.py work unchanged."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fpqtest import enqueue, job, run_burst, run_fpq, start_worker, stop, wait_for
from projects import make_project

redis = pytest.importorskip("redis")
rq = pytest.importorskip("rq")

from rq import Queue, Retry  # noqa: E402
from rq.command import send_shutdown_command, send_stop_job_command  # noqa: E402
from rq.job import Job  # noqa: E402
from rq.registry import FailedJobRegistry, StartedJobRegistry  # noqa: E402
from rq.results import Result  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402

RQ = str(Path(sys.executable).parent / "rq")
TASK = "flowerpower_job_queue.tasks.run_pipeline"
ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
SLEEPY = ("import time\n\n\ndef result(seconds: int = 1) -> int:\n"
          "    time.sleep(seconds)\n    return seconds\n")
TOUCH = ("from pathlib import Path\n\n\ndef result(path: str = '') -> str:\n"
         "    Path(path).write_text('ran')\n    return path\n")


@pytest.fixture
def rq_env(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Points every fpq process of the test at the test's Redis."""
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    return redis_server


def connect(server: Any) -> Any:
    return redis.Redis.from_url(server.url)


def rq_info(server: Any) -> str:
    proc = subprocess.run([RQ, "info", "--raw", "--url", server.url], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def status_of(fpq_bin: str, project: Path, job_id: str) -> str:
    return str(job(fpq_bin, project, job_id)["status"])


def test_a_job_fpq_enqueues_is_read_by_rq_before_and_after_our_worker_runs_it(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "interop", {"ri_add": ADD})
    job_id = enqueue(fpq_bin, project, "ri_add", "--priority", "high", "--inputs", '{"x": 41}')
    conn = connect(rq_env)

    fetched = Job.fetch(job_id, connection=conn, serializer="json")
    assert fetched.get_status() == "queued"
    # The project's own RQ queue (namespaced by its name, issue 12), and its name, not a path.
    assert fetched.origin == "interop.high"
    assert fetched.func_name == TASK
    assert fetched.args == []
    assert fetched.kwargs == {"project": "interop", "pipeline": "ri_add",
                              "run": {"inputs": {"x": 41}}}
    assert "ri_add" in (fetched.description or "")
    ours = job(fpq_bin, project, job_id)
    assert fetched.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == ours["created_at"]
    assert fetched.enqueued_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == ours["enqueued_at"]
    assert abs((datetime.now(timezone.utc) - fetched.created_at).total_seconds()) < 120
    assert job_id in Queue("interop.high", connection=conn, serializer="json").get_job_ids()

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    fetched = Job.fetch(job_id, connection=conn, serializer="json")
    assert fetched.get_status() == "finished"
    assert fetched.return_value() == {"result": 42}
    assert fetched.latest_result().type == Result.Type.SUCCESSFUL
    assert fetched.started_at is not None and fetched.ended_at >= fetched.started_at
    assert fetched.worker_name == job(fpq_bin, project, job_id)["worker"]
    assert StartedJobRegistry("interop.high", connection=conn).get_job_ids() == []
    assert job_id in Queue("interop.high", connection=conn).finished_job_registry.get_job_ids()


def test_rq_info_lists_our_queue_and_worker_with_the_right_counts(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "info", {"ri_info": ADD})
    worker = start_worker(fpq_bin, project, "--name", "fpq-info", "--queues", "info.high,info.default",
                          "--lease", "3", log=tmp_path / "worker.log")
    try:
        done = [enqueue(fpq_bin, project, "ri_info") for _ in range(2)]
        waiting = enqueue(fpq_bin, project, "ri_info", "--priority", "low")  # not served
        wait_for(lambda: all(status_of(fpq_bin, project, i) == "finished" for i in done),
                 what="two finished jobs")
        # the heartbeat (every lease/3 = 1 s) carries the counters
        def counted() -> str | None:
            text = rq_info(rq_env)
            return text if "jobs: 2 finished" in text else None

        out = wait_for(counted, timeout=30, what="rq info to show the worker's counts")
        assert re.search(r"^queue info.default 0, 0 executing, 2 finished, 0 failed$", out, re.M), out
        assert re.search(r"^queue info.low 1, 0 executing, 0 finished, 0 failed$", out, re.M), out
        line = re.search(r"^worker fpq-info \((\S+) (\S+) (\d+)\) idle info.high, info.default\. "
                         r"jobs: 2 finished, 0 failed$", out, re.M)
        assert line, out
        assert int(line.group(3)) == worker.pid
        assert status_of(fpq_bin, project, waiting) == "queued"
    finally:
        assert stop(worker) == 0
    assert "fpq-info" not in rq_info(rq_env)  # unregistered on the way out


def test_rq_info_never_marks_a_live_workers_job_abandoned(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    """`rq info` runs RQ's StartedJobRegistry.cleanup, which fails every rq:wip entry whose
    score (our lease) passed. With a 6 s lease (renewed every 2 s) and a job running 8 s,
    the lease must be renewed several times in time."""
    project = make_project(tmp_path, "alive", {"ri_long": SLEEPY})
    worker = start_worker(fpq_bin, project, "--lease", "6", log=tmp_path / "worker.log")
    try:
        job_id = enqueue(fpq_bin, project, "ri_long", "--inputs", '{"seconds": 8}')
        wait_for(lambda: status_of(fpq_bin, project, job_id) == "started", what="started")
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            assert "1 executing" in rq_info(rq_env)
            assert status_of(fpq_bin, project, job_id) in ("started", "finished")
            time.sleep(0.7)
        wait_for(lambda: status_of(fpq_bin, project, job_id) == "finished", what="finished")
        assert job(fpq_bin, project, job_id)["attempts"] == 1
        assert FailedJobRegistry("alive.default", connection=connect(rq_env)).count == 0
    finally:
        assert stop(worker) == 0


def test_a_real_rq_worker_runs_a_job_fpq_enqueued(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "rqworker", {"ri_by_rq": ADD})
    job_id = enqueue(fpq_bin, project, "ri_by_rq", "--inputs", '{"x": 1}', "--priority", "low")
    # Python rq serves the project it is started in (its cwd), from the project's queues.
    proc = subprocess.run([RQ, "worker", "--serializer", "json", "rqworker.high",
                           "rqworker.default", "rqworker.low", "--burst", "--url", rq_env.url],
                          capture_output=True, text=True, timeout=300, cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = job(fpq_bin, project, job_id)
    assert ours["status"] == "finished", proc.stderr[-3000:]
    assert ours["result"] == {"result": 2}
    fetched = Job.fetch(job_id, connection=connect(rq_env), serializer="json")
    assert fetched.return_value() == {"result": 2}
    assert ours["worker"] == fetched.worker_name


def test_our_worker_runs_a_job_python_rq_enqueued(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "fromrq", {"ri_from_rq": ADD})
    # The project's own queue and its name (issue 12), as fpq enqueue writes them.
    queue = Queue("fromrq.default", connection=connect(rq_env), serializer="json")
    # `pipeline` is also a parameter of rq's enqueue (a Redis pipeline): pass the job's
    # arguments through kwargs=/args= so rq hands them to the function untouched.
    rq_job = queue.enqueue(TASK, kwargs={"project": "fromrq", "pipeline": "ri_from_rq",
                                         "run": {"inputs": {"x": 10}}}, retry=Retry(max=1))
    positional = queue.enqueue(TASK, args=("fromrq", "ri_from_rq", {"inputs": {"x": 20}}))

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    for one, expected in ((rq_job, 11), (positional, 21)):
        one.refresh()
        assert one.get_status() == "finished"
        assert one.return_value() == {"result": expected}
        ours = job(fpq_bin, project, one.id)
        assert ours["status"] == "finished"
        assert ours["pipeline"] == "ri_from_rq"
        assert ours["result"] == {"result": expected}
    # once taken, Python-enqueued jobs are found by pipeline like our own
    listed = json.loads(run_fpq(fpq_bin, "status", "ri_from_rq", "--json", project=project,
                                check=True).stdout)
    assert {j["id"] for j in listed} == {rq_job.id, positional.id}


def test_a_pickled_job_is_failed_with_a_clear_error_and_never_run(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "pickled", {"ri_touch": TOUCH})
    marker = tmp_path / "ran"
    pickled = Queue("pickled.default", connection=connect(rq_env)).enqueue(  # rq's default: pickle
        TASK, kwargs={"project": str(project), "pipeline": "ri_touch",
                      "run": {"inputs": {"path": str(marker)}}})

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    ours = job(fpq_bin, project, pickled.id)
    assert ours["status"] == "failed"
    assert ours["error"]["type"] == "UnsupportedPayload"
    assert "pickle" in ours["error"]["message"]
    assert not marker.exists()
    pickled.refresh()
    assert pickled.get_status() == "failed"
    assert "UnsupportedPayload" in pickled.latest_result().exc_string
    assert pickled.id in FailedJobRegistry("pickled.default", connection=connect(rq_env))


def test_enqueue_while_redis_is_down_exits_3(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "down", {"ri_down": ADD})
    rq_env.stop()
    proc = run_fpq(fpq_bin, "enqueue", "ri_down", project=project)
    assert proc.returncode == 3
    assert f"127.0.0.1:{rq_env.port}" in proc.stderr
    assert "Redis" in proc.stderr
    assert proc.stdout == ""


def test_the_worker_survives_a_redis_restart_and_still_takes_commands(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "restart", {"ri_restart": ADD})
    log = tmp_path / "worker.log"
    worker = start_worker(fpq_bin, project, "--name", "fpq-restart", "--lease", "3", log=log)
    try:
        first = enqueue(fpq_bin, project, "ri_restart")
        wait_for(lambda: status_of(fpq_bin, project, first) == "finished", what="first job")
        rq_env.stop()
        time.sleep(3)  # the worker keeps trying, backing off
        assert worker.poll() is None
        rq_env.start()  # same port, empty (no persistence)
        second = enqueue(fpq_bin, project, "ri_restart", "--inputs", '{"x": 5}')
        wait_for(lambda: status_of(fpq_bin, project, second) == "finished", timeout=30,
                 what="a job after the restart")
        assert job(fpq_bin, project, second)["result"] == {"result": 6}
        wait_for(lambda: "fpq-restart" in run_fpq(fpq_bin, "worker", "list",
                                                  project=project).stdout,
                 timeout=30, what="the worker to register again")
        stopped = run_fpq(fpq_bin, "worker", "stop", "--name", "fpq-restart", "--wait",
                          project=project)
        assert stopped.returncode == 0, stopped.stderr
        assert worker.wait(60) == 0
    finally:
        stop(worker)
    assert "cannot connect to Redis" in log.read_text()


def test_rq_commands_stop_our_job_and_our_worker(
        tmp_path: Path, fpq_bin: str, rq_env: Any) -> None:
    project = make_project(tmp_path, "commands", {"ri_stop": SLEEPY})
    worker = start_worker(fpq_bin, project, "--name", "fpq-commands", "--lease", "3",
                          log=tmp_path / "worker.log")
    conn = connect(rq_env)
    try:
        job_id = enqueue(fpq_bin, project, "ri_stop", "--inputs", '{"seconds": 60}')
        wait_for(lambda: status_of(fpq_bin, project, job_id) == "started", what="started")
        send_stop_job_command(conn, job_id, serializer=JSONSerializer)
        wait_for(lambda: status_of(fpq_bin, project, job_id) == "stopped", what="stopped")
        fetched = Job.fetch(job_id, connection=conn, serializer="json")
        assert fetched.get_status() == "stopped"
        assert job_id in FailedJobRegistry("commands.default", connection=conn)
        send_shutdown_command(conn, "fpq-commands")
        assert worker.wait(60) == 0
    finally:
        stop(worker)


# Slow on its first run only; gives up as soon as its worker is gone (no orphans).
ONCE_SLOW = '''
import os
import time
from pathlib import Path


def result(marker: str = "") -> str:
    if not Path(marker).exists():
        Path(marker).write_text("first")
        parent = os.getppid()
        for _ in range(600):
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.1)
    return "done"
'''


@pytest.mark.parametrize("retries", [1, 0])
def test_rqs_cleanup_of_a_dead_workers_job_agrees_with_ours(
        tmp_path: Path, fpq_bin: str, rq_env: Any, retries: int) -> None:
    """Our worker dies holding a job; RQ's own abandoned-job cleanup (run by `rq info`)
    gets there first. It must decide as we would: retry while retries are left (our
    retries_left field counts down like RQ's), else fail."""
    project = make_project(tmp_path, f"dead{retries}", {f"ri_dead{retries}": ONCE_SLOW})
    marker = tmp_path / "marker"
    job_id = enqueue(fpq_bin, project, f"ri_dead{retries}", "--inputs",
                     json.dumps({"marker": str(marker)}), "--run-config",
                     json.dumps({"retry": {"max_retries": retries, "retry_delay": 0}}))
    worker = start_worker(fpq_bin, project, "--lease", "3", log=tmp_path / "worker.log")
    wait_for(lambda: status_of(fpq_bin, project, job_id) == "started", what="started")
    worker.kill()
    worker.wait(30)
    time.sleep(5)  # past the 3 s lease (whole seconds, rounded up)
    rq_info(rq_env)  # StartedJobRegistry.cleanup
    ours = job(fpq_bin, project, job_id)
    if retries:
        assert ours["status"] == "queued"
        assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
        ours = job(fpq_bin, project, job_id)
        assert ours["status"] == "finished"
        assert ours["attempts"] == 2
        assert ours["result"] == {"result": "done"}
    else:
        assert ours["status"] == "failed"
        assert ours["error"]["type"] == "AbandonedJobError"
        assert "FailedJobRegistry" in ours["error"]["message"]
