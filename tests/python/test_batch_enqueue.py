"""Batch enqueue end to end: `project.job_queue.enqueue_many`, `fpq enqueue --from-file`
and `flowerpower-queue enqueue --from-file`, on the embedded SQLite backend and on a real
Redis (the rq backend), with a real FlowerPower project and the real `fpq` worker. No
mocks.

What a batch promises: every job stored exactly as `enqueue` stores it, in order, and run
by a worker; one bad item (or line) refuses the batch, names the item, and writes
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flowerpower_job_queue import InvalidInput, JobQueueError, JobQueueManager
from fpqtest import RedisServer, run_burst, run_fpq
from projects import make_project

ADD = "def result(x: int) -> int:\n    return x + 1\n"
ADD_YAML = ("run:\n  inputs: {x: 1}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
            "  retry: {max_retries: 0}\n")
PIPELINE = "batch_add"
N = 1000


@pytest.fixture(params=["sqlite", "rq"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A real FlowerPower project whose conf picks the backend under test."""
    root = make_project(tmp_path, "batch", {PIPELINE: ADD}, run_yaml={PIPELINE: ADD_YAML})
    if request.param == "rq":
        server = RedisServer(tmp_path / "redis")
        server.directory.mkdir()
        server.start()
        request.addfinalizer(server.stop)
        (root / "conf" / "job_queue.yml").write_text(f"url: {server.url}\n")
    yield root


def _all_jobs(jq: JobQueueManager) -> list[dict[str, Any]]:
    return list(jq.get_queue_status(PIPELINE, limit=N + 10))


def test_a_batch_of_1000_is_stored_as_given_and_run_by_a_burst_worker(
        project: Path, fpq_bin: str, tmp_path: Path) -> None:
    from flowerpower import FlowerPowerProject

    fp = FlowerPowerProject.load(str(project))
    items = [{"pipeline_name": PIPELINE, "inputs": {"x": i},
              "priority": ("high", "medium", "low")[i % 3],
              **({"job_id": f"given-{i}"} if i % 100 == 7 else {})} for i in range(N)]
    ids = fp.job_queue.enqueue_many(items)
    assert len(ids) == N and len(set(ids)) == N
    assert ids[7] == "given-7" and ids[907] == "given-907"
    jq = fp.job_queue
    stored = {job["id"]: job for job in _all_jobs(jq)}
    assert set(stored) == set(ids)
    # The project's queues: namespaced by its name on rq (issue 12), plain on SQLite.
    prefix = "batch." if jq.queue().backend == "rq" else ""
    for i, job_id in enumerate(ids):
        job = stored[job_id]
        assert job["pipeline"] == PIPELINE and job["status"] == "queued"
        assert job["priority"] == ("high", "medium", "low")[i % 3]
        assert job["queue"] == prefix + ("high", "default", "low")[i % 3]
        assert job["run"] == {"inputs": {"x": i}}
        assert job["project"] == "batch"  # its name, never its path
    # One job of the batch reads back exactly as the same job enqueued alone.
    single = jq.enqueue(PIPELINE, inputs={"x": 5}, priority="low")
    alone, batched = (jq.get_queue_status(id=i) for i in (single, ids[5]))
    volatile = {"id", "created_at", "enqueued_at", "description"}
    assert {k: v for k, v in alone.items() if k not in volatile} == \
        {k: v for k, v in batched.items() if k not in volatile}
    jq.cancel(single)
    assert run_burst(fpq_bin, project, "--isolation", "none", "--count", "2",
                     log=tmp_path / "worker.log") == 0
    done = {job["id"]: job for job in _all_jobs(jq)}
    assert {job["status"] for job in done.values() if job["id"] != single} == {"finished"}
    for i in (0, 7, 500, N - 1):
        assert jq.result(id=ids[i]) == {"result": i + 1}


def test_one_bad_item_refuses_the_batch_naming_it(project: Path) -> None:
    jq = JobQueueManager(project)
    good = [{"pipeline_name": PIPELINE, "inputs": {"x": i}, "job_id": f"ok-{i}"}
            for i in range(4)]
    cases = [
        ({"pipeline_name": "batch_nope"}, "jobs[2]: pipeline 'batch_nope' is not in project"),
        ({"pipeline_name": PIPELINE, "priority": "urgent"}, "jobs[2]: priority 'urgent'"),
        ({"pipeline_name": PIPELINE, "job_id": "ok-0"}, "jobs[2]: job id 'ok-0' is already "
                                                        "given to jobs[0]"),
        ({"pipeline_name": PIPELINE, "timeout": -3}, "jobs[2]: timeout"),
        ({"pipeline_name": PIPELINE, "run_config": {"retry": {"max_retries": "x"}}},
         "jobs[2]: run config 'retry.max_retries'"),
        ({"pipeline_name": PIPELINE, "inputs": {"x": float("nan")}}, "jobs[2]: "),
        ("not a dict", "jobs[2]: 'not a dict' is not a dict"),
    ]
    for bad, message in cases:
        batch = [*good[:2], bad, *good[2:]]
        with pytest.raises(InvalidInput) as info:
            jq.enqueue_many(batch)
        assert str(info.value).startswith(message), (bad, str(info.value))
        assert _all_jobs(jq) == [], bad
    # An id already stored: the batch is refused, naming the item, and nothing is written.
    taken = jq.enqueue(PIPELINE, job_id="ok-3")
    with pytest.raises(JobQueueError) as info:
        jq.enqueue_many(good)
    assert str(info.value).startswith("jobs[3]: job id 'ok-3' is already taken")
    assert [job["id"] for job in _all_jobs(jq)] == [taken]
    assert jq.enqueue_many([]) == []


