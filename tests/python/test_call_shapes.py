"""The calls the requirements write, as they write them (issue 12, item 3): int and str
ids, ``pipeline_name=`` beside ``name=``, ``JobQueueManager.enqueue(project, ...)``, an
assignable ``project.job_queue``, ``worker stop`` with no option, ``result PIPELINE`` as
the newest finished run, one meaning of ``count``, and enqueue outside a project as bad
input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fpqtest import enqueue, job, run_burst, run_fpq, start_worker, wait_for
from projects import make_project

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
QUEUE = [sys.executable, "-m", "flowerpower_job_queue"]


@pytest.fixture
def project(tmp_path: Path) -> Any:
    import flowerpower_job_queue  # noqa: F401  (attaches the project methods)
    from flowerpower import FlowerPowerProject

    return FlowerPowerProject.load(str(make_project(tmp_path, "shapes", {"cs_add": ADD})))


def test_ids_names_and_the_project_first_form(project: Any, tmp_path: Path) -> None:
    from flowerpower import FlowerPowerProject
    from flowerpower_job_queue import InvalidInput, JobNotFound, JobQueueManager

    numeric = project.enqueue("cs_add", job_id=1234, inputs={"x": 1})
    assert numeric == "1234"
    assert project.get_queue_status(id=1234)["id"] == "1234"
    assert project.get_queue_status(id="1234")["status"] == "queued"
    by_kw = project.enqueue(pipeline_name="cs_add", inputs={"x": 2})
    assert [j["id"] for j in project.get_queue_status(pipeline_name="cs_add")] == [
        by_kw, "1234"]
    assert project.get_queue_status(name="cs_add")[0]["id"] == by_kw
    with pytest.raises(InvalidInput, match="give the pipeline once"):
        project.get_queue_status(name="cs_add", pipeline_name="other")

    jq = JobQueueManager(project)
    bound = jq.enqueue(project, "cs_add", {"inputs": {"x": 3}}, priority="high")
    assert jq.get_queue_status(id=bound)["priority"] == "high"
    other = FlowerPowerProject.load(str(make_project(tmp_path, "other", {"cs_add": ADD})))
    with pytest.raises(InvalidInput, match="is not this manager's project"):
        jq.enqueue(other, "cs_add")

    mine = JobQueueManager(project)
    project.job_queue = mine
    assert project.job_queue is mine
    with pytest.raises(InvalidInput, match="serves"):
        project.job_queue = JobQueueManager(other)
    with pytest.raises(InvalidInput, match="expected a JobQueueManager"):
        project.job_queue = "rq"

    assert project.job_queue.start_workers(count=2, burst=True)[0].wait(180) == 0
    assert project.result(id=1234) == {"result": 2}
    assert project.result(pipeline_name="cs_add") is not None
    with pytest.raises(JobNotFound):
        project.job_queue.result(id=99999)
    with pytest.raises(InvalidInput, match="count 2 and slots 3 are one setting"):
        project.job_queue.start_workers(count=2, slots=3)


def test_result_of_a_pipeline_is_its_newest_finished_run(tmp_path: Path, fpq_bin: str) -> None:
    root = make_project(tmp_path, "newest", {"cs_new": ADD})
    done = enqueue(fpq_bin, root, "cs_new", "--inputs", '{"x": 41}')
    assert run_burst(fpq_bin, root, log=tmp_path / "worker.log") == 0
    pending = enqueue(fpq_bin, root, "cs_new", "--inputs", '{"x": 1}')
    for argv in ([fpq_bin, "result", "cs_new", "--project", str(root)],
                 [*QUEUE, "result", "cs_new", "--project", str(root)]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert '"result": 42' in proc.stdout
    assert job(fpq_bin, root, pending)["status"] == "queued"
    assert job(fpq_bin, root, done)["status"] == "finished"
    # --wait waits for the newest, the one still queued.
    worker = start_worker(fpq_bin, root, log=tmp_path / "worker.log")
    try:
        waited = run_fpq(fpq_bin, "result", "cs_new", "--wait", "--timeout", "120",
                         project=root)
        assert waited.returncode == 0 and '"result": 2' in waited.stdout
        # `worker stop` with no option stops this backend's workers, gracefully.
        stopped = run_fpq(fpq_bin, "worker", "stop", "--wait", project=root)
        assert stopped.returncode == 0, stopped.stderr
        assert worker.wait(120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_enqueue_outside_a_project_is_bad_input_and_writes_nothing(
        tmp_path: Path, fpq_bin: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in ([fpq_bin, "enqueue", "hello"], [*QUEUE, "enqueue", "hello"]):
        proc = subprocess.run(argv, cwd=empty, capture_output=True, text=True, timeout=120,
                              check=False,
                              env=dict(os.environ))
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert "is not a FlowerPower project" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert list(empty.iterdir()) == []
    # A producer's checkout with only the conf may enqueue: the code is on the workers.
    (empty / "conf").mkdir()
    (empty / "conf" / "job_queue.yml").write_text("backend: sqlite\n")
    assert run_fpq(fpq_bin, "enqueue", "hello", project=empty).returncode == 0
    wait_for(lambda: (empty / ".flowerpower" / "queue.db").exists(), what="queue.db")
