"""Jobs that wait for other jobs (`fpq enqueue --after ID`, `enqueue(depends_on=[...])`) on
both built-in backends: a chain of three pipelines runs in order with one burst worker,
`fpq status` says what a deferred job waits for, a failed parent keeps its child waiting,
and bad parents are refused with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flowerpower_job_queue import JobNotFound, JobQueueManager
from fpqtest import enqueue, job, jobs, run_burst, run_fpq
from projects import make_project

# Each step appends its name to a log, so the log's order is the run order.
STEP = ("def result(step: str = '', log: str = '') -> str:\n"
        "    with open(log, 'a') as f:\n"
        "        f.write(step + '\\n')\n"
        "    return step\n")
FAIL = "def result() -> int:\n    raise ValueError('no data')\n"


@pytest.fixture(params=["sqlite", "rq"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "rq":
        monkeypatch.setenv("FPQ_BACKEND", "rq")
        monkeypatch.setenv("FPQ_URL", request.getfixturevalue("redis_server").url)
    return str(request.param)


def test_a_chain_of_three_pipelines_runs_in_order(
        tmp_path: Path, fpq_bin: str, backend: str) -> None:
    project = make_project(tmp_path, "chain", {"extract": STEP, "transform": STEP,
                                               "report": STEP, "broken": FAIL})
    log = tmp_path / "order.log"

    def inputs(step: str) -> str:
        return json.dumps({"step": step, "log": str(log)})

    # Enqueued last first in the queue's order: only the dependencies order the runs.
    extract = enqueue(fpq_bin, project, "extract", "--inputs", inputs("extract"),
                      "--priority", "low")
    transform = enqueue(fpq_bin, project, "transform", "--inputs", inputs("transform"),
                        "--after", extract, "--priority", "high")
    with JobQueueManager(project) as jq:
        report = jq.enqueue("report", inputs={"step": "report", "log": str(log)},
                            priority="high", depends_on=[transform, extract])
    assert job(fpq_bin, project, transform)["status"] == "deferred"
    assert job(fpq_bin, project, report)["depends_on"] == [transform, extract]
    shown = run_fpq(fpq_bin, "status", f"id={report}", project=project, check=True).stdout
    assert f"waits for:  {transform}, {extract}\n" in shown

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    assert log.read_text().split() == ["extract", "transform", "report"]
    assert {job(fpq_bin, project, i)["status"] for i in (extract, transform, report)} == {
        "finished"}
    after = run_fpq(fpq_bin, "status", f"id={report}", project=project, check=True).stdout
    assert f"after:      {transform}, {extract}\n" in after


def test_a_failed_parent_keeps_its_child_waiting_until_it_is_requeued_and_finishes(
        tmp_path: Path, fpq_bin: str, backend: str) -> None:
    project = make_project(tmp_path, "held", {"broken": FAIL, "report": STEP})
    log = tmp_path / "order.log"
    parent = enqueue(fpq_bin, project, "broken", "--max-retries", "0")
    child = enqueue(fpq_bin, project, "report", "--after", parent, "--inputs",
                    json.dumps({"step": "report", "log": str(log)}))
    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
    assert job(fpq_bin, project, parent)["status"] == "failed"
    assert job(fpq_bin, project, child)["status"] == "deferred"
    assert not log.exists()
    canceled = run_fpq(fpq_bin, "cancel", child, project=project)
    assert canceled.returncode == 0, canceled.stderr
    assert job(fpq_bin, project, child)["status"] == "canceled"


@pytest.mark.parametrize(("args", "code", "words"), [
    (["--after", "no-such-job"], 1, "job 'no-such-job' to wait for (--after) not found"),
    (["--after", "bad id!"], 2, "--after: job id 'bad id!' has ' '"),
])
def test_bad_parents_are_refused_and_nothing_is_written(
        tmp_path: Path, fpq_bin: str, backend: str, args: list[str], code: int,
        words: str) -> None:
    project = make_project(tmp_path, "bad", {"report": STEP})
    proc = run_fpq(fpq_bin, "enqueue", "report", *args, project=project)
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr
    assert proc.stdout == ""
    assert jobs(fpq_bin, project) == []


def test_the_python_api_refuses_an_unknown_parent(tmp_path: Path, backend: str) -> None:
    project = make_project(tmp_path, "api", {"report": STEP})
    with JobQueueManager(project) as jq, pytest.raises(JobNotFound, match="nope"):
        jq.enqueue("report", depends_on="nope")
    with JobQueueManager(project) as jq:
        assert jq.get_queue_status() == []
