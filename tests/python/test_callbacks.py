"""Job callbacks (`on_success`, `on_failure`, `on_stopped`) on both built-in backends, run by
the real worker in the project's directory after the job's outcome is recorded: on_failure
once after the last retry, on_success with the result, a callback that raises or overruns
its time limit logged and never changing the job, callbacks Python rq wrote run by our
worker, and references that do not import refused at enqueue with nothing written."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flowerpower_job_queue import InvalidInput, JobQueueManager
from fpqtest import enqueue, job, jobs, run_burst, run_fpq, start_worker, stop, wait_for
from projects import make_project

FAIL = "def result() -> int:\n    raise ValueError('no data')\n"
ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
# The callbacks write to callbacks.log in the directory they run in: the project's.
HOOKS = '''import time


def _note(line):
    with open("callbacks.log", "a") as f:
        f.write(line + "\\n")


def failed(job, connection, type, value, traceback):
    _note(f"failed {job.id} {job.status} attempts={job.attempts} {type}: {value} "
          f"traceback={'no data' in traceback} connection={connection}")


def done(job, connection, result):
    _note(f"done {job.id} {job.status} {json.dumps(result, sort_keys=True)}")


def stopped(job, connection):
    _note(f"stopped {job.id} {job.status}")


def boom(job, connection, result):
    raise RuntimeError("callback broke")


def rq_side(job, connection, result):
    _note(f"rq_side {job.id} {json.dumps(result, sort_keys=True)} {type(connection).__name__}")


def slow(job, connection, result):
    _note("slow started")
    time.sleep(60)
    _note("slow ended")


import json  # noqa: E402 - after the functions on purpose: module order does not matter
'''


@pytest.fixture
def rq_conn(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A connection to the test's Redis, which every fpq process of the test uses too."""
    redis = pytest.importorskip("redis")
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    return redis.Redis.from_url(redis_server.url)


def project_with_hooks(tmp_path: Path, name: str, pipelines: dict[str, str],
                       module: str = "hooks") -> Path:
    project = make_project(tmp_path, name, pipelines)
    (project / f"{module}.py").write_text(HOOKS)
    return project


def notes(project: Path) -> list[str]:
    log = project / "callbacks.log"
    return log.read_text().splitlines() if log.exists() else []


def test_on_failure_runs_once_after_the_last_retry(
        tmp_path: Path, fpq_bin: str, builtin_backend: str) -> None:
    project = project_with_hooks(tmp_path, "fails", {f"cb_fail_{builtin_backend}": FAIL})
    failing = enqueue(fpq_bin, project, f"cb_fail_{builtin_backend}", "--max-retries", "1",
                      "--retry-delay", "0", "--on-failure", "hooks:failed")
    # RQ's dotted form on our API; no retries (the pipeline's YAML): its first failure is final.
    with JobQueueManager(project) as jq:
        once = jq.enqueue(f"cb_fail_{builtin_backend}", on_failure="hooks.failed")
    # rq keeps RQ's one dotted form, so an rq worker can import it too.
    stored = "hooks.failed" if builtin_backend == "rq" else "hooks:failed"
    assert job(fpq_bin, project, failing)["on_failure"] == stored
    log = tmp_path / "worker.log"

    assert run_burst(fpq_bin, project, log=log) == 0, log.read_text()

    record = job(fpq_bin, project, failing)
    assert record["status"] == "failed" and record["attempts"] == 2
    # Exactly one line for the failing job: its first attempt was retried, not final.
    mine = [line for line in notes(project) if failing in line]
    assert mine == [f"failed {failing} failed attempts=2 ValueError: no data traceback=True "
                    f"connection=None"], log.read_text()
    assert [line for line in notes(project) if once in line] == [
        f"failed {once} failed attempts=1 ValueError: no data traceback=True connection=None"]


