"""RQ parity on the `rq` backend, against real Python rq 2.x (this venv) and rq 3.x (the
venv .venv-rq3, made by scripts/test from requirements-rq3.lock): dependencies enqueued by
rq and released by our worker, rq 3's view of a worker's running job and its
stop-execution command, `rq suspend`, and rq's scheduler lock.

rq's side runs in a subprocess of the rq's own interpreter (`RqSide`), so one test body
checks both major versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fpqtest import enqueue, job, run_burst, start_worker, stop, wait_for
from projects import make_project

pytest.importorskip("rq")

ROOT = Path(__file__).resolve().parents[2]
TASK = "flowerpower_job_queue.tasks.run_pipeline"
ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
FAIL = "def result(x: int = 1) -> int:\n    raise ValueError('parent fails')\n"
SLEEPY = ("import time\n\n\ndef result(seconds: int = 1) -> int:\n"
          "    time.sleep(seconds)\n    return seconds\n")
TOUCH = ("from pathlib import Path\n\n\ndef result(path: str = '') -> str:\n"
         "    Path(path).write_text('ran')\n    return path\n")
# Appends the job's marker to a file: a job run twice leaves its marker twice.
MARK = ("def result(marker: str = '', log: str = '') -> str:\n"
        "    with open(log, 'a') as f:\n"
        "        f.write(marker + '\\n')\n"
        "    return marker\n")


def _rq3_python() -> str | None:
    named = os.environ.get("FPQ_TEST_RQ3_PYTHON")
    if named:
        return named
    local = ROOT / ".venv-rq3" / "bin" / "python"
    return str(local) if local.exists() else None


class RqSide:
    """Python rq of one major version, run as a subprocess against the test's Redis."""

    def __init__(self, python: str, url: str) -> None:
        self.python = python
        self.url = url
        self.bin = str(Path(python).parent / "rq")

    def run(self, code: str, **values: Any) -> Any:
        """Runs code with `conn` (a Redis connection) and `values` bound; returns what it
        prints as JSON."""
        prelude = ("import json, sys\nfrom redis import Redis\n"
                   "values = json.loads(sys.argv[1])\n"
                   "conn = Redis.from_url(values.pop('url'))\n")
        proc = subprocess.run([self.python, "-c", prelude + textwrap.dedent(code),
                               json.dumps({"url": self.url, **values})],
                              check=False, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()  # rq may log to stdout first
        return json.loads(lines[-1]) if lines else None

    def version(self) -> str:
        return str(self.run("import rq\nprint(json.dumps(rq.__version__))"))


@pytest.fixture(params=["rq2", "rq3"])
def rq_side(request: pytest.FixtureRequest, redis_server: Any,
            monkeypatch: pytest.MonkeyPatch) -> RqSide:
    if request.param == "rq2":
        python = sys.executable
    else:
        found = _rq3_python()
        if found is None:
            pytest.fail("rq 3.x is not installed: run scripts/test (it makes .venv-rq3) or "
                        "set FPQ_TEST_RQ3_PYTHON")
        python = found
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    # One project per database, on RQ's plain queue names (the documented setting that
    # keeps them): these tests compare with rq's own code on 'default'. Namespaced queues
    # are checked in test_rq_interop.py and test_project_identity.py.
    monkeypatch.setenv("FPQ_QUEUE_NAMESPACE", "false")
    side = RqSide(python, redis_server.url)
    assert side.version().split(".")[0] == request.param[2]
    return side


def test_rq_children_are_released_by_our_worker_as_rq_releases_them(
        tmp_path: Path, fpq_bin: str, rq_side: RqSide) -> None:
    project = make_project(tmp_path, "deps", {"pd_add": ADD, "pd_fail": FAIL})
    ids = rq_side.run("""
        from rq import Queue
        from rq.job import Dependency
        q = Queue('default', connection=conn, serializer='json')
        def task(pipeline, x):
            return dict(kwargs={'project': values['project'], 'pipeline': pipeline,
                                'run': {'inputs': {'x': x}}})
        parent = q.enqueue(values['task'], **task('pd_add', 1))
        failing = q.enqueue(values['task'], **task('pd_fail', 1))
        child = q.enqueue(values['task'], depends_on=parent, **task('pd_add', 10))
        allowed = q.enqueue(values['task'], depends_on=Dependency(jobs=[failing], allow_failure=True),
                            **task('pd_add', 20))
        blocked = q.enqueue(values['task'], depends_on=failing, **task('pd_add', 30))
        both = q.enqueue(values['task'], depends_on=[parent, child], **task('pd_add', 40))
        print(json.dumps({'parent': parent.id, 'failing': failing.id, 'child': child.id,
                          'allowed': allowed.id, 'blocked': blocked.id, 'both': both.id,
                          'deferred': [child.get_status(), allowed.get_status(),
                                       blocked.get_status(), both.get_status()]}))
    """, task=TASK, project=str(project))
    assert ids.pop("deferred") == ["deferred"] * 4

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    assert job(fpq_bin, project, ids["parent"])["status"] == "finished"
    assert job(fpq_bin, project, ids["failing"])["status"] == "failed"
    for name, expected in (("child", 11), ("allowed", 21), ("both", 41)):
        ours = job(fpq_bin, project, ids[name])
        assert ours["status"] == "finished", name
        assert ours["result"] == {"result": expected}
    seen = rq_side.run("""
        from rq.job import Job
        from rq.registry import DeferredJobRegistry
        out = {k: Job.fetch(v, connection=conn, serializer='json').get_status()
               for k, v in values['ids'].items()}
        out['deferred_registry'] = DeferredJobRegistry('default', connection=conn).get_job_ids()
        out['parent_dependents'] = sorted(x.decode() for x in conn.smembers(
            'rq:job:' + values['ids']['parent'] + ':dependents'))
        print(json.dumps(out))
    """, ids=ids)
    # As rq does: a child of a failed parent that does not allow failures stays deferred;
    # `both`, released when its second parent finished, stays in the first's dependents.
    assert seen == {"parent": "finished", "failing": "failed", "child": "finished",
                    "allowed": "finished", "blocked": "deferred", "both": "finished",
                    "deferred_registry": [ids["blocked"]], "parent_dependents": [ids["both"]]}


def test_rq_sees_the_job_our_worker_runs_and_stops_it_by_execution(
        tmp_path: Path, fpq_bin: str, rq_side: RqSide) -> None:
    project = make_project(tmp_path, "exec", {"pe_sleep": SLEEPY})
    worker = start_worker(fpq_bin, project, "--name", "fpq-exec", "--lease", "3",
                          log=tmp_path / "worker.log")
    try:
        job_id = enqueue(fpq_bin, project, "pe_sleep", "--inputs", '{"seconds": 60}')
        wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "started", what="started")
        seen = rq_side.run("""
            import rq
            from rq import Worker
            from rq.command import send_stop_job_command
            w = Worker.find_by_key('rq:worker:fpq-exec', connection=conn)
            current = w.get_current_job_id()
            if rq.__version__.startswith('3'):
                from rq.command import send_stop_execution_command
                [execution] = w.get_current_executions()
                send_stop_execution_command(conn, current, execution.id)
            else:
                from rq.serializers import JSONSerializer
                send_stop_job_command(conn, current, serializer=JSONSerializer)
            print(json.dumps({'current': current, 'state': w.get_state()}))
        """)
        assert seen == {"current": job_id, "state": "busy"}
        wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "stopped", what="stopped")
        idle = rq_side.run("""
            from rq import Worker
            w = Worker.find_by_key('rq:worker:fpq-exec', connection=conn)
            print(json.dumps([w.get_current_job_id(),
                              sorted(x.decode() for x in conn.smembers(
                                  'rq:worker:fpq-exec:executions'))]))
        """)
        assert idle == [None, []]
    finally:
        stop(worker)


