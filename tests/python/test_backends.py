"""Backends written in Python plug into the engine, and every backend is held to one rule.

The backend contract itself is one C suite (tests/c/helpers/backend_contract.c), run over
sqlite, rq, the C plugin and the example Python adapter (tests/c/python/
test_backend_python.c). Here, from Python and the command lines: the engine's decisions
are the same whatever stores the jobs (the same bad run configs refused with the same
message and exit code on all four backends), a Python backend gets the engine's workers,
scheduler and retry rule, and its registration (in code, in conf/job_queue.yml) behaves.
Workers, Redis and the plugin are real; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flowerpower_job_queue import (
    InvalidInput,
    JobFailed,
    JobQueueError,
    JobQueueManager,
    QueueAdapter,
    register_adapter,
)
from flowerpower_job_queue.backends import registered_adapters
from flowerpower_job_queue.workers import worker_command
from fpqtest import run_fpq
from projects import make_project

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "adapters"
sys.path.insert(0, str(EXAMPLES))

from jsonl_adapter import JsonlAdapter  # from the examples directory

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
BOOM = "def result(x: int = 1) -> int:\n    raise ValueError(f'x is {x}: too small')\n"
JSONL_CONF = "backend: jsonl\nbackends:\n  jsonl:\n    adapter: \"jsonl_adapter:JsonlAdapter\"\n"
QUEUE_CLI = str(Path(sys.executable).parent / "flowerpower-queue")

# The run configs the Python path used to accept or drop while the engine refused them.
BAD_RUN_CONFIGS = [
    ({"retry": {"max_retries": 5000}},
     "run config 'retry.max_retries' is 5000: expected a whole number from 0 to 1000"),
    ({"retry": {"jitter_factor": 3}},
     "run config 'retry.jitter_factor' is 3: expected a number from 0 to 1"),
    ({"retry": {"retry_exceptions": ["ValueError"]}},
     ("run config 'retry.retry_exceptions' is [\"ValueError\"]: only [\"Exception\"] is "
      "supported, the queue retries every failure")),
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FPQ_")
           or k in ("FPQ_PYTHON", "FPQ_TEST_FPQ_BIN")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLES),
                                                      os.environ.get("PYTHONPATH")]))
    env.update(COLUMNS="200", NO_COLOR="1")
    env.update(extra)
    return env


def _conf(project: Path, text: str) -> None:
    (project / "conf" / "job_queue.yml").write_text(text)


@pytest.fixture(params=["sqlite", "rq", "plugin", "jsonl"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A project whose conf file picks one of the four kinds of backend."""
    project = make_project(tmp_path, "four", {"four_add": ADD})
    kind = request.param
    if kind == "rq":
        _conf(project, f"url: {request.getfixturevalue('redis_server').url}\n")
    elif kind == "plugin":
        plugin = os.environ.get("FPQ_TEST_PLUGIN")
        if not plugin:
            pytest.skip("FPQ_TEST_PLUGIN (the example C plugin, built by the C tests) is unset")
        _conf(project, f"backend: memory\nurl: memory://four\n"
                       f"backends:\n  memory:\n    library: {plugin}\n")
    elif kind == "jsonl":
        _conf(project, JSONL_CONF)
    yield kind, project


@pytest.mark.parametrize(("run_config", "message"), BAD_RUN_CONFIGS)
def test_a_bad_run_config_is_refused_alike_on_every_backend(
        backend: tuple[str, Path], run_config: dict[str, Any], message: str,
        fpq_bin: str) -> None:
    kind, project = backend
    jq = JobQueueManager(project)
    with pytest.raises(InvalidInput) as info:
        jq.enqueue("four_add", run_config)
    assert str(info.value) == message and info.value.code == "EINVAL"
    assert jq.get_queue_status() == []
    jq.close()
    twin = subprocess.run([QUEUE_CLI, "enqueue", "four_add", "--run-config",
                           json.dumps(run_config), "--project", str(project)],
                          capture_output=True, text=True, env=_env(), timeout=120, check=False)
    assert twin.returncode == 2
    assert twin.stderr == f"flowerpower-queue enqueue: --run-config: {message}\n"
    if kind != "jsonl":  # fpq runs C backends only (see test_fpq_refuses_a_python_backend)
        proc = run_fpq(fpq_bin, "enqueue", "four_add", "--run-config", json.dumps(run_config),
                       project=project)
        assert (proc.returncode, proc.stderr) == (2, f"fpq: --run-config: {message}\n")


def test_fpq_refuses_a_python_backend_in_one_line(tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "refuse", {"ref_add": ADD})
    _conf(project, JSONL_CONF)
    # Named explicitly: a read-only command loads no code the conf alone names.
    proc = run_fpq(fpq_bin, "status", "--backend", "jsonl", project=project)
    assert proc.returncode == 2
    assert proc.stderr == ("fpq: backend 'jsonl' is a Python adapter ('jsonl_adapter:"
                           "JsonlAdapter'): this program runs C backends only; use "
                           "flowerpower-queue or the Python API, which run the same engine "
                           "with it\n")
    assert not (project / ".flowerpower").exists()


