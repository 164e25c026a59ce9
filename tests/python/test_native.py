"""The C extension `_native` on its own: the Queue type over libfpq on the embedded SQLite
backend, its conversions, its typed exceptions, its locking and its reference counts.
Real FlowerPower projects on disk; no worker is needed here."""

from __future__ import annotations

import contextlib
import gc
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flowerpower_job_queue import _native
from flowerpower_job_queue.exceptions import (
    BackendUnavailable,
    InvalidInput,
    JobNotFound,
    JobQueueError,
    JobTimeout,
)
from projects import make_project

ADD = "def result(x: int) -> int:\n    return x + 1\n"

JOB_KEYS = {
    "id", "project", "pipeline", "run_json", "queue", "priority", "status", "description",
    "created_at", "enqueued_at", "started_at", "ended_at", "run_at", "attempts",
    "max_retries", "retry_delay", "jitter_factor", "timeout", "result_ttl", "worker",
    "result_json", "error_json", "func", "execution", "failure_ttl", "log", "depends_on",
    "on_success", "on_failure", "on_stopped",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "native", {"n_add": ADD})


@pytest.fixture
def queue(project: Path) -> Iterator[_native.Queue]:
    with _native.Queue(project) as q:
        yield q


def test_module_constants_and_version() -> None:
    assert _native.PRIORITIES == ("high", "medium", "low")
    assert {"queued", "started", "finished", "failed", "canceled"} <= set(_native.STATUSES)
    assert _native.ID_MAX == 128
    assert _native.version() == "0.1.0"


def test_open_resolves_settings(project: Path, queue: _native.Queue) -> None:
    assert queue.backend == "sqlite"
    assert queue.project_dir == str(project.resolve())
    assert queue.url == f"sqlite://{project.resolve()}/.flowerpower/queue.db"
    assert "sqlite" in repr(queue) and not queue.closed
    # The database is made by the first write, not by opening.
    assert not (project / ".flowerpower" / "queue.db").exists()
    assert queue.find() == []
    queue.enqueue("n_add")
    assert (project / ".flowerpower" / "queue.db").exists()


def test_reader_opened_before_the_database_exists_sees_it(project: Path) -> None:
    with _native.Queue(project) as reader, _native.Queue(project) as writer:
        assert reader.find() == []
        with pytest.raises(JobNotFound):
            reader.get("early")
        job_id = writer.enqueue("n_add", job_id="early")
        assert [j["id"] for j in reader.find()] == [job_id]
        assert reader.get(job_id)["status"] == "queued"


def test_enqueue_get_has_every_field(queue: _native.Queue) -> None:
    job_id = queue.enqueue("n_add", run_json='{"inputs": {"x": 1}}', priority="high")
    job = queue.get(job_id)
    assert set(job) == JOB_KEYS
    assert job["id"] == job_id
    assert job["status"] == "queued" and job["priority"] == "high" and job["queue"] == "high"
    assert json.loads(job["run_json"]) == {"inputs": {"x": 1}}
    assert isinstance(job["created_at"], float) and job["created_at"] > 1.7e9
    assert job["started_at"] is None and job["ended_at"] is None and job["run_at"] is None
    assert job["result_json"] is None and job["error_json"] is None
    assert job["func"] == "flowerpower_job_queue.tasks.run_pipeline"
    # The pipeline YAML (retry: {max_retries: 0}) filled in the retry policy.
    assert job["max_retries"] == 0


def test_run_config_json_then_explicit_arguments_override(queue: _native.Queue) -> None:
    job_id = queue.enqueue(
        "n_add",
        run_json='{"inputs": {"x": 1}}',
        run_config_json=json.dumps({"inputs": {"x": 2}, "executor": {"type": "synchronous"},
                                    "retry": {"max_retries": 4, "retry_delay": 0.5},
                                    "priority": "low"}),
        max_retries=2,
        timeout=30,
        run_at=1.0,  # in the past: queued now
    )
    job = queue.get(job_id)
    assert json.loads(job["run_json"]) == {"inputs": {"x": 2},
                                           "executor_cfg": {"type": "synchronous"}}
    assert job["priority"] == "low" and job["queue"] == "low"
    assert job["max_retries"] == 2 and job["retry_delay"] == 0.5 and job["timeout"] == 30
    assert job["status"] == "queued"


def test_scheduled_job_has_run_at(queue: _native.Queue) -> None:
    import time

    when = time.time() + 3600
    job = queue.get(queue.enqueue("n_add", run_at=when))
    assert job["status"] == "scheduled" and job["run_at"] == pytest.approx(when)


