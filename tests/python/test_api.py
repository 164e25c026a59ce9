"""The Python API end to end: JobQueueManager, QueueRunConfig and the methods added to
FlowerPowerProject, with the real installed package, real FlowerPower projects and the
real `fpq` worker binary on the embedded SQLite backend. No mocks.

Starting a worker costs a couple of seconds (its executor imports FlowerPower), so the
jobs that only need running are queued together in one module fixture and run by one
burst worker; tests that need their own timing start their own."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flowerpower_job_queue
import pytest
from flowerpower_job_queue import (
    InvalidInput,
    JobFailed,
    JobNotFound,
    JobQueueError,
    JobQueueManager,
    JobTimeout,
    QueueRunConfig,
)
from flowerpower_job_queue.runconfig import run_config_to_dict
from projects import make_project

ADD = "def result(x: int) -> int:\n    return x + 1\n"
ADD_YAML = (
    "run:\n  inputs: {x: 1}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
    "  retry: {max_retries: 0}\n"
)
TYPES = '''
import datetime
import decimal

def when(day: int) -> datetime.date:
    return datetime.date(2026, 7, day)

def total() -> decimal.Decimal:
    return decimal.Decimal("1.10")

def names(when: datetime.date) -> tuple:
    return ("ada", when.isoformat())
'''
BOOM = '''
def result(x: int) -> int:
    if x < 10:
        raise ValueError("x must be positive and large")
    return x
'''
FLAKY = '''
from pathlib import Path

def result(counter: str, fail_times: int) -> int:
    path = Path(counter)
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    if n < fail_times:
        raise RuntimeError(f"attempt {n + 1} fails")
    return n + 1
'''


def yaml_for(inputs: str, final_vars: str) -> str:
    return (f"run:\n  inputs: {inputs}\n  final_vars: [{final_vars}]\n"
            "  executor: {type: synchronous}\n  retry: {max_retries: 0}\n")


def burst(jq: JobQueueManager, log: Path) -> None:
    """Runs one burst worker to the end; its log goes to `log`."""
    with open(log, "ab") as out:
        procs = jq.start_workers(burst=True, stdout=out, stderr=out)
        codes = [p.wait(180) for p in procs]
    assert codes == [0], log.read_text()[-3000:]


@pytest.fixture
def jq(tmp_path: Path) -> Iterator[JobQueueManager]:
    root = make_project(tmp_path, "api", {"api_add": ADD}, run_yaml={"api_add": ADD_YAML})
    with JobQueueManager(root) as manager:
        yield manager


# ---- jobs run by one shared burst worker ---------------------------------------------


class Ran:
    """The module's shared project, after one burst worker ran its jobs."""

    def __init__(self, root: Path, jq: JobQueueManager, ids: dict[str, str], counter: Path):
        self.root = root
        self.jq = jq
        self.ids = ids
        self.counter = counter


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, fpq_bin: str) -> Iterator[Ran]:
    base = tmp_path_factory.mktemp("ran")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("FPQ_") and key != "FPQ_PYTHON":
                mp.delenv(key)
        root = make_project(
            base, "shared",
            {"api_run_add": ADD, "api_run_types": TYPES, "api_run_boom": BOOM,
             "api_run_flaky": FLAKY},
            run_yaml={"api_run_add": ADD_YAML,
                      "api_run_types": yaml_for("{day: 1}", "when, total, names")},
        )
        counter = base / "flaky.count"
        jq = JobQueueManager(root)
        ids = {
            "add": jq.enqueue("api_run_add", inputs={"x": 41}),
            "types": jq.enqueue("api_run_types", inputs={"day": 9}),
            "boom": jq.enqueue("api_run_boom", inputs={"x": 1}),
            "flaky": jq.enqueue(
                "api_run_flaky",
                QueueRunConfig(inputs={"counter": str(counter), "fail_times": 2},
                               retry={"max_retries": 2, "retry_delay": 0},
                               priority="high"),
            ),
            "flaky_short": jq.enqueue(
                "api_run_flaky",
                {"inputs": {"counter": str(base / "short.count"), "fail_times": 5},
                 "retry": {"max_retries": 1, "retry_delay": 0}},
            ),
        }
        burst(jq, base / "worker.log")
        yield Ran(root, jq, ids, counter)
        jq.close()


