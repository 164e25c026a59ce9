"""The adapter contract: what every queue backend does, whatever it is written in.

:class:`AdapterContract` is a reusable class of tests. Each runs against the native
SQLite adapter, the native RQ adapter on a real redis-server, and the example Python
adapter of ``examples/adapters/jsonl_adapter.py`` (its workers are threads of this test
process); a new adapter gets the same tests by adding a case to ``ADAPTERS``. Workers are
real: the engine's ``fpq worker`` for the native backends. The registry and the
``conf/job_queue.yml`` registration are tested after the contract. No mocks."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flowerpower_job_queue import (
    InvalidInput,
    JobNotFound,
    JobQueueError,
    JobQueueManager,
    JobTimeout,
    codec,
)
from flowerpower_job_queue.adapters import (
    JOB_FIELDS,
    NativeAdapter,
    QueueAdapter,
    RqAdapter,
    SqliteAdapter,
    open_adapter,
    register_adapter,
    registered_adapters,
)
from projects import make_project

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "adapters"
sys.path.insert(0, str(EXAMPLES))

from jsonl_adapter import JsonlAdapter  # from the examples directory

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
BOOM = "def result(x: int = 1) -> int:\n    raise ValueError(f'x is {x}: too small')\n"
FLAKY = '''
from pathlib import Path

def result(counter: str) -> int:
    path = Path(counter)
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    if n < 2:
        raise RuntimeError(f"attempt {n + 1} fails")
    return n + 1
'''
ADAPTERS = ["sqlite", "rq", "jsonl"]


class Case:
    """One adapter under test, on a fresh project with pipelines ``<p>_add``,
    ``<p>_boom`` and ``<p>_flaky`` (``p`` is unique per case: pipeline modules are cached
    by name in the test process, where the example adapter runs them)."""

    def __init__(self, kind: str, root: Path, prefix: str, adapter: QueueAdapter,
                 manager: Callable[[], JobQueueManager], log: Path) -> None:
        self.kind = kind
        self.root = root
        self.prefix = prefix
        self.adapter = adapter
        self.manager = manager
        self.log = log

    def p(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def burst(self) -> None:
        """Runs burst workers until nothing is left to do."""
        with open(self.log, "ab") as out:
            handles = self.adapter.start_workers(burst=True, stdout=out, stderr=out)
            codes = [h.wait(180) for h in handles]
        assert codes == [0], self.log.read_text()[-3000:]


_counter = iter(range(1_000_000))


@pytest.fixture(params=ADAPTERS)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    kind = request.param
    prefix = f"ad{next(_counter)}"
    root = make_project(tmp_path, "adapters", {f"{prefix}_add": ADD, f"{prefix}_boom": BOOM,
                                               f"{prefix}_flaky": FLAKY})
    adapter: QueueAdapter
    if kind == "sqlite":
        adapter = SqliteAdapter(str(root))
        manager = lambda: JobQueueManager(root, backend="sqlite")
    elif kind == "rq":
        url = request.getfixturevalue("redis_server").url
        adapter = RqAdapter(str(root), url)
        manager = lambda: JobQueueManager(root, url=url)
    else:
        register_adapter("jsonl", JsonlAdapter)
        adapter = JsonlAdapter(str(root), path=str(root / ".flowerpower" / "jobs.jsonl"))
        manager = lambda: JobQueueManager(root, backend="jsonl")
    made = Case(kind, root, prefix, adapter, manager, tmp_path / "worker.log")
    yield made
    made.adapter.close()


class AdapterContract:
    """The tests every adapter passes. Subclass it with a ``case`` fixture to run them on
    another adapter."""

    def test_enqueue_stores_a_queued_job_record(self, case: Case) -> None:
        a = case.adapter
        job_id = a.enqueue_task(case.p("add"), {"inputs": {"x": 1},
                                                "executor": {"type": "synchronous"}})
        job = a.get_status(job_id)
        assert set(JOB_FIELDS) <= set(job)
        assert job["id"] == job_id and job["pipeline"] == case.p("add")
        assert job["project"] == str(case.root)
        assert (job["status"], job["priority"], job["queue"]) == ("queued", "medium", "default")
        assert json.loads(job["run_json"]) == {"inputs": {"x": 1},
                                               "executor_cfg": {"type": "synchronous"}}
        assert job["attempts"] == 0 and job["result_json"] is None
        assert job["created_at"] == pytest.approx(time.time(), abs=60)

    def test_priority_job_id_retry_policy_and_delay(self, case: Case) -> None:
        a = case.adapter
        job_id = a.enqueue_task(case.p("add"), {"retry": {"max_retries": 4, "retry_delay": 2}},
                                priority="high", job_id="my-own-id", timeout=30)
        assert job_id == "my-own-id"
        job = a.get_status(job_id)
        assert (job["priority"], job["queue"]) == ("high", "high")
        assert (job["max_retries"], job["retry_delay"], job["timeout"]) == (4, 2.0, 30.0)
        assert json.loads(job["run_json"]) == {}
        later = a.enqueue_task(case.p("add"), {}, run_at=time.time() + 3600)
        assert a.get_status(later)["status"] == "scheduled"
        with pytest.raises(InvalidInput) as info:
            a.enqueue_task(case.p("add"), {}, job_id="my-own-id")
        assert info.value.code == "EEXIST"

    @pytest.mark.parametrize(("call", "words"), [
        (lambda c: c.adapter.enqueue_task("a/b", {}), "path separator"),
        (lambda c: c.adapter.enqueue_task("no_such_pipeline", {}), "is not in project"),
        (lambda c: c.adapter.enqueue_task(c.p("add"), {}, job_id="bad id!"), "position 4"),
        (lambda c: c.adapter.enqueue_task(c.p("add"), {}, priority="urgent"), "urgent"),
        (lambda c: c.adapter.enqueue_task(c.p("add"), {"executor_typo": 1}), "executor_typo"),
        (lambda c: c.adapter.enqueue_task(c.p("add"), {"retry": {"max_retries": "many"}}),
         "retry.max_retries"),
    ])
    def test_bad_input_is_refused_and_nothing_is_stored(
            self, case: Case, call: Callable[[Case], Any], words: str) -> None:
        with pytest.raises(InvalidInput) as info:
            call(case)
        assert words in str(info.value)
        assert "\n" not in str(info.value)
        assert case.adapter.find() == []

    def test_find_is_newest_first_scoped_by_pipeline_and_limited(self, case: Case) -> None:
        a = case.adapter
        ids = []
        for name in ("add", "boom", "add"):
            ids.append(a.enqueue_task(case.p(name), {}))
            time.sleep(0.01)
        assert [j["id"] for j in a.find()] == ids[::-1]
        assert [j["id"] for j in a.find(case.p("add"))] == [ids[2], ids[0]]
        assert [j["id"] for j in a.find(case.p("add"), 1)] == [ids[2]]
        assert a.find(case.p("flaky")) == []

    def test_unknown_ids_are_not_found(self, case: Case) -> None:
        a = case.adapter
        for call in (lambda: a.get_status("nope"), lambda: a.get_result("nope"),
                     lambda: a.get_result("nope", 0.5), lambda: a.cancel("nope"),
                     lambda: a.requeue("nope")):
            with pytest.raises(JobNotFound):
                call()

    def test_cancel_and_requeue_follow_the_job_state(self, case: Case) -> None:
        a = case.adapter
        job_id = a.enqueue_task(case.p("add"), {})
        with pytest.raises(JobQueueError) as info:
            a.requeue(job_id)
        assert info.value.code == "ESTATE"
        a.cancel(job_id)
        assert a.get_status(job_id)["status"] == "canceled"
        with pytest.raises(JobQueueError) as info:
            a.cancel(job_id)
        assert info.value.code == "ESTATE"
        a.requeue(job_id)
        job = a.get_status(job_id)
        assert (job["status"], job["attempts"]) == ("queued", 0)

    def test_get_result_waits_then_times_out(self, case: Case) -> None:
        a = case.adapter
        job_id = a.enqueue_task(case.p("add"), {})
        assert a.get_result(job_id)["status"] == "queued"  # no wait: as it is
        began = time.monotonic()
        with pytest.raises(JobTimeout) as info:
            a.get_result(job_id, 0.3)
        assert time.monotonic() - began >= 0.25
        assert str(info.value) == f"job '{job_id}' is still queued after 0.3 seconds"

    def test_workers_run_jobs_retry_failures_and_keep_results(self, case: Case) -> None:
        a = case.adapter
        ok = a.enqueue_task(case.p("add"), {"inputs": {"x": 41}})
        boom = a.enqueue_task(case.p("boom"), {"retry": {"max_retries": 0}})
        counter = case.root / "counter.txt"
        flaky = a.enqueue_task(case.p("flaky"), {"inputs": {"counter": str(counter)},
                                                 "retry": {"max_retries": 2,
                                                           "retry_delay": 0}})
        case.burst()
        done = a.get_result(ok, 30)
        assert done["status"] == "finished" and done["attempts"] == 1
        assert codec.loads(done["result_json"]) == {"result": 42}
        assert done["started_at"] <= done["ended_at"]
        failed = a.get_result(boom, 30)
        assert failed["status"] == "failed"
        error = json.loads(failed["error_json"])
        assert error["type"] == "ValueError" and "too small" in error["message"]
        retried = a.get_result(flaky, 30)
        assert retried["status"] == "finished", retried["error_json"]
        assert retried["attempts"] == 3 and codec.loads(retried["result_json"]) == {"result": 3}
        metrics = a.metrics()
        assert metrics["backend"] == a.backend
        totals: dict[str, int] = {}
        for queue in metrics["queues"]:
            for status in ("queued", "started", "finished", "failed"):
                totals[status] = totals.get(status, 0) + int(queue[status])
        assert totals == {"queued": 0, "started": 0, "finished": 2, "failed": 1}

    def test_start_list_and_stop_workers(self, case: Case) -> None:
        a = case.adapter
        with open(case.log, "ab") as out:
            (worker,) = a.start_workers(name="contract-w1", stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 60
            while not [w for w in a.list_workers() if w["name"] == "contract-w1"]:
                assert worker.poll() is None, case.log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker never showed up"
                time.sleep(0.05)
            (info,) = [w for w in a.list_workers() if w["name"] == "contract-w1"]
            assert info["state"] in ("idle", "busy") and info["pid"] > 0
            assert {w["name"] for w in a.metrics()["workers"]} >= {"contract-w1"}
            with pytest.raises(JobNotFound):
                a.stop_workers("ghost")
            assert a.stop_workers("contract-w1") == ["contract-w1"]
            assert worker.wait(60) == 0
        finally:
            if worker.poll() is None:
                a.stop_workers(now=True)
                worker.wait(60)

    def test_the_manager_routes_every_call_through_the_adapter(self, case: Case) -> None:
        jq = case.manager()
        assert jq.adapter().backend == case.adapter.backend
        job_id = jq.enqueue(case.p("add"), {"inputs": {"x": 6}}, "low")
        status = jq.get_queue_status(id=job_id)
        assert isinstance(status, dict) and status["priority"] == "low"
        with open(case.log, "ab") as out:
            assert [w.wait(180) for w in jq.start_workers(burst=True, stdout=out,
                                                          stderr=out)] == [0]
        assert jq.result(id=job_id, wait=True, timeout=30) == {"result": 7}
        assert jq.result(case.p("add")) == {"result": 7}
        assert jq.metrics()["backend"] == case.adapter.backend
        jq.close()


class TestContract(AdapterContract):
    """The contract on the sqlite, rq and example jsonl adapters."""


# ---- the registry and the conf file ---------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "registry", {"reg_add": ADD})


def _conf(project: Path, text: str) -> None:
    (project / "conf" / "job_queue.yml").write_text(text)


def test_native_backends_are_adapters(project: Path) -> None:
    assert {"sqlite", "rq"} <= set(registered_adapters())
    adapter = JobQueueManager(project).adapter()
    assert isinstance(adapter, NativeAdapter) and adapter.backend == "sqlite"
    assert isinstance(open_adapter(str(project), "sqlite"), SqliteAdapter)
    assert isinstance(open_adapter(str(project), "rq", "redis://127.0.0.1:1/0"), RqAdapter)


def test_register_adapter_refuses_bad_names_and_classes() -> None:
    with pytest.raises(InvalidInput, match="is native"):
        register_adapter("sqlite", JsonlAdapter)
    with pytest.raises(InvalidInput, match="not valid"):
        register_adapter("a b", JsonlAdapter)
    with pytest.raises(InvalidInput, match="not a QueueAdapter"):
        register_adapter("dicts", dict)  # type: ignore[arg-type]


def test_an_unknown_backend_lists_native_and_python_adapters(project: Path) -> None:
    register_adapter("jsonl", JsonlAdapter)
    with pytest.raises(InvalidInput) as info:
        JobQueueManager(project, backend="nosuch").enqueue("reg_add")
    assert str(info.value).startswith(
        "backend 'nosuch' is not known: expected one of sqlite, rq, ")
    assert "jsonl" in str(info.value)
    assert not (project / ".flowerpower").exists()


def test_a_registered_name_picks_the_python_adapter(project: Path, tmp_path: Path) -> None:
    register_adapter("jsonl", JsonlAdapter)
    jq = JobQueueManager(project, backend="jsonl")
    assert isinstance(jq.adapter(), JsonlAdapter)
    with pytest.raises(InvalidInput, match="Python adapter"):
        jq.queue()
    job_id = jq.enqueue("reg_add", inputs={"x": 2})
    status = jq.get_queue_status(id=job_id)
    assert isinstance(status, dict) and status["status"] == "queued"
    assert Path(project / ".flowerpower" / "jobs.jsonl").exists()


def test_conf_file_registers_an_adapter_with_its_options(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = tmp_path / "conf-jobs.jsonl"
    _conf(project, "backend: fromconf\n"
                   "backends:\n"
                   "  fromconf:\n"
                   "    adapter: \"jsonl_adapter:JsonlAdapter\"\n"
                   f"    path: {jobs}\n")
    adapter = JobQueueManager(project).adapter()
    assert isinstance(adapter, JsonlAdapter) and adapter.path == str(jobs)
    assert "fromconf" in registered_adapters()
    JobQueueManager(project).enqueue("reg_add")
    assert jobs.exists()
    other = tmp_path / "env-jobs.jsonl"
    monkeypatch.setenv("FPQ_BACKENDS_FROMCONF_PATH", str(other))  # environment wins
    adapter = JobQueueManager(project).adapter()
    assert isinstance(adapter, JsonlAdapter) and adapter.path == str(other)
    monkeypatch.setenv("FPQ_BACKEND", "sqlite")  # and picks another backend
    assert JobQueueManager(project).adapter().backend == "sqlite"


def test_conf_adapter_that_cannot_be_imported_is_bad_input(project: Path) -> None:
    _conf(project, "backend: broken\nbackends:\n  broken:\n    adapter: no_such_mod:Thing\n")
    with pytest.raises(InvalidInput) as info:
        JobQueueManager(project).enqueue("reg_add")
    assert "backend 'broken': adapter 'no_such_mod:Thing' cannot be imported" in str(info.value)
    _conf(project, "backend: odd\nbackends:\n  odd:\n    adapter: json:JSONDecoder\n")
    with pytest.raises(InvalidInput, match="is not a QueueAdapter class"):
        JobQueueManager(project).enqueue("reg_add")


def test_a_conf_file_without_adapters_is_left_to_the_engine(project: Path) -> None:
    _conf(project, "backend: sqlite\nurl: [unclosed\n")
    with pytest.raises(InvalidInput) as info:
        JobQueueManager(project).enqueue("reg_add")
    assert "conf/job_queue.yml" in str(info.value) and "line" in str(info.value)


def test_worker_handles_of_the_example_adapter_time_out(project: Path, tmp_path: Path) -> None:
    adapter = JsonlAdapter(str(project), path=str(tmp_path / "w.jsonl"))
    (worker,) = adapter.start_workers(name="slowpoke")
    try:
        with pytest.raises(TimeoutError):
            worker.wait(0.2)
        assert worker.poll() is None
    finally:
        adapter.stop_workers()
        assert worker.wait(30) == 0
    assert os.path.exists(adapter.path) or adapter.find() == []