def test_on_success_gets_the_result(tmp_path: Path, fpq_bin: str, builtin_backend: str) -> None:
    project = project_with_hooks(tmp_path, "succeeds", {f"cb_add_{builtin_backend}": ADD},
                                 module=f"hooks_{builtin_backend}")
    # A function object is taken by its importable name (module:qualname).
    sys.path.insert(0, str(project))
    try:
        done = importlib.import_module(f"hooks_{builtin_backend}").done
    finally:
        sys.path.remove(str(project))
    with JobQueueManager(project) as jq:
        job_id = jq.enqueue(f"cb_add_{builtin_backend}", inputs={"x": 41}, on_success=done)
    sep = "." if builtin_backend == "rq" else ":"  # rq keeps RQ's dotted form
    assert job(fpq_bin, project, job_id)["on_success"] == f"hooks_{builtin_backend}{sep}done"

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    assert notes(project) == [f'done {job_id} finished {{"result": 42}}']
    assert job(fpq_bin, project, job_id)["result"] == {"result": 42}


def test_a_callback_that_raises_or_overruns_leaves_the_job_alone_and_is_logged(
        tmp_path: Path, fpq_bin: str, builtin_backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = project_with_hooks(tmp_path, "broken", {f"cb_broken_{builtin_backend}": ADD})
    monkeypatch.setenv("FPQ_EXECUTOR_CALLBACK_TIMEOUT", "2s")
    raises = enqueue(fpq_bin, project, f"cb_broken_{builtin_backend}", "--on-success",
                     "hooks:boom")
    overruns = enqueue(fpq_bin, project, f"cb_broken_{builtin_backend}", "--on-success",
                       "hooks:slow")
    log = tmp_path / "worker.log"

    assert run_burst(fpq_bin, project, log=log) == 0

    text = log.read_text()
    sep = "." if builtin_backend == "rq" else ":"  # the reference as the builtin_backend keeps it
    assert f"job {raises}: callback on_success hooks{sep}boom exited with status 1" in text
    assert "RuntimeError: callback broke" in text
    assert f"job {overruns}: callback on_success hooks{sep}slow timed out after 2 s" in text
    assert "the job's outcome stands" in text
    # The time limit was a kill: the callback never got to its last line.
    assert notes(project) == ["slow started"]
    for job_id in (raises, overruns):
        record = job(fpq_bin, project, job_id)
        assert record["status"] == "finished" and record["result"] == {"result": 2}


def test_a_callback_that_does_not_import_is_refused_with_nothing_written(
        tmp_path: Path, fpq_bin: str) -> None:
    project = project_with_hooks(tmp_path, "refused", {"cb_refused": ADD})
    with JobQueueManager(project) as jq:
        with pytest.raises(InvalidInput, match="on_failure 'hooks:missing' is not importable: "
                                               "AttributeError"):
            jq.enqueue("cb_refused", on_failure="hooks:missing")
        with pytest.raises(InvalidInput, match="on_success 'no_such_module:f' is not "
                                               "importable: ModuleNotFoundError"):
            jq.enqueue("cb_refused", on_success="no_such_module:f")
        with pytest.raises(InvalidInput, match="on_stopped 'a:b:c' is not a reference"):
            jq.enqueue("cb_refused", on_stopped="a:b:c")
        with pytest.raises(InvalidInput, match="has no importable name"):
            jq.enqueue("cb_refused", on_failure=lambda *a: None)
    from flowerpower import FlowerPowerProject

    flowerpower_project = FlowerPowerProject.load(str(project))
    with pytest.raises(InvalidInput, match="on_failure 'hooks.nope' is not importable"):
        flowerpower_project.enqueue("cb_refused", on_failure="hooks.nope")
    assert jobs(fpq_bin, project) == []
    kept = flowerpower_project.enqueue("cb_refused", on_failure="hooks.failed")
    assert job(fpq_bin, project, kept)["on_failure"] == "hooks.failed"
    run_fpq(fpq_bin, "cancel", kept, project=project, check=True)
    shown = run_fpq(fpq_bin, "status", f"id={kept}", project=project, check=True).stdout
    assert "on failure:  hooks.failed\n" in shown
    project_jobs = [j["id"] for j in jobs(fpq_bin, project)]
    assert project_jobs == [kept]
    # fpq checks the shape (it cannot import Python): exit 2, nothing written.
    bad = run_fpq(fpq_bin, "enqueue", "cb_refused", "--on-failure", "hooks", project=project)
    assert bad.returncode == 2
    assert "--on-failure 'hooks' is not a reference" in bad.stderr
    assert [j["id"] for j in jobs(fpq_bin, project)] == [kept]


def test_callbacks_python_rq_wrote_run_on_our_worker_and_ours_are_rqs(
        tmp_path: Path, fpq_bin: str, rq_conn: Any) -> None:
    from rq import Callback, Queue, Retry

    project = project_with_hooks(tmp_path, "fromrq", {"cb_rq_fail": FAIL, "cb_rq_add": ADD})
    conn = rq_conn
    # The project's own RQ queue, and its name (issue 12's project identity).
    queue = Queue("fromrq.default", connection=conn, serializer="json")
    task = "flowerpower_job_queue.tasks.run_pipeline"
    failing = queue.enqueue(task, kwargs={"project": "fromrq", "pipeline": "cb_rq_fail"},
                            retry=Retry(max=1), on_failure=Callback("hooks.failed"))
    adding = queue.enqueue(task, kwargs={"project": "fromrq", "pipeline": "cb_rq_add",
                                         "run": {"inputs": {"x": 1}}},
                           on_success=Callback("hooks.done"))
    ours = enqueue(fpq_bin, project, "cb_rq_add", "--on-failure", "hooks:failed",
                   "--on-stopped", "hooks:stopped")
    # RQ's own fields, in its dotted form, so an rq worker runs our callbacks too.
    assert conn.hget(f"rq:job:{ours}", "failure_callback_name") == b"hooks.failed"
    assert conn.hget(f"rq:job:{ours}", "stopped_callback_name") == b"hooks.stopped"
    assert conn.hget(f"rq:job:{ours}", "success_callback_name") is None  # left out: RQ reads it as none

    assert run_burst(fpq_bin, project, log=tmp_path / "worker.log") == 0

    failing.refresh()
    assert failing.get_status() == "failed"
    assert [line for line in notes(project) if failing.id in line] == [
        f"failed {failing.id} failed attempts=2 ValueError: no data traceback=True "
        f"connection=None"]
    assert f'done {adding.id} finished {{"result": 2}}' in notes(project)
    assert not [line for line in notes(project) if ours in line]
    assert job(fpq_bin, project, adding.id)["on_success"] == "hooks.done"


SLEEPY = "import time\n\n\ndef result(seconds: int = 60) -> int:\n    time.sleep(seconds)\n" \
         "    return seconds\n"


def test_on_stopped_runs_when_rqs_stop_command_stops_our_job(
        tmp_path: Path, fpq_bin: str, rq_conn: Any) -> None:
    from rq.command import send_shutdown_command, send_stop_job_command
    from rq.serializers import JSONSerializer

    project = project_with_hooks(tmp_path, "stops", {"cb_stop": SLEEPY})
    worker = start_worker(fpq_bin, project, "--name", "cb-stopper", log=tmp_path / "worker.log")
    conn = rq_conn
    try:
        job_id = enqueue(fpq_bin, project, "cb_stop", "--on-stopped", "hooks:stopped",
                         "--on-failure", "hooks:failed")
        wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "started", what="started")
        send_stop_job_command(conn, job_id, serializer=JSONSerializer)
        wait_for(lambda: f"stopped {job_id} stopped" in notes(project), what="on_stopped")
        send_shutdown_command(conn, "cb-stopper")
        assert worker.wait(60) == 0
    finally:
        stop(worker)
    # on_stopped alone: a stop is not a failure.
    assert notes(project) == [f"stopped {job_id} stopped"]
    assert job(fpq_bin, project, job_id)["status"] == "stopped"