def test_result_equals_what_project_run_returns(ran: Ran) -> None:
    from flowerpower import FlowerPowerProject

    project = FlowerPowerProject.load(str(ran.root))
    assert ran.jq.result(id=ran.ids["add"]) == project.run("api_run_add", inputs={"x": 41})
    expected = project.run("api_run_types", inputs={"day": 9})
    got = ran.jq.result(id=ran.ids["types"])
    assert got == expected
    assert got == {"when": dt.date(2026, 7, 9), "total": decimal.Decimal("1.10"),
                   "names": ("ada", "2026-07-09")}
    # By pipeline name: the newest job's result.
    assert ran.jq.result("api_run_add") == {"result": 42}


def test_finished_job_status(ran: Ran) -> None:
    status = ran.jq.get_queue_status(id=ran.ids["add"])
    assert isinstance(status, dict)
    assert status["status"] == "finished" and status["attempts"] == 1
    assert status["result"] == {"result": 42}
    assert status["run"] == {"inputs": {"x": 41}}
    assert status["error"] is None
    for name in ("created_at", "enqueued_at", "started_at", "ended_at"):
        assert status[name].tzinfo is not None
    assert status["created_at"] <= status["started_at"] <= status["ended_at"]
    assert status["worker"]


def test_failed_job_raises_job_failed_with_the_real_exception(ran: Ran) -> None:
    with pytest.raises(JobFailed) as info:
        ran.jq.result(id=ran.ids["boom"])
    error = info.value
    assert error.job_id == ran.ids["boom"] and error.status == "failed"
    assert error.error_type == "ValueError"
    assert error.error_message == "x must be positive and large"
    assert "raise ValueError" in error.traceback
    assert str(error) == (f"job '{ran.ids['boom']}' failed: ValueError: "
                          "x must be positive and large")
    status = ran.jq.get_queue_status(id=ran.ids["boom"])
    assert isinstance(status, dict)
    assert status["status"] == "failed" and status["error"]["type"] == "ValueError"
    assert status["result"] is None
    # wait=True on an ended job returns at once, with the same answer.
    with pytest.raises(JobFailed):
        ran.jq.result(id=ran.ids["boom"], wait=True, timeout=5)


def test_queue_run_config_sets_retry_policy_and_priority(ran: Ran) -> None:
    assert ran.jq.result(id=ran.ids["flaky"]) == {"result": 3}
    status = ran.jq.get_queue_status(id=ran.ids["flaky"])
    assert isinstance(status, dict)
    assert status["max_retries"] == 2 and status["attempts"] == 3
    assert status["priority"] == "high" and status["queue"] == "high"
    # The retry block is the queue's, not a run() option.
    assert "retry" not in status["run"]
    assert ran.counter.read_text() == "3"
    # Retries used up: failed, with the last attempt's error.
    with pytest.raises(JobFailed, match="attempt 2 fails") as info:
        ran.jq.result(id=ran.ids["flaky_short"])
    assert info.value.error_type == "RuntimeError"


def test_metrics_after_the_run(ran: Ran) -> None:
    metrics = ran.jq.metrics()
    assert metrics["backend"] == "sqlite"
    counts = {q["name"]: q for q in metrics["queues"]}
    assert counts["default"]["finished"] == 2 and counts["default"]["failed"] == 2
    assert counts["high"]["finished"] == 1
    assert ran.jq.workers() == []  # the burst worker is gone


# ---- status, inputs, errors ----------------------------------------------------------