def test_a_suspended_queue_is_not_taken_from_until_rq_resumes_it(
        tmp_path: Path, fpq_bin: str, rq_side: RqSide) -> None:
    project = make_project(tmp_path, "suspend", {"ps_add": ADD})
    suspended = subprocess.run([rq_side.bin, "suspend", "--url", rq_side.url],
                               check=False, capture_output=True, text=True, timeout=60)
    assert suspended.returncode == 0, suspended.stderr
    job_id = enqueue(fpq_bin, project, "ps_add")

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
    assert job(fpq_bin, project, job_id)["status"] == "queued"

    resumed = subprocess.run([rq_side.bin, "resume", "--url", rq_side.url],
                             check=False, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
    assert job(fpq_bin, project, job_id)["status"] == "finished"


def test_rqs_scheduler_beside_our_worker_takes_each_due_job_once(
        tmp_path: Path, fpq_bin: str, rq_side: RqSide) -> None:
    """300 jobs due at one instant, rq's scheduler moving them in a tight loop while our
    worker (which also moves due jobs) takes them: without rq's scheduler lock both move
    some, and those are taken twice. The jobs are pickled, which our worker fails at
    take without starting a pipeline, so each take leaves exactly one result entry."""
    project = make_project(tmp_path, "lock", {"pl_add": ADD})
    ids = rq_side.run("""
        from datetime import datetime, timedelta, timezone
        from rq import Queue
        q = Queue('default', connection=conn)  # rq's default serializer: pickle
        at = datetime.now(timezone.utc) + timedelta(seconds=3)
        ids = [q.enqueue_at(at, values['task'], kwargs={'project': values['project'],
                                               'pipeline': 'pl_add'}).id
               for _ in range(300)]
        print(json.dumps(ids))
    """, task=TASK, project=str(project))
    # rq's scheduler takes the queue's lock; while it holds it, our worker moves nothing,
    # even once the jobs are due.
    locked = rq_side.run("""
        import time
        from rq.registry import ScheduledJobRegistry
        from rq.scheduler import RQScheduler
        assert RQScheduler(['default'], connection=conn).acquire_locks() == {'default'}
        reg = ScheduledJobRegistry('default', connection=conn)
        while len(reg.get_jobs_to_schedule()) < 300:
            time.sleep(0.1)
        print(json.dumps(True))
    """)
    assert locked
    assert run_burst(fpq_bin, project, log=tmp_path / "burst.log") == 0
    assert rq_side.run("""
        print(json.dumps([conn.zcard('rq:scheduled:default'), conn.llen('rq:queue:default')]))
    """) == [300, 0]
    workers = [start_worker(fpq_bin, project, log=tmp_path / f"worker{i}.log")
               for i in range(3)]
    try:
        moved = rq_side.run("""
            import time
            from rq.registry import ScheduledJobRegistry
            from rq.scheduler import RQScheduler
            s = RQScheduler(['default'], connection=conn)
            conn.delete('rq:scheduler-lock:default')  # the first one's, now this one's
            assert s.acquire_locks() == {'default'}
            reg = ScheduledJobRegistry('default', connection=conn)
            deadline = time.monotonic() + 120
            while reg.count and time.monotonic() < deadline:
                s.enqueue_scheduled_jobs()
            print(json.dumps(reg.count))
        """)
        assert moved == 0
        # Nothing left to take twice: the queue and rq:wip are empty.
        wait_for(lambda: rq_side.run("""
            print(json.dumps(conn.llen('rq:queue:default') + conn.zcard('rq:wip:default')))
        """) == 0, timeout=120, what="an empty queue")
    finally:
        for worker in workers:
            stop(worker)
    takes = rq_side.run("""
        print(json.dumps([conn.xlen('rq:results:' + i) for i in values['ids']]))
    """, ids=ids)
    assert Counter(takes) == Counter({1: 300})


def test_a_job_with_a_status_rq_never_writes_is_failed_not_run(
        tmp_path: Path, fpq_bin: str, rq_side: RqSide) -> None:
    project = make_project(tmp_path, "bogus", {"pb_touch": TOUCH})
    marker = tmp_path / "ran"
    job_id = rq_side.run("""
        from rq import Queue
        q = Queue('default', connection=conn, serializer='json')
        j = q.enqueue(values['task'], kwargs={'project': values['project'], 'pipeline': 'pb_touch',
                                     'run': {'inputs': {'path': values['marker']}}})
        conn.hset('rq:job:' + j.id, 'status', 'bogus')
        print(json.dumps(j.id))
    """, task=TASK, project=str(project), marker=str(marker))
    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0
    ours = job(fpq_bin, project, job_id)
    assert ours["status"] == "failed"
    assert ours["error"]["type"] == "UnsupportedPayload"
    assert "status 'bogus' is not one RQ writes" in ours["error"]["message"]
    assert not marker.exists()


def test_the_due_time_of_a_job_rq_scheduled_is_shown(
        tmp_path: Path, fpq_bin: str, rq_side: RqSide) -> None:
    project = make_project(tmp_path, "due", {"pd_add": ADD})
    job_id = rq_side.run("""
        from datetime import datetime, timedelta, timezone
        from rq import Queue
        q = Queue('default', connection=conn, serializer='json')
        at = datetime(2099, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        j = q.enqueue_at(at, values['task'], kwargs={'project': values['project'], 'pipeline': 'pd_add'})
        print(json.dumps(j.id))
    """, task=TASK, project=str(project))
    ours = job(fpq_bin, project, job_id)
    assert ours["status"] == "scheduled"
    assert ours["run_at"] == "2099-01-02T03:04:05.000000Z"


def test_attempts_of_a_job_only_python_rq_ran_are_counted(
        tmp_path: Path, fpq_bin: str, redis_server: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """rq 2.x only: rq's worker must import our task, which .venv-rq3 does not have. A run
    leaves one result entry; retries after an exception leave none in rq (only
    retries_left, without the max), so those are not counted."""
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    project = make_project(tmp_path, "rqran", {"pa_fail": FAIL})
    side = RqSide(sys.executable, redis_server.url)
    job_id = side.run("""
        from rq import Queue
        q = Queue('default', connection=conn, serializer='json')
        j = q.enqueue(values['task'], kwargs={'project': values['project'], 'pipeline': 'pa_fail'})
        print(json.dumps(j.id))
    """, task=TASK, project=str(project))
    worker = subprocess.run([side.bin, "worker", "--burst", "--serializer", "json", "--url",
                             redis_server.url], check=False, capture_output=True, text=True,
                            timeout=300,
                            cwd=project)
    assert worker.returncode == 0, worker.stderr
    ours = job(fpq_bin, project, job_id)
    assert ours["status"] == "failed"
    assert ours["attempts"] == 1
