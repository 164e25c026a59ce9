"""Retention (issue 12, item 2; issue 13, item 3): how long an ended job is kept, set by the
user per job (API, both command lines, QueueRunConfig) or per project
(conf/job_queue.yml), honoured on SQLite and on rq, including for jobs Python rq enqueued
with its own result_ttl / failure_ttl. Short TTLs (1-2 s) stand in for days: what is
tested is that the job outlives RQ's old 500 s default's replacement and is gone after
its own TTL, not how fast anything is."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fpqtest import enqueue, job, run_burst, run_fpq
from projects import make_project

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
BOOM = "def result(x: int = 1) -> int:\n    raise ValueError('boom')\n"
TASK = "flowerpower_job_queue.tasks.run_pipeline"
WEEK = 7 * 86400


@pytest.fixture(params=["sqlite", "rq"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs on both backends; rq gets a real redis-server of its own."""
    if request.param == "rq":
        server = request.getfixturevalue("redis_server")
        monkeypatch.setenv("FPQ_BACKEND", "rq")
        monkeypatch.setenv("FPQ_URL", server.url)
    return str(request.param)


def exists(fpq_bin: str, project: Path, job_id: str) -> bool:
    proc = run_fpq(fpq_bin, "status", f"id={job_id}", "--json", project=project)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


def test_the_default_keeps_results_a_week_and_ttls_are_honoured(
        tmp_path: Path, fpq_bin: str, backend: str) -> None:
    project = make_project(tmp_path, "keep", {"rt_add": ADD, "rt_boom": BOOM})
    plain = enqueue(fpq_bin, project, "rt_add")
    short = enqueue(fpq_bin, project, "rt_add", "--result-ttl", "1s")
    none = enqueue(fpq_bin, project, "rt_add", "--result-ttl", "0")
    forever = enqueue(fpq_bin, project, "rt_add", "--result-ttl", "-1")
    failed_short = enqueue(fpq_bin, project, "rt_boom", "--failure-ttl", "1")
    failed_kept = enqueue(fpq_bin, project, "rt_boom")
    record = job(fpq_bin, project, plain)
    assert record["result_ttl"] == WEEK and record["failure_ttl"] == WEEK
    assert job(fpq_bin, project, forever)["result_ttl"] == -1
    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    assert job(fpq_bin, project, plain)["status"] == "finished"
    assert not exists(fpq_bin, project, none)  # kept not at all
    time.sleep(2.2)  # past the 1 s retentions
    assert not exists(fpq_bin, project, short)
    assert not exists(fpq_bin, project, failed_short)
    for kept in (plain, forever):
        assert job(fpq_bin, project, kept)["status"] == "finished"
    assert job(fpq_bin, project, failed_kept)["status"] == "failed"
    pruned = run_fpq(fpq_bin, "prune", "--json", project=project)
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["removed"] >= (2 if backend == "sqlite" else 0)
    metrics = json.loads(run_fpq(fpq_bin, "metrics", "--json", project=project,
                                 check=True).stdout)
    assert metrics["results"]["kept"] == 3 and metrics["results"]["bytes"] > 0
    text = run_fpq(fpq_bin, "metrics", project=project, check=True).stdout
    assert "results kept: 3 ended jobs" in text
    prometheus = run_fpq(fpq_bin, "metrics", "--prometheus", project=project, check=True).stdout
    assert "\nfpq_results_kept 3\n" in prometheus and "fpq_results_bytes " in prometheus


def test_the_projects_conf_sets_the_default_and_a_bad_one_is_refused(
        tmp_path: Path, fpq_bin: str, backend: str) -> None:
    project = make_project(tmp_path, "conf", {"rt_conf": ADD})
    conf = project / "conf" / "job_queue.yml"
    conf.write_text("result_ttl: 1s\nfailure_ttl: 30d\n")
    job_id = enqueue(fpq_bin, project, "rt_conf")
    record = job(fpq_bin, project, job_id)
    assert record["result_ttl"] == 1 and record["failure_ttl"] == 30 * 86400
    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
    time.sleep(2.2)
    assert not exists(fpq_bin, project, job_id)
    conf.write_text("result_ttl: soon\n")
    proc = run_fpq(fpq_bin, "enqueue", "rt_conf", project=project)
    assert proc.returncode == 2
    assert "result_ttl" in proc.stderr and "'soon' is not a retention" in proc.stderr
    bad = run_fpq(fpq_bin, "enqueue", "rt_conf", "--failure-ttl", "-5", project=project)
    assert bad.returncode == 2 and "--failure-ttl '-5' is not a retention" in bad.stderr