def _jsonl(rows: list[Any]) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


ROWS = [
    {"pipeline": PIPELINE, "inputs": {"x": 1}},
    {"pipeline": PIPELINE, "inputs": {"x": 2}, "priority": "high", "job_id": "file-2",
     "timeout": "5m", "max_retries": 2, "retry_delay": 3, "result_ttl": "1d"},
    "",
    {"pipeline": PIPELINE, "run_config": {"inputs": {"x": 3}}, "in": "1h",
     "on_failure": "hooks:page"},
]


def _typer(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "flowerpower_job_queue", *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("cli", ["fpq", "typer"])
def test_enqueue_from_file_prints_the_ids_in_file_order(
        project: Path, fpq_bin: str, tmp_path: Path, cli: str) -> None:
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(_jsonl(ROWS))
    if cli == "fpq":
        proc = run_fpq(fpq_bin, "enqueue", "--from-file", str(jobs_file), project=project)
    else:
        proc = _typer("enqueue", "--from-file", str(jobs_file), "--project", str(project))
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 3 and ids[1] == "file-2"
    jq = JobQueueManager(project)
    first, second, third = (jq.get_queue_status(id=i) for i in ids)
    assert first["run"] == {"inputs": {"x": 1}} and first["status"] == "queued"
    assert second["priority"] == "high" and second["timeout"] == 300
    assert second["max_retries"] == 2 and second["retry_delay"] == 3
    assert second["result_ttl"] == 86400
    assert third["status"] == "scheduled" and third["run"] == {"inputs": {"x": 3}}
    # Stored in RQ's dotted form on rq (its failure_callback_name).
    assert third["on_failure"] in ("hooks:page", "hooks.page") and first["on_failure"] is None
    # `-` reads stdin.
    line = _jsonl([{"pipeline": PIPELINE, "job_id": "from-stdin"}])
    if cli == "fpq":
        proc = subprocess.run([fpq_bin, "enqueue", "--from-file", "-", "--project",
                               str(project)], input=line, capture_output=True, text=True)
    else:
        proc = _typer("enqueue", "--from-file", "-", "--project", str(project), stdin=line)
    assert (proc.returncode, proc.stdout) == (0, "from-stdin\n"), proc.stderr


BAD_LINES = [
    ({"pipeline": "batch_nope"}, "line 3: pipeline 'batch_nope' is not in project"),
    ({"pipeline": PIPELINE, "colour": "red"}, 'line 3: key "colour" is not known'),
    ({"inputs": {"x": 1}}, 'line 3: "pipeline" is missing'),
    ({"pipeline": PIPELINE, "in": "soon"}, "line 3: \"in\" 'soon' is not a duration"),
    ({"pipeline": PIPELINE, "job_id": "file-1"}, "line 3: job id 'file-1' is already given"),
    ('{"pipeline": ', "line 3: not JSON"),
    ("[1, 2]", "line 3: not a JSON object"),
    ({"pipeline": PIPELINE, "on_failure": 7}, 'line 3: "on_failure" is not a reference'),
    ({"pipeline": PIPELINE, "on_success": "no good"}, "line 3: on_success 'no good'"),
]


@pytest.mark.parametrize("cli", ["fpq", "typer"])
@pytest.mark.parametrize(("bad", "message"), BAD_LINES)
def test_a_bad_line_exits_2_naming_it_and_writes_nothing(
        project: Path, fpq_bin: str, tmp_path: Path, cli: str, bad: Any, message: str) -> None:
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(_jsonl([{"pipeline": PIPELINE, "job_id": "file-1"}, "", bad,
                                 {"pipeline": PIPELINE}]))
    if cli == "fpq":
        proc = run_fpq(fpq_bin, "enqueue", "--from-file", str(jobs_file), project=project)
    else:
        proc = _typer("enqueue", "--from-file", str(jobs_file), "--project", str(project))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{jobs_file} {message}" in lines[0], proc.stderr
    assert _all_jobs(JobQueueManager(project)) == []


def test_from_file_refuses_per_job_options_and_an_unreadable_file(
        project: Path, fpq_bin: str, tmp_path: Path) -> None:
    mixed = run_fpq(fpq_bin, "enqueue", PIPELINE, "--from-file", "x.jsonl", project=project)
    assert mixed.returncode == 2 and "--from-file takes no PIPELINE" in mixed.stderr
    missing = run_fpq(fpq_bin, "enqueue", "--from-file", str(tmp_path / "none.jsonl"),
                      project=project)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    typer_missing = _typer("enqueue", "--from-file", str(tmp_path / "none.jsonl"),
                           "--project", str(project))
    assert typer_missing.returncode == 2 and "cannot read" in typer_missing.stderr