# ---- a Python backend gets the engine's workers, scheduler and retries --------------------


@pytest.fixture
def jsonl_project(tmp_path: Path) -> Path:
    project = make_project(tmp_path, "py", {"py_add": ADD, "py_boom": BOOM})
    _conf(project, JSONL_CONF)
    return project


def test_a_python_backend_runs_jobs_with_the_engines_workers(
        jsonl_project: Path, tmp_path: Path) -> None:
    jq = JobQueueManager(jsonl_project)
    ok = jq.enqueue("py_add", inputs={"x": 41}, priority="high")
    boom = jq.enqueue("py_boom", {"retry": {"max_retries": 0}})
    program, _ = worker_command(str(jsonl_project), None, None)
    assert program[:3] == [sys.executable, "-m", "flowerpower_job_queue"]
    with open(tmp_path / "worker.log", "wb") as log:
        workers = jq.start_workers(burst=True, stdout=log, stderr=log, env=_env())
        assert [w.wait(180) for w in workers] == [0], (tmp_path / "worker.log").read_text()
    assert jq.result(id=ok, wait=True, timeout=30) == {"result": 42}
    with pytest.raises(JobFailed) as info:
        jq.result(id=boom)
    assert info.value.error_type == "ValueError" and "too small" in info.value.error_message
    metrics = jq.metrics()
    assert metrics["backend"] == "jsonl"
    assert {q["name"]: (q["finished"], q["failed"]) for q in metrics["queues"]} == {
        "high": (1, 0), "default": (0, 1)}
    assert metrics["throughput"]["15m"] > 0  # from the adapter's record of ended runs
    assert [p["count"] for p in metrics["pipelines"] if p["pipeline"] == "py_add"] == [1]
    jq.close()


def test_retries_on_a_python_backend_back_off_with_jitter(
        jsonl_project: Path, tmp_path: Path) -> None:
    jq = JobQueueManager(jsonl_project)
    retry = {"retry": {"max_retries": 1, "retry_delay": 30, "jitter_factor": 0.5}}
    ids = [jq.enqueue("py_boom", retry) for _ in range(5)]
    with open(tmp_path / "worker.log", "wb") as log:
        (worker,) = jq.start_workers(stdout=log, stderr=log, env=_env())
    try:
        deadline = time.monotonic() + 120
        while {j["status"] for j in jq.get_queue_status("py_boom")} != {"scheduled"}:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, jq.get_queue_status("py_boom")
            time.sleep(0.1)
    finally:
        jq.stop_workers(now=True)
        assert worker.wait(60) == 0, (tmp_path / "worker.log").read_text()
    delays = []
    for job_id in ids:
        job = jq.get_queue_status(id=job_id)
        assert isinstance(job, dict)
        assert (job["status"], job["attempts"], job["error"]["type"]) == (
            "scheduled", 1, "ValueError")
        delays.append((job["run_at"] - job["started_at"]).total_seconds())
    # retry 1 waits 30 s scaled by a factor in [0.5, 1.5]: jittered, so all different
    assert all(14 <= d <= 46 for d in delays), delays
    assert len({round(d, 3) for d in delays}) == len(delays), delays
    jq.close()