def test_the_python_api_and_queue_run_config_take_retentions(
        tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    import flowerpower_job_queue  # noqa: F401  (attaches the project methods)
    from flowerpower import FlowerPowerProject
    from flowerpower_job_queue import InvalidInput, QueueRunConfig

    project = FlowerPowerProject.load(str(make_project(tmp_path, "api", {"rt_api": ADD})))
    a = project.enqueue("rt_api", result_ttl=dt.timedelta(days=30), failure_ttl="-1")
    b = project.enqueue("rt_api", run_config=QueueRunConfig.from_dict(
        {"result_ttl": "2h", "failure_ttl": 0}))
    c = project.enqueue("rt_api", result_ttl=0)
    jq = project.job_queue
    assert (jq.get_queue_status(id=a)["result_ttl"], jq.get_queue_status(id=a)["failure_ttl"]) \
        == (30 * 86400, -1)
    assert (jq.get_queue_status(id=b)["result_ttl"], jq.get_queue_status(id=b)["failure_ttl"]) \
        == (7200, 0)
    assert jq.get_queue_status(id=c)["result_ttl"] == 0
    for bad in (-2, "soon", True, [1]):
        with pytest.raises(InvalidInput, match="not a retention"):
            project.enqueue("rt_api", result_ttl=bad)
    assert jq.prune() == 0


def test_rq_enqueued_jobs_keep_rqs_own_result_ttl_and_failure_ttl(
        tmp_path: Path, fpq_bin: str, redis_server: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    redis = pytest.importorskip("redis")
    pytest.importorskip("rq")
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    project = make_project(tmp_path, "fromrq", {"rt_rq": ADD, "rt_rq_boom": BOOM})
    conn = redis.Redis.from_url(redis_server.url)
    # The project's own queue and name (issue 12), as Python rq producers now write them.
    queue = Queue("fromrq.default", connection=conn, serializer="json")

    def put(pipeline: str, **ttl: Any) -> Any:
        return queue.enqueue(TASK, kwargs={"project": "fromrq", "pipeline": pipeline,
                                           "run": {}}, **ttl)

    gone = put("rt_rq", result_ttl=0)
    hour = put("rt_rq", result_ttl=3600)
    kept = put("rt_rq", result_ttl=-1)
    unset = put("rt_rq")
    failed = put("rt_rq_boom", failure_ttl=60)
    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    # result_ttl=0: deleted as rq's own worker deletes it.
    assert not conn.exists(f"rq:job:{gone.id}") and not conn.exists(f"rq:results:{gone.id}")
    assert 3500 < conn.ttl(f"rq:job:{hour.id}") <= 3600
    assert conn.ttl(f"rq:job:{kept.id}") == -1
    assert Job.fetch(kept.id, connection=conn, serializer="json").get_status() == "finished"
    # No result_ttl from rq: the project's default (a week), not rq's 500 s.
    assert WEEK - 60 < conn.ttl(f"rq:job:{unset.id}") <= WEEK
    # failure_ttl=60: a minute in the failed registry, not a year.
    assert 0 < conn.ttl(f"rq:job:{failed.id}") <= 60
    registry = FailedJobRegistry("fromrq.default", connection=conn, serializer="json")
    assert failed.id in registry.get_job_ids()
    score = conn.zscore("rq:failed:fromrq.default", failed.id)
    assert score is not None and score <= time.time() + 61


def test_a_sqlite_queue_stays_bounded_under_a_short_result_ttl(
        tmp_path: Path, fpq_bin: str) -> None:
    """The worker's maintenance deletes expired jobs: a stream of runs with result_ttl=1
    leaves at most the last few seconds' worth in queue.db."""
    project = make_project(tmp_path, "bounded", {"rt_many": ADD})
    (project / "conf" / "job_queue.yml").write_text("result_ttl: 1\n")
    for _ in range(3):
        for _ in range(5):
            enqueue(fpq_bin, project, "rt_many")
        assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
        time.sleep(1.2)
    assert run_fpq(fpq_bin, "prune", project=project, check=True).returncode == 0
    db = sqlite3.connect(project / ".flowerpower" / "queue.db")
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
    finally:
        db.close()
    assert count == 0