def test_a_real_rq_worker_runs_the_callback_fpq_stored(
        tmp_path: Path, fpq_bin: str, redis_server: Any, rq_conn: Any) -> None:
    project = project_with_hooks(tmp_path, "byrq", {"cb_by_rq": ADD})
    job_id = enqueue(fpq_bin, project, "cb_by_rq", "--inputs", '{"x": 2}',
                     "--on-success", "hooks:rq_side")
    rq_bin = str(Path(sys.executable).parent / "rq")
    # In the project's directory, as our worker runs callbacks: rq imports hooks from there.
    proc = subprocess.run([rq_bin, "worker", "--serializer", "json", "byrq.default", "--burst",
                           "--url", redis_server.url], capture_output=True, text=True,
                          timeout=300, cwd=project)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert job(fpq_bin, project, job_id)["status"] == "finished", proc.stderr[-3000:]
    # rq called it its way: with its Redis connection.
    assert notes(project) == [f'rq_side {job_id} {{"result": 3}} Redis'], proc.stderr[-3000:]


def test_the_typer_cli_imports_the_reference_and_stores_it(tmp_path: Path, fpq_bin: str) -> None:
    project = project_with_hooks(tmp_path, "typer", {"cb_typer": ADD})

    def queue_cli(*args: str, command: str = "enqueue") -> subprocess.CompletedProcess[str]:
        target = () if command != "enqueue" else ("cb_typer",)
        return subprocess.run([sys.executable, "-m", "flowerpower_job_queue", command,
                               *target, "--project", str(project), *args],
                              capture_output=True, text=True, timeout=120, check=False)

    missing = queue_cli("--on-failure", "hooks:missing")
    assert missing.returncode == 2, missing.stderr
    assert "on_failure 'hooks:missing' is not importable" in missing.stderr
    assert jobs(fpq_bin, project) == []
    kept = queue_cli("--on-success", "hooks:done", "--on-stopped", "hooks.stopped")
    assert kept.returncode == 0, kept.stderr
    stored = job(fpq_bin, project, kept.stdout.strip())
    assert (stored["on_success"], stored["on_failure"], stored["on_stopped"]) == (
        "hooks:done", None, "hooks.stopped")
    shown = queue_cli(f"id={stored['id']}", command="status")
    assert "on success:  hooks:done\n" in shown.stdout, shown.stderr
    assert "on stopped:  hooks.stopped\n" in shown.stdout
    assert "on failure" not in shown.stdout


