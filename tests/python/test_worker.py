"""The worker end to end on the embedded SQLite backend: real FlowerPower projects, the real
`fpq` binary, real executors. Each test makes its own project with pipelines of unique
names."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fpqtest import enqueue, job, jobs, run_burst, run_fpq, start_worker, stop, wait_for
from projects import make_project

RANK = {"high": 0, "medium": 1, "low": 2}

ECHO = '''
def result(tag: str, log: str) -> str:
    with open(log, "a") as f:
        f.write(tag + "\\n")
    return tag
'''

FRAME = '''
import pandas as pd

def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"i": range(n), "sq": [i * i for i in range(n)],
                         "when": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
                         "label": pd.Categorical(["a", "b"] * (n // 2) + ["a"] * (n % 2))})
'''


def test_fifty_jobs_from_two_producers_run_once_in_priority_order(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "prio", {"w_echo": ECHO, "w_frame": FRAME})
    log = tmp_path / "runs.log"
    priorities = ["high", "medium", "low"]
    producers = []
    for producer in range(2):
        script = "".join(
            f'{fpq_bin} enqueue w_echo --project {project} --priority {priorities[i % 3]} '
            f'--inputs \'{{"tag": "p{producer}-{i}-{priorities[i % 3]}", "log": "{log}"}}\' '
            f'>> {tmp_path}/ids-{producer}\n'
            for i in range(25))
        producers.append(subprocess.Popen(["bash", "-ec", script]))
    assert [p.wait(120) for p in producers] == [0, 0]
    frame_id = enqueue(fpq_bin, project, "w_frame", "--inputs", '{"n": 5}', "--priority", "low")

    assert run_burst(fpq_bin, project, "--count", "2") == 0

    done = [j for j in jobs(fpq_bin, project) if j["pipeline"] == "w_echo"]
    assert len(done) == 50
    assert {j["status"] for j in done} == {"finished"}
    assert {j["attempts"] for j in done} == {1}
    runs = log.read_text().split()
    assert sorted(runs) == sorted(j["run"]["inputs"]["tag"] for j in done)  # each ran once
    by_start = sorted(done, key=lambda j: j["started_at"])
    ranks = [RANK[j["priority"]] for j in by_start]
    assert ranks == sorted(ranks), "jobs started out of priority order"
    for producer in range(2):  # FIFO within a priority, in the order each producer queued
        queued = (tmp_path / f"ids-{producer}").read_text().split()
        for prio in priorities:
            mine = [j["id"] for j in by_start if j["priority"] == prio and j["id"] in queued]
            assert mine == [i for i in queued if i in mine]
    for j in done:
        assert j["result"] == {"result": j["run"]["inputs"]["tag"]}

    from flowerpower import FlowerPowerProject
    from flowerpower_job_queue import codec

    expected = FlowerPowerProject.load(str(project)).run("w_frame", inputs={"n": 5})
    stored = job(fpq_bin, project, frame_id)
    assert stored["status"] == "finished"
    import pandas.testing as pdt

    pdt.assert_frame_equal(codec.decode(stored["result"])["frame"], expected["frame"])


FAILING = '''
import time

def result(log: str) -> int:
    with open(log, "a") as f:
        f.write(repr(time.time()) + "\\n")
    raise ValueError("boom from the pipeline")
'''


def test_a_failing_pipeline_is_retried_with_growing_delays_then_failed(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "fail", {"w_fail": FAILING})
    log = tmp_path / "attempts.log"
    job_id = enqueue(fpq_bin, project, "w_fail", "--inputs", json.dumps({"log": str(log)}),
                     "--max-retries", "2", "--retry-delay", "0.4")
    assert run_burst(fpq_bin, project) == 0
    stored = job(fpq_bin, project, job_id)
    assert stored["status"] == "failed"
    assert stored["attempts"] == 3
    assert stored["error"]["type"] == "ValueError"
    assert stored["error"]["message"] == "boom from the pipeline"
    assert 'raise ValueError("boom from the pipeline")' in stored["error"]["traceback"]
    times = [float(t) for t in log.read_text().split()]
    assert len(times) == 3
    first_gap, second_gap = times[1] - times[0], times[2] - times[1]
    # Backoff: retry_delay * 2^(k-1) with the pipeline's jitter factor (0.1 by default).
    assert first_gap >= 0.4 * 0.9
    assert second_gap >= 0.8 * 0.9
    result = run_fpq(fpq_bin, "result", f"id={job_id}", project=project)
    assert result.returncode == 1
    assert "ValueError: boom from the pipeline" in result.stderr


def test_a_pipeline_gone_by_run_time_fails_with_a_clear_error(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "gone", {"w_gone": "def result() -> int:\n    return 1\n"})
    job_id = enqueue(fpq_bin, project, "w_gone", "--max-retries", "0")
    (project / "pipelines" / "w_gone.py").unlink()
    (project / "conf" / "pipelines" / "w_gone.yml").unlink()
    assert run_burst(fpq_bin, project) == 0
    stored = job(fpq_bin, project, job_id)
    assert stored["status"] == "failed"
    assert stored["error"]["type"] == "PipelineNotFound"
    assert "w_gone" in stored["error"]["message"]


SLOW = '''
import time

def result(seconds: float, marker: str) -> str:
    time.sleep(seconds)
    open(marker, "w").write("done")
    return "slept"
'''


def test_a_job_past_its_timeout_is_stopped_and_the_worker_carries_on(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "slow", {"w_slow": SLOW})
    marker = tmp_path / "finished"
    slow = enqueue(fpq_bin, project, "w_slow", "--inputs",
                   json.dumps({"seconds": 60.0, "marker": str(marker)}), "--timeout", "1s",
                   "--max-retries", "0")
    quick = enqueue(fpq_bin, project, "w_slow", "--inputs",
                    json.dumps({"seconds": 0.0, "marker": str(tmp_path / "quick")}),
                    "--max-retries", "0")
    assert run_burst(fpq_bin, project, "--kill-grace", "1") == 0
    stored = job(fpq_bin, project, slow)
    assert stored["status"] == "failed"
    assert stored["error"]["type"] == "JobTimeoutException"
    assert "timeout" in stored["error"]["message"]
    assert not marker.exists()
    assert job(fpq_bin, project, quick)["status"] == "finished"


CRASHING = '''
import ctypes, os

def result(how: str) -> int:
    if how == "exit":
        os._exit(3)
    if how == "segfault":
        ctypes.string_at(0)
    return 7
'''


@pytest.mark.parametrize("isolation", ["fork", "none"])
@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_a_crash_fails_the_job_and_the_worker_keeps_serving(
        tmp_path: Path, fpq_bin: str, isolation: str, how: str) -> None:
    name = f"w_crash_{isolation}_{how}"
    project = make_project(tmp_path, "crash", {name: CRASHING})
    crash = enqueue(fpq_bin, project, name, "--inputs", json.dumps({"how": how}),
                    "--max-retries", "0", "--priority", "high")
    fine = enqueue(fpq_bin, project, name, "--inputs", '{"how": "no"}', "--max-retries", "0")
    assert run_burst(fpq_bin, project, "--isolation", isolation) == 0
    stored = job(fpq_bin, project, crash)
    assert stored["status"] == "failed"
    expected_type = "ChildCrashed" if isolation == "fork" else "ExecutorCrashed"
    assert stored["error"]["type"] == expected_type
    message = stored["error"]["message"]
    if how == "exit":
        assert re.search(r"(code|status) 3\b", message), message
    else:
        assert "SIGSEGV" in message or "signal 11" in message, message
    assert job(fpq_bin, project, fine)["status"] == "finished"
    assert job(fpq_bin, project, fine)["result"] == {"result": 7}


def test_sigterm_lets_the_running_job_finish_then_exits_0(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "term", {"w_term": SLOW})
    marker = tmp_path / "finished"
    job_id = enqueue(fpq_bin, project, "w_term", "--inputs",
                     json.dumps({"seconds": 2.0, "marker": str(marker)}))
    worker = start_worker(fpq_bin, project, log=tmp_path / "worker.log")
    wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "started", 60, "job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert marker.exists()
    assert job(fpq_bin, project, job_id)["status"] == "finished"


def test_a_second_signal_puts_the_running_job_back(tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "twice", {"w_twice": SLOW})
    job_id = enqueue(fpq_bin, project, "w_twice", "--inputs",
                     json.dumps({"seconds": 60.0, "marker": str(tmp_path / "never")}))
    worker = start_worker(fpq_bin, project, log=tmp_path / "worker.log")
    wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "started", 60, "job to start")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(30) == 0
    stored = job(fpq_bin, project, job_id)
    assert stored["status"] == "queued"
    assert stored["attempts"] == 0


def test_worker_list_and_stop_reach_a_running_worker(tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "stop", {"w_stop": "def result() -> int:\n    return 1\n"})
    worker = start_worker(fpq_bin, project, "--name", "stopme", log=tmp_path / "worker.log")
    try:
        listed = wait_for(lambda: json.loads(run_fpq(
            fpq_bin, "worker", "list", "--json", project=project, check=True).stdout), 60,
            "the worker to register")
        assert [w["name"] for w in listed] == ["stopme"]
        assert listed[0]["pid"] == worker.pid
        stopped = run_fpq(fpq_bin, "worker", "stop", "--name", "stopme", "--wait",
                          project=project)
        assert stopped.returncode == 0, stopped.stderr
        assert worker.wait(30) == 0
        assert json.loads(run_fpq(fpq_bin, "worker", "list", "--json", project=project,
                                  check=True).stdout) == []
    finally:
        stop(worker)


FLAKY = '''
import os, time

def result(marker: str) -> str:
    if not os.path.exists(marker):
        open(marker, "w").write("first attempt")
        time.sleep(120)
    return "second attempt"
'''


def test_a_killed_workers_job_is_retried_by_another(tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "dead", {"w_dead": FLAKY})
    job_id = enqueue(fpq_bin, project, "w_dead", "--inputs",
                     json.dumps({"marker": str(tmp_path / "marker")}), "--max-retries", "1")
    first = start_worker(fpq_bin, project, "--lease", "3", log=tmp_path / "worker.log")
    wait_for(lambda: (tmp_path / "marker").exists(), 60, "the first attempt to start")
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = start_worker(fpq_bin, project, "--lease", "3", log=tmp_path / "worker2.log")
    try:
        wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "finished", 60,
                 "the lost job to be retried and finish")
    finally:
        assert stop(second) == 0
    stored = job(fpq_bin, project, job_id)
    assert stored["status"] == "finished"
    assert stored["attempts"] == 2
    assert stored["result"] == {"result": "second attempt"}


CWD = '''
import os

def result(n: int) -> str:
    return os.getcwd()
'''


@pytest.mark.parametrize("isolation", ["fork", "none"])
def test_jobs_run_in_their_project_directory(
        tmp_path: Path, fpq_bin: str, isolation: str) -> None:
    name = f"w_cwd_{isolation}"
    project = make_project(tmp_path, "cwd", {name: CWD})
    ids = [enqueue(fpq_bin, project, name, "--inputs", json.dumps({"n": n})) for n in range(3)]
    assert run_burst(fpq_bin, project, "--isolation", isolation) == 0
    for job_id in ids:
        stored = job(fpq_bin, project, job_id)
        assert stored["status"] == "finished", stored["error"]
        assert stored["result"] == {"result": str(project)}


BIG = '''
def blob(n: int) -> dict:
    return {"text": "ab\\u00e9" * n, "nested": [[i, str(i)] for i in range(n // 1000)]}
'''


def test_a_result_over_a_mebibyte_is_stored_as_returned(tmp_path: Path, fpq_bin: str) -> None:
    """Frames of 1 MiB and more are decoded, and their result encoded, off the worker's
    loop: what is stored must be exactly what a small frame would have given."""
    project = make_project(tmp_path, "big", {"w_blob": BIG})
    n = 600_000  # about 2 MB of JSON
    job_id = enqueue(fpq_bin, project, "w_blob", "--inputs", json.dumps({"n": n}))
    small = enqueue(fpq_bin, project, "w_blob", "--inputs", json.dumps({"n": 3000}))
    assert run_burst(fpq_bin, project) == 0
    for jid, count in ((job_id, n), (small, 3000)):
        stored = job(fpq_bin, project, jid)
        assert stored["status"] == "finished", stored["error"]
        assert stored["result"] == {"blob": {"text": "ab\u00e9" * count,
                                             "nested": [[i, str(i)] for i in range(count // 1000)]}}