def test_status_by_id_and_by_pipeline_newest_first(jq: JobQueueManager) -> None:
    ids = [jq.enqueue("api_add", inputs={"x": i}) for i in range(4)]
    listed = jq.get_queue_status("api_add")
    assert isinstance(listed, list)
    assert [j["id"] for j in listed] == ids[::-1]
    assert [j["run"]["inputs"]["x"] for j in listed] == [3, 2, 1, 0]
    assert all(j["status"] == "queued" and "result" not in j for j in listed)
    assert [j["id"] for j in jq.get_queue_status("api_add", limit=2)] == ids[:1:-1]  # type: ignore[index]
    assert [j["id"] for j in jq.get_queue_status()] == ids[::-1]  # type: ignore[index]
    one = jq.get_queue_status(id=ids[1])
    assert isinstance(one, dict)
    assert one["id"] == ids[1] and one["status"] == "queued" and one["result"] is None
    assert isinstance(one["created_at"], dt.datetime)
    assert one["created_at"].utcoffset() == dt.timedelta(0)
    assert jq.result(id=ids[1]) is None  # not finished, no wait
    assert jq.result("api_add") is None


def test_enqueue_options_are_stored(jq: JobQueueManager) -> None:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    job_id = jq.enqueue("api_add", {"inputs": {"x": 5}, "final_vars": ["result"]}, "low",
                        job_id="my-job_1", at=at, timeout=dt.timedelta(minutes=5),
                        inputs={"y": 2}, executor_cfg={"type": "synchronous"})
    assert job_id == "my-job_1"
    status = jq.get_queue_status(id=job_id)
    assert isinstance(status, dict)
    assert status["status"] == "scheduled" and status["priority"] == "low"
    assert abs((status["run_at"] - at).total_seconds()) < 0.001
    assert status["timeout"] == 300
    assert status["run"] == {"inputs": {"x": 5, "y": 2}, "final_vars": ["result"],
                             "executor_cfg": {"type": "synchronous"}}
    delayed = jq.get_queue_status(id=jq.enqueue("api_add", delay=60))
    assert isinstance(delayed, dict) and delayed["status"] == "scheduled"