def test_a_callback_must_be_the_projects_own_code(tmp_path: Path, fpq_bin: str,
                                                  rq_conn: Any) -> None:
    from rq import Callback, Queue

    project = project_with_hooks(tmp_path, "foreign", {"cb_foreign": FAIL})
    # Importable, but not the project's: a payload may not choose code to run (security.md).
    with JobQueueManager(project) as jq, pytest.raises(
            InvalidInput, match=r"on_failure 'json:dumps' is refused: 'json' is not a module "
                                r"of the project"):
        jq.enqueue("cb_foreign", on_failure=json.dumps)
    assert jobs(fpq_bin, project) == []
    # Written around our API (rq, or fpq, which checks the shape only): the worker refuses
    # it when the job ends, and the job is as it was.
    queue = Queue("foreign.default", connection=rq_conn, serializer="json")
    foreign = queue.enqueue("flowerpower_job_queue.tasks.run_pipeline",
                            kwargs={"project": "foreign", "pipeline": "cb_foreign"},
                            on_failure=Callback("os.abort"))
    log = tmp_path / "worker.log"
    assert run_burst(fpq_bin, project, log=log) == 0
    text = log.read_text()
    assert "NotProjectCode: 'os' is not a module of the project" in text, text
    assert f"job {foreign.id}: callback on_failure os.abort exited with status 1" in text
    assert job(fpq_bin, project, foreign.id)["status"] == "failed"


def test_a_bad_callback_timeout_stops_the_worker_before_it_takes_a_job(
        tmp_path: Path, fpq_bin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    project = project_with_hooks(tmp_path, "badlimit", {"cb_limit": ADD})
    job_id = enqueue(fpq_bin, project, "cb_limit", "--on-success", "hooks:done")
    monkeypatch.setenv("FPQ_EXECUTOR_CALLBACK_TIMEOUT", "soon")
    log = tmp_path / "worker.log"
    assert run_burst(fpq_bin, project, log=log) == 2
    assert "executor.callback_timeout 'soon' is not valid" in log.read_text()
    assert job(fpq_bin, project, job_id)["status"] == "queued"