def test_a_schedule_fires_on_a_python_backend(jsonl_project: Path, tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    start = 1_800_000_000
    clock.write_text(str(start))
    env = _env(FPQ_TEST_CLOCK_FILE=str(clock))
    sid = subprocess.run([QUEUE_CLI, "schedule", "py_add", "--schedule", "*/5 * * * *",
                          "--id", "five", "--inputs", '{"x": 4}', "--project",
                          str(jsonl_project)], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout.strip()
    assert sid == "five"
    clock.write_text(str(start + 600))
    tick = subprocess.run([QUEUE_CLI, "scheduler", "--once", "--json", "--project",
                           str(jsonl_project)], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert tick.returncode == 0, tick.stderr
    assert json.loads(tick.stdout)["enqueued"] == 1  # coalesced: one run for two fires
    jq = JobQueueManager(jsonl_project)
    (job,) = jq.get_queue_status("py_add")
    assert job["id"].startswith("sched-five-") and job["run"] == {"inputs": {"x": 4}}
    (listed,) = jq.list_schedules()
    assert (listed["fired"], listed["skipped"]) == (1, 1)
    jq.close()


# ---- registration ----------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "registry", {"reg_add": ADD})


def test_register_adapter_refuses_taken_and_bad_names_and_other_classes() -> None:
    with pytest.raises(InvalidInput, match="is a built-in or C plugin backend"):
        register_adapter("sqlite", JsonlAdapter)
    with pytest.raises(InvalidInput, match="is not valid: use 1-63 of"):
        register_adapter("a b", JsonlAdapter)
    with pytest.raises(InvalidInput, match="not a QueueAdapter"):
        register_adapter("dicts", dict)  # type: ignore[arg-type]


def test_an_adapter_registered_in_code_serves_the_manager(project: Path) -> None:
    register_adapter("jsonl", JsonlAdapter)
    assert {"jsonl", "rq", "sqlite"} <= set(registered_adapters())
    jq = JobQueueManager(project, backend="jsonl")
    job_id = jq.enqueue("reg_add", inputs={"x": 2})
    assert jq.queue().backend == "jsonl"
    assert (project / ".flowerpower" / "jobs.jsonl").exists()
    job = jq.get_queue_status(id=job_id)
    assert isinstance(job, dict) and job["status"] == "queued" and job["run"] == {
        "inputs": {"x": 2}}
    _, env = worker_command(str(project), "jsonl", None)
    assert env["FPQ_BACKENDS_JSONL_ADAPTER"] == "jsonl_adapter:JsonlAdapter"
    jq.close()


def test_an_unknown_backend_lists_every_name_that_would_work(project: Path) -> None:
    register_adapter("jsonl", JsonlAdapter)
    _conf(project, "backends:\n  fromconf:\n    adapter: \"jsonl_adapter:JsonlAdapter\"\n")
    with pytest.raises(InvalidInput) as info:
        JobQueueManager(project, backend="nosuch").enqueue("reg_add")
    assert str(info.value).startswith("backend 'nosuch' is not known: expected one of ")
    for name in ("sqlite", "rq", "jsonl", "fromconf"):
        assert name in str(info.value)
    assert info.value.field == "backend"
    assert not (project / ".flowerpower").exists()


def test_the_conf_file_registers_an_adapter_with_its_options(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = tmp_path / "conf-jobs.jsonl"
    _conf(project, "backend: fromconf\nbackends:\n  fromconf:\n"
                   f"    adapter: \"jsonl_adapter:JsonlAdapter\"\n    path: {jobs}\n")
    JobQueueManager(project).enqueue("reg_add")
    assert jobs.exists() and "fromconf" in registered_adapters()
    other = tmp_path / "env-jobs.jsonl"
    monkeypatch.setenv("FPQ_BACKENDS_FROMCONF_PATH", str(other))  # the environment wins
    JobQueueManager(project).enqueue("reg_add")
    assert other.exists()
    monkeypatch.setenv("FPQ_BACKEND", "sqlite")  # and can pick another backend
    assert JobQueueManager(project).queue().backend == "sqlite"


def test_an_adapter_option_named_like_an_engine_argument_is_refused(
        project: Path, tmp_path: Path) -> None:
    _conf(project, "backend: fromconf\nbackends:\n  fromconf:\n"
                   "    adapter: \"jsonl_adapter:JsonlAdapter\"\n    url: elsewhere\n")
    with pytest.raises(InvalidInput) as info:
        JobQueueManager(project).enqueue("reg_add")
    assert str(info.value).startswith("backends.fromconf.url (conf/job_queue.yml or the "
                                      "environment) is not a backend option")
    assert not (project / ".flowerpower").exists()


def test_an_adapter_that_cannot_be_imported_is_bad_input(project: Path) -> None:
    _conf(project, "backend: broken\nbackends:\n  broken:\n    adapter: no_such_mod:Thing\n")
    with pytest.raises(InvalidInput) as info:
        JobQueueManager(project).enqueue("reg_add")
    assert "backend 'broken': adapter 'no_such_mod:Thing' cannot be imported" in str(info.value)
    cli = subprocess.run([QUEUE_CLI, "status", "--project", str(project)], capture_output=True,
                         text=True, env=_env(), timeout=120, check=False)
    assert cli.returncode == 2 and len(cli.stderr.splitlines()) == 1
    _conf(project, "backend: odd\nbackends:\n  odd:\n    adapter: json:JSONDecoder\n")
    with pytest.raises(InvalidInput, match="is not a QueueAdapter class"):
        JobQueueManager(project).enqueue("reg_add")


class _OnlyGet(QueueAdapter):
    """An adapter that stores nothing and answers get with a broken record."""

    def get(self, id: str) -> dict[str, Any] | None:
        return {"id": id, "status": "half-done"}


def test_what_an_adapter_lacks_or_breaks_is_named(project: Path) -> None:
    register_adapter("onlyget", _OnlyGet)
    jq = JobQueueManager(project, backend="onlyget")
    with pytest.raises(JobQueueError) as info:
        jq.enqueue("reg_add")
    assert (info.value.code, str(info.value)) == (
        "ENOTSUP", "backend adapter _OnlyGet does not support enqueue")
    with pytest.raises(JobQueueError) as info:
        jq.get_queue_status(id="j1")
    assert info.value.code == "EFORMAT"
    assert "onlyget' get() returned a bad record: job record field 'status'" in str(info.value)
    jq.close()


def test_workers_cannot_import_an_adapter_defined_in_a_function(project: Path) -> None:
    class Local(JsonlAdapter):
        pass

    register_adapter("local", Local)
    with pytest.raises(InvalidInput, match="other processes cannot import"):
        JobQueueManager(project, backend="local").start_workers()