CALLBACK = print


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda jq: jq.enqueue("api_add", priority="urgent"), "priority 'urgent' is not known"),
        (lambda jq: jq.enqueue("a/b"), "path separator"),
        (lambda jq: jq.enqueue("api_missing"), "is not in project"),
        (lambda jq: jq.enqueue(42), "is not a string"),
        (lambda jq: jq.enqueue("api_add", job_id="bad id!"), "job id 'bad id!'"),
        (lambda jq: jq.enqueue("api_add", job_id="x" * 129), "at most 128"),
        (lambda jq: jq.enqueue("api_add", backend="nosuch"), "nosuch"),
        (lambda jq: jq.enqueue("api_add", QueueRunConfig(backend="nosuch")), "nosuch"),
        (lambda jq: jq.enqueue("api_add", {"on_success": CALLBACK}), "callback"),
        # A callback is sent by its importable name (docs/callbacks.md): a lambda has none.
        (lambda jq: jq.enqueue("api_add", on_failure=lambda *a: None), "no importable name"),
        (lambda jq: jq.enqueue("api_add", on_failure="api_no_such_module:f"),
         "on_failure 'api_no_such_module:f' is not importable"),
        (lambda jq: jq.enqueue("api_add", _run_config_with_callback()), "callback"),
        (lambda jq: jq.enqueue("api_add", inputs={"f": CALLBACK}), "callback"),
        (lambda jq: jq.enqueue("api_add", inputs={"when": dt.date(2026, 1, 1)}),
         "inputs['when'] is a datetime.date, which is not JSON"),
        (lambda jq: jq.enqueue("api_add", inputs={1: "a"}), "keys must be strings"),
        (lambda jq: jq.enqueue("api_add", inputs={"x": float("nan")}), "JSON cannot hold"),
        (lambda jq: jq.enqueue("api_add", inputz={"x": 1}), "run option 'inputz'"),
        (lambda jq: jq.enqueue("api_add", inputs=[1]), "must be a JSON object"),
        (lambda jq: jq.enqueue("api_add", 42), "run_config is a int"),
        (lambda jq: jq.enqueue("api_add", QueueRunConfig(schedule="0 * * * *")), "schedule"),
        (lambda jq: jq.enqueue("api_add", retry={"retry_exceptions": [ValueError]}),
         "retry_exceptions"),
        (lambda jq: jq.enqueue("api_add", retry={"max_retries": 5000}), "retry.max_retries"),
        (lambda jq: jq.enqueue("api_add", at=dt.datetime.now(), delay=5), "not both"),
        (lambda jq: jq.enqueue("api_add", delay=-1), "0 or more seconds"),
        (lambda jq: jq.enqueue("api_add", at="tomorrow"), "not a datetime"),
        (lambda jq: jq.enqueue("api_add", timeout="5m"), "not a duration"),
        (lambda jq: jq.enqueue("api_add", timeout=0), "not a time limit"),
    ],
)
def test_bad_input_raises_invalid_input_and_writes_nothing(
    jq: JobQueueManager, call: Any, words: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        call(jq)
    assert words in str(info.value)
    assert info.value.code in ("EINVAL", "ECONFIG")
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    assert jq.get_queue_status() == []
    assert not (Path(jq.project_dir) / ".flowerpower" / "queue.db").exists()


def _run_config_with_callback() -> Any:
    from flowerpower.cfg.pipeline.run import RunConfig

    return RunConfig(on_success=CALLBACK)


def test_duplicate_job_id(jq: JobQueueManager) -> None:
    jq.enqueue("api_add", job_id="once")
    with pytest.raises(InvalidInput) as info:
        jq.enqueue("api_add", job_id="once")
    assert info.value.code == "EEXIST"
    assert len(jq.get_queue_status()) == 1


def test_job_not_found(jq: JobQueueManager) -> None:
    for call in (lambda: jq.get_queue_status(id="nope"), lambda: jq.result(id="nope"),
                 lambda: jq.result(id="nope", wait=True, timeout=1), lambda: jq.cancel("nope"),
                 lambda: jq.requeue("nope"), lambda: jq.result("api_add")):
        with pytest.raises(JobNotFound) as info:
            call()
        assert info.value.code == "ENOTFOUND"
        assert isinstance(info.value, LookupError)
    with pytest.raises(InvalidInput, match="give a pipeline name or id="):
        jq.result()
    with pytest.raises(JobNotFound, match="no live worker named 'ghost'"):
        jq.stop_workers(name="ghost")


def test_wait_with_timeout_raises_job_timeout(jq: JobQueueManager) -> None:
    job_id = jq.enqueue("api_add")
    with pytest.raises(JobTimeout) as info:
        jq.result(id=job_id, wait=True, timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert str(info.value) == f"job '{job_id}' is still queued after 0.3 seconds"
    with pytest.raises(JobTimeout):
        jq.result(id=job_id, timeout=dt.timedelta(milliseconds=100))  # timeout implies wait


def test_cancel_and_requeue(jq: JobQueueManager, tmp_path: Path, fpq_bin: str) -> None:
    keep = jq.enqueue("api_add", inputs={"x": 1})
    drop = jq.enqueue("api_add", inputs={"x": 2})
    jq.cancel(drop)
    with pytest.raises(JobFailed) as info:
        jq.result(id=drop)
    assert info.value.status == "canceled" and "was canceled" in str(info.value)
    with pytest.raises(JobQueueError) as state:
        jq.cancel(drop)
    assert state.value.code == "ESTATE"
    burst(jq, tmp_path / "worker1.log")
    assert jq.result(id=keep) == {"result": 2}
    with pytest.raises(JobFailed):
        jq.result(id=drop)  # canceled jobs do not run
    with pytest.raises(JobQueueError, match="is finished and cannot be requeued"):
        jq.requeue(keep)
    jq.requeue(drop)
    status = jq.get_queue_status(id=drop)
    assert isinstance(status, dict) and status["status"] == "queued"
    burst(jq, tmp_path / "worker2.log")
    assert jq.result(id=drop, wait=True, timeout=30) == {"result": 3}


# ---- FlowerPowerProject ----------------------------------------------------------------


def test_project_methods(tmp_path: Path, fpq_bin: str) -> None:
    from flowerpower import FlowerPowerProject

    root = make_project(tmp_path, "proj", {"api_proj": ADD}, run_yaml={"api_proj": ADD_YAML})
    project = FlowerPowerProject.load(str(root))
    assert project is not None
    manager = project.job_queue
    assert isinstance(manager, JobQueueManager) and project.job_queue is manager
    assert manager.project_dir == str(root)
    job_id = project.enqueue("api_proj", QueueRunConfig(inputs={"x": 9}), priority="high")
    status = project.get_queue_status(id=job_id)
    assert status["status"] == "queued" and status["priority"] == "high"
    assert [j["id"] for j in project.get_queue_status("api_proj")] == [job_id]
    schedule_id = project.schedule("api_proj", schedule="0 * * * *", inputs={"x": 1})
    assert [s["id"] for s in project.list_schedules()] == [schedule_id]
    project.remove_schedule(schedule_id)
    burst(manager, tmp_path / "worker.log")
    assert project.result(id=job_id) == project.run("api_proj", inputs={"x": 9}) == {
        "result": 10}
    assert project.result("api_proj", wait=True) == {"result": 10}
    # A QueueRunConfig is still a RunConfig that project.run accepts.
    assert project.run("api_proj", run_config=QueueRunConfig(inputs={"x": 2},
                                                            priority="low")) == {"result": 3}


def test_import_is_cheap_and_attaches_in_either_order() -> None:
    code = (
        "import sys, flowerpower_job_queue\n"
        "heavy = [m for m in ('flowerpower', 'pandas', 'numpy') if m in sys.modules]\n"
        "from flowerpower import FlowerPowerProject\n"
        "print(heavy, callable(FlowerPowerProject.enqueue), FlowerPowerProject.__module__,\n"
        "      type(sys.modules['flowerpower'].__loader__).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "True", "flowerpower.flowerpower", "SourceFileLoader"]
    code = ("import flowerpower, flowerpower_job_queue\n"
            "print(callable(flowerpower.FlowerPowerProject.result))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True"]


# ---- run configs ----------------------------------------------------------------------


def test_run_config_to_dict_is_sparse() -> None:
    from flowerpower.cfg.pipeline.run import ExecutorConfig, RunConfig

    assert run_config_to_dict(None) == {}
    assert run_config_to_dict(RunConfig()) == {}
    assert run_config_to_dict(QueueRunConfig()) == {}
    assert run_config_to_dict(RunConfig(inputs={"x": 1}, final_vars=["a"])) == {
        "inputs": {"x": 1}, "final_vars": ["a"]}
    assert run_config_to_dict(RunConfig(executor=ExecutorConfig(type="synchronous"))) == {
        "executor": {"type": "synchronous"}}
    assert run_config_to_dict(RunConfig(retry={"max_retries": 2, "retry_delay": 0.5})) == {
        "retry": {"max_retries": 2, "retry_delay": 0.5}}
    # Named explicitly (from_dict): kept even at the default value, as FlowerPower does.
    assert run_config_to_dict(RunConfig.from_dict({"log_level": "INFO"})) == {
        "log_level": "INFO"}
    assert run_config_to_dict(QueueRunConfig(priority="high", backend="sqlite")) == {
        "priority": "high", "backend": "sqlite"}
    assert run_config_to_dict({"inputs": {"t": (1, 2)}}) == {"inputs": {"t": [1, 2]}}
    assert run_config_to_dict(RunConfig(additional_modules=[json])) == {
        "additional_modules": ["json"]}
    with pytest.raises(InvalidInput, match="callback"):
        run_config_to_dict(RunConfig(on_failure=(print, (), {})))


def test_queue_run_config() -> None:
    from flowerpower.cfg.pipeline.run import RunConfig

    cfg = QueueRunConfig(inputs={"x": 1}, priority="low", retry={"max_retries": 4})
    assert isinstance(cfg, RunConfig)
    assert cfg.priority == "low" and cfg.retry is not None and cfg.retry.max_retries == 4
    assert cfg.to_dict()["priority"] == "low"
    assert QueueRunConfig.from_dict({"schedule": "*/5 * * * *"}).schedule == "*/5 * * * *"
    with pytest.raises(InvalidInput, match="priority 'urgent'"):
        QueueRunConfig(priority="urgent")
    assert flowerpower_job_queue.QueueRunConfig is QueueRunConfig


# ---- backends, workers, threads, processes ---------------------------------------------


def test_backend_selection(jq: JobQueueManager, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    job_id = jq.enqueue("api_add", backend=f"sqlite://{other}")
    assert jq.get_queue_status() == []  # not in the project's default queue
    assert other.exists()
    elsewhere = JobQueueManager(jq.project_dir, backend="sqlite", url=f"sqlite://{other}")
    assert [j["id"] for j in elsewhere.get_queue_status()] == [job_id]  # type: ignore[index]
    assert elsewhere.queue().url == f"sqlite://{other}"
    assert JobQueueManager(jq.project_dir, backend=f"sqlite://{other}").queue().url == (
        f"sqlite://{other}")
    elsewhere.close()
    (tmp_path / "file").write_text("")
    broken = JobQueueManager(jq.project_dir, url=f"sqlite://{tmp_path}/file/q.db")
    assert broken.get_queue_status() == []  # nothing to read: no database yet
    with pytest.raises(JobQueueError) as info:  # the first write cannot make it
        broken.enqueue("api_add")
    assert info.value.code == "EIO" and "cannot create" in str(info.value)


def test_workers_and_stop_workers(jq: JobQueueManager, tmp_path: Path, fpq_bin: str) -> None:
    with open(tmp_path / "worker.log", "ab") as log:
        (proc,) = jq.start_workers(name="api-stop.1", stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not jq.workers() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        (worker,) = jq.workers()
        assert worker["name"] == "api-stop.1" and worker["pid"] == proc.pid
        assert worker["queues"] == ["high", "default", "low"]
        assert worker["birth"].tzinfo is not None
        assert jq.metrics()["workers"][0]["name"] == "api-stop.1"
        assert jq.stop_workers(wait=True, timeout=60) == ["api-stop.1"]
        assert proc.wait(60) == 0
        assert jq.workers() == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_workers_rejects_bad_options(jq: JobQueueManager) -> None:
    with pytest.raises(InvalidInput, match="isolation 'thread'"):
        jq.start_workers(isolation="thread")
    with pytest.raises(InvalidInput, match="count 0"):
        jq.start_workers(0)
    with pytest.raises(InvalidInput, match="worker name 'a b'"):
        jq.start_workers(name="a b")


def test_result_wait_releases_the_gil(jq: JobQueueManager, tmp_path: Path,
                                      fpq_bin: str) -> None:
    """One thread waits for a result in C; this thread meanwhile runs Python, reads the
    job through the same manager and starts the worker that finishes it. Were the GIL (or
    the handle) held for the whole wait, none of that could happen and the wait would
    time out."""
    job_id = jq.enqueue("api_add", inputs={"x": 6})
    box: dict[str, Any] = {}

    def waiter() -> None:
        try:
            box["result"] = jq.result(id=job_id, wait=True, timeout=120)
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    thread = threading.Thread(target=waiter)
    thread.start()
    spins, until = 0, time.monotonic() + 0.3
    while time.monotonic() < until:
        spins += 1
    assert thread.is_alive() and spins > 1000
    status = jq.get_queue_status(id=job_id)
    assert isinstance(status, dict) and status["status"] == "queued"
    burst(jq, tmp_path / "worker.log")
    thread.join(120)
    assert box == {"result": {"result": 7}}


def test_fork_child_opens_its_own_connection(jq: JobQueueManager) -> None:
    jq.enqueue("api_add")  # the parent's connection is open
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.write(write, jq.enqueue("api_add").encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    child_id = os.read(read, 200).decode()
    os.close(read)
    assert os.waitpid(pid, 0)[1] == 0
    assert child_id in [j["id"] for j in jq.get_queue_status()]  # type: ignore[index]
    assert len(jq.get_queue_status()) == 2


def test_a_record_nested_deeper_than_python_decodes_is_shown_as_text() -> None:
    """A row written behind the engine's back (enqueue refuses over 200 levels) must not
    turn every listing of the project into a RecursionError."""
    from flowerpower_job_queue.records import api_job

    deep = "[" * 5000 + "]" * 5000
    job = api_job({"id": "deep", "run_json": '{"inputs": {"x": ' + deep + "}}",
                   "error_json": None, "result_json": None, "created_at": 0.0})
    assert isinstance(job["run"], str) and job["run"].endswith("]}}")