def test_find_newest_first_with_limit(queue: _native.Queue) -> None:
    ids = [queue.enqueue("n_add", job_id=f"job-{i}") for i in range(5)]
    assert [j["id"] for j in queue.find("n_add")] == ids[::-1]
    assert [j["id"] for j in queue.find(limit=2)] == ids[:-3:-1]
    assert queue.find("other") == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"priority": "urgent"}, "priority 'urgent' is not known"),
        ({"priority": 3}, "priority 3 is not known"),
        ({"job_id": "bad id!"}, "job id 'bad id!'"),
        ({"run_json": "[1]"}, "must be a JSON object"),
        ({"run_json": '{"inputz": {}}'}, "run option 'inputz'"),
        ({"run_config_json": "{"}, "run config is not valid JSON"),
        ({"run_config_json": '{"retry": {"max_retries": -1}}'}, "retry.max_retries"),
        ({"max_retries": -5}, "max retries -5"),
        ({"timeout": -1.0}, "timeout -1"),
        ({"run_at": float("nan")}, "run time"),
    ],
)
def test_bad_enqueue_raises_invalid_input_and_writes_nothing(
    queue: _native.Queue, kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        queue.enqueue("n_add", **kwargs)
    assert words in str(info.value)
    assert info.value.code == "EINVAL"
    assert "\n" not in str(info.value)
    assert queue.find() == []


@pytest.mark.parametrize(
    ("pipeline", "words"),
    [("a/b", "path separator"), ("", "empty"), ("..x", "empty part"),
     ("n_missing", "is not in project")],
)
def test_bad_pipeline_names(queue: _native.Queue, pipeline: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        queue.enqueue(pipeline)
    assert queue.find() == []


def test_duplicate_id_is_invalid_input_eexist(queue: _native.Queue) -> None:
    queue.enqueue("n_add", job_id="same")
    with pytest.raises(InvalidInput) as info:
        queue.enqueue("n_add", job_id="same")
    assert info.value.code == "EEXIST"
    assert len(queue.find()) == 1


def test_not_found_and_malformed_ids(queue: _native.Queue) -> None:
    with pytest.raises(JobNotFound) as info:
        queue.get("nope")
    assert info.value.code == "ENOTFOUND" and "job 'nope' not found" in str(info.value)
    assert isinstance(info.value, LookupError)
    with pytest.raises(JobNotFound):
        queue.cancel("nope")
    with pytest.raises(JobNotFound):
        queue.wait("nope", 0.1)
    with pytest.raises(InvalidInput):
        queue.get("no/such")
    with pytest.raises(ValueError):  # embedded NUL: rejected by argument parsing
        queue.get("a\0b")


def test_cancel_and_requeue_states(queue: _native.Queue) -> None:
    job_id = queue.enqueue("n_add")
    queue.cancel(job_id)
    assert queue.get(job_id)["status"] == "canceled"
    with pytest.raises(JobQueueError) as info:
        queue.cancel(job_id)
    assert info.value.code == "ESTATE" and "is canceled and cannot be canceled" in str(info.value)
    queue.requeue(job_id)
    assert queue.get(job_id)["status"] == "queued"
    with pytest.raises(JobQueueError, match="cannot be requeued"):
        queue.requeue(job_id)


def test_wait_times_out_with_the_callers_timeout(queue: _native.Queue) -> None:
    job_id = queue.enqueue("n_add")
    with pytest.raises(JobTimeout) as info:
        queue.wait(job_id, 0.7)  # two slices: the message names the whole wait
    assert str(info.value) == f"job '{job_id}' is still queued after 0.7 seconds"
    assert info.value.code == "ETIMEDOUT" and isinstance(info.value, TimeoutError)
    queue.cancel(job_id)
    assert queue.wait(job_id, 5)["status"] == "canceled"
    assert queue.wait(job_id)["status"] == "canceled"


def test_metrics_workers_and_commands(queue: _native.Queue) -> None:
    queue.enqueue("n_add", priority="low")
    metrics = json.loads(queue.metrics_json())
    assert metrics["backend"] == "sqlite" and metrics["workers"] == []
    low = [q for q in metrics["queues"] if q["name"] == "low"]
    assert low and low[0]["queued"] == 1
    assert queue.workers() == []
    with pytest.raises(JobNotFound, match="no live worker named 'nobody'"):
        queue.worker_command("nobody", "shutdown")
    with pytest.raises(InvalidInput, match="worker command 'explode' is not known"):
        queue.worker_command("nobody", "explode")


def test_settings_from_conf_file(project: Path) -> None:
    (project / "conf" / "job_queue.yml").write_text("backend: sqlite\nconnect_timeout: 2s\n")
    with _native.Queue(project) as q:
        assert q.setting("connect_timeout") == "2s"
        assert q.setting("nothing") == ""


def test_open_errors_are_typed(tmp_path: Path, project: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        _native.Queue(tmp_path / "missing")
    assert info.value.code == "ECONFIG" and "cannot be used" in str(info.value)
    with pytest.raises(InvalidInput, match="nosuch"):
        _native.Queue(project, backend="nosuch")
    with pytest.raises(InvalidInput, match="does not fit backend"):
        _native.Queue(project, backend="sqlite", url="redis://127.0.0.1:1/0")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises((BackendUnavailable, JobQueueError)):
        _native.Queue(project, url=f"sqlite://{tmp_path / 'dir.db'}")


def test_closed_queue_refuses_calls(project: Path) -> None:
    q = _native.Queue(project)
    q.close()
    q.close()  # twice is harmless
    assert q.closed and "closed" in repr(q)
    with pytest.raises(InvalidInput) as info:
        q.find()
    assert info.value.code == "ECLOSED"
    with pytest.raises(InvalidInput):
        q.setting("backend")
    assert q.backend == "sqlite"  # resolved settings stay readable


def test_module_validators() -> None:
    _native.validate_id("abc_DEF-123")
    _native.validate_pipeline("a.b_c-d")
    with pytest.raises(InvalidInput, match="at most 128"):
        _native.validate_id("x" * 129)
    with pytest.raises(InvalidInput, match="path separator"):
        _native.validate_pipeline("../etc")


def test_format_time_shows_rq_times_and_refuses_what_no_calendar_has() -> None:
    assert _native.format_time(0) is None and _native.format_time(None) is None
    assert _native.format_time(1767225600.5).startswith("2026-01-01T00:00:00.5")
    assert _native.format_time(1767225600, "Europe/Berlin").startswith("2026-01-01")
    for huge in (1e300, float("inf")):
        for zone in (None, "Europe/Berlin"):
            with pytest.raises(InvalidInput, match="cannot be shown"):
                _native.format_time(huge, zone)


def test_threads_share_one_queue(queue: _native.Queue) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for _ in range(50):
                ids.append(queue.enqueue("n_add"))
                queue.find(limit=5)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=produce) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 400
    assert len(queue.find(limit=1000)) == 400


def test_no_reference_leaks(queue: _native.Queue) -> None:
    """Every path, the error paths above all, gives back what it takes: Python blocks stay
    flat over thousands of calls, and the exception classes' reference counts too."""
    job_id = queue.enqueue("n_add", job_id="leak")

    def work() -> None:
        queue.get(job_id)
        queue.find("n_add")
        queue.metrics_json()
        queue.workers()
        for call in (lambda: queue.get("nope"), lambda: queue.enqueue("n_add", priority="x"),
                     lambda: queue.enqueue("a/b"), lambda: queue.wait(job_id, 0),
                     lambda: queue.enqueue("n_add", job_id="leak"),
                     lambda: queue.requeue(job_id)):
            with contextlib.suppress(JobQueueError):
                call()

    for _ in range(200):
        work()
    gc.collect()
    refs = [sys.getrefcount(c) for c in (InvalidInput, JobNotFound, JobTimeout, _native.Queue)]
    blocks = sys.getallocatedblocks()
    for _ in range(2000):
        work()
    gc.collect()
    assert [sys.getrefcount(c) for c in (InvalidInput, JobNotFound, JobTimeout,
                                         _native.Queue)] == refs
    assert sys.getallocatedblocks() - blocks < 200


def test_worker_and_scheduler_options_are_checked_in_the_engine(
        project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # The same checks as fpq's flags, for in-process callers too; nothing is started.
    assert _native.run_worker(str(project), burst=True, lease=1.0) == 2
    assert "--lease 1s is too short: expected at least 3 s" in capfd.readouterr().err
    assert _native.run_scheduler(str(project), tick=0.001, once=True) == 2
    assert "--tick 0.001s is too short" in capfd.readouterr().err
    assert _native.run_scheduler(str(project), tick=1.0, lease_ttl=1.5, once=True) == 2
    assert "must be at least two ticks (2s)" in capfd.readouterr().err
    assert _native.run_scheduler(str(project), name="bad name", once=True) == 2
    assert "--name 'bad name' is not valid" in capfd.readouterr().err
    assert not (project / ".flowerpower").exists()
