"""An example queue backend written in Python: jobs in a JSON-lines file, run by worker
threads inside the process that starts them.

It shows what a :class:`~flowerpower_job_queue.adapters.QueueAdapter` does, in one small
file, and it is real: it passes the adapter contract tests
(``tests/python/test_adapters.py``) and serves ``flowerpower queue ...`` and
``project.enqueue(...)`` like the built-in backends do.

* Storage: one JSON object per line, a job's whole record each time it changes; the last
  line of an id wins. Every read-modify-write holds an exclusive ``flock`` on the file,
  so several processes (an enqueueing CLI, a worker) can share it. The file is
  ``path`` from the backend's options, else the path of a ``jsonl:///abs/jobs.jsonl``
  URL, else ``<project>/.flowerpower/jobs.jsonl``.
* Workers: threads of the process that calls ``start_workers`` (``flowerpower queue
  worker start`` runs them in the foreground). Pipelines run through
  ``flowerpower_job_queue.runner`` like the engine's executor runs them, one at a time
  per process (FlowerPower's pipeline modules and the working directory are
  process-wide), and results are stored as codec JSON, never pickle.
* Retries: the run config's ``retry`` block, else the pipeline YAML's ``run.retry``, else
  none; retry *k* waits ``retry_delay * 2**(k-1)``.
* Limits, as an example keeps them: a job's ``timeout`` is stored, not enforced (a thread
  cannot be killed), ``isolation`` is ignored, and workers are seen and stopped only from
  the process that started them.

Use it from a project's ``conf/job_queue.yml`` (with this directory on ``PYTHONPATH``):

.. code-block:: yaml

    backend: jsonl
    backends:
      jsonl:
        adapter: "jsonl_adapter:JsonlAdapter"
        path: /srv/etl/.flowerpower/jobs.jsonl

or from Python:

    >>> from flowerpower_job_queue import JobQueueManager
    >>> from flowerpower_job_queue.adapters import register_adapter
    >>> from jsonl_adapter import JsonlAdapter
    >>> register_adapter("jsonl", JsonlAdapter)
    >>> jq = JobQueueManager("/srv/etl", backend="jsonl")           # doctest: +SKIP
    >>> job_id = jq.enqueue("hello", inputs={"name": "Ada"})       # doctest: +SKIP
    >>> [w.wait() for w in jq.start_workers(burst=True)]           # doctest: +SKIP
    [0]
    >>> jq.result(id=job_id)                                       # doctest: +SKIP
    {'greeting': 'Hello, Ada!'}
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from flowerpower_job_queue import codec, runner
from flowerpower_job_queue.adapters import (
    PRIORITY_QUEUES,
    QueueAdapter,
    WorkerHandle,
    check_enqueue,
    job_record,
    split_run_config,
    state_error,
    wait_for_end,
)
from flowerpower_job_queue.exceptions import InvalidInput, JobNotFound, JobQueueError

__all__ = ["JsonlAdapter"]

STATUSES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "stopped",
            "canceled", "created")
WAITING = ("queued", "scheduled", "deferred")
_RUN_LOCK = threading.Lock()  # one pipeline run at a time in this process
_names = itertools.count(1)


class JsonlAdapter(QueueAdapter):
    """Jobs in a JSON-lines file, workers as threads (see the module's docstring).

    Example:
        >>> adapter = JsonlAdapter("/srv/etl", path="/tmp/jobs.jsonl")   # doctest: +SKIP
        >>> adapter.enqueue_task("hello", {"inputs": {"name": "Ada"}})  # doctest: +SKIP
        '5a0f3c6e-...'
    """

    name = "jsonl"

    def __init__(self, project_dir: str, url: str | None = None, path: str | None = None,
                 **options: Any) -> None:
        super().__init__(project_dir, url, **options)
        if path is None and url:
            if not url.startswith("jsonl:///"):
                raise InvalidInput(f"URL {url!r} does not fit backend 'jsonl': expected "
                                   "jsonl:///abs/path.jsonl")
            path = url.removeprefix("jsonl://")
        self.path = path or os.path.join(project_dir, ".flowerpower", "jobs.jsonl")
        self._workers: dict[str, _Worker] = {}
        self._workers_lock = threading.Lock()

    # ---- the file -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _file(self) -> Iterator[IO[str]]:
        """The file, opened and locked (exclusive) for one read-modify-write."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield f
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @staticmethod
    def _read(f: IO[str]) -> dict[str, dict[str, Any]]:
        f.seek(0)
        jobs: dict[str, dict[str, Any]] = {}
        for line in f:
            if line.strip():
                record = json.loads(line)
                jobs[record["id"]] = record
        return jobs

    @staticmethod
    def _write(f: IO[str], *records: Mapping[str, Any]) -> None:
        f.seek(0, os.SEEK_END)
        f.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        f.flush()

    def _jobs(self) -> dict[str, dict[str, Any]]:
        if not os.path.exists(self.path):
            return {}
        with self._file() as f:
            return self._read(f)

    def _change(self, id: str, allowed: Sequence[str], action: str,
                **fields: Any) -> dict[str, Any]:
        with self._file() as f:
            job = self._read(f).get(id)
            if job is None:
                raise JobNotFound(f"job '{id}' not found")
            if job["status"] not in allowed:
                raise state_error(id, job["status"], action)
            job.update(fields)
            self._write(f, job)
            return job

    # ---- producer -----------------------------------------------------------------------

    def enqueue_task(self, pipeline: str, run_config: Mapping[str, Any], *,
                     priority: str | None = None, job_id: str | None = None,
                     run_at: float = 0.0, timeout: float = 0.0) -> str:
        check_enqueue(self.project_dir, pipeline, job_id, priority)
        run, policy = split_run_config(run_config)
        retry = {**_yaml_retry(self.project_dir, pipeline), **policy}
        chosen = priority or policy.get("priority", "medium")
        now = time.time()
        record = job_record(
            self.project_dir, pipeline, id=job_id or str(uuid.uuid4()), priority=chosen,
            queue=PRIORITY_QUEUES[chosen], run_json=json.dumps(run, separators=(",", ":")),
            status="scheduled" if run_at > now else "queued", run_at=run_at or None,
            created_at=now, enqueued_at=now, timeout=timeout,
            max_retries=int(retry.get("max_retries", 0)),
            retry_delay=float(retry.get("retry_delay", 0.0)),
            jitter_factor=float(retry.get("jitter_factor", 0.0)),
        )
        with self._file() as f:
            if record["id"] in self._read(f):
                raise InvalidInput(f"job id '{record['id']}' is already taken", code="EEXIST")
            self._write(f, record)
        return str(record["id"])

    # ---- status and results -------------------------------------------------------------

    def get_status(self, id: str) -> dict[str, Any]:
        job = self._jobs().get(id)
        if job is None:
            raise JobNotFound(f"job '{id}' not found")
        return job

    def get_result(self, id: str, timeout: float | None = None) -> dict[str, Any]:
        return wait_for_end(self.get_status, id, timeout)

    def find(self, pipeline: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        jobs = [j for j in self._jobs().values() if j["project"] == self.project_dir
                and (pipeline is None or j["pipeline"] == pipeline)]
        jobs.sort(key=lambda j: j["created_at"], reverse=True)
        return jobs[:limit]

    def cancel(self, id: str) -> None:
        self._change(id, WAITING, "cancel", status="canceled", ended_at=time.time())

    def requeue(self, id: str) -> None:
        now = time.time()
        self._change(id, ("failed", "stopped", "canceled"), "requeue", status="queued",
                     attempts=0, enqueued_at=now, run_at=None, started_at=None, ended_at=None,
                     worker=None, result_json=None, error_json=None)

    # ---- workers ------------------------------------------------------------------------

    def _take(self, worker: str, queues: Sequence[str]) -> dict[str, Any] | None:
        """Marks the next due job of the queues (strict order, FIFO) started; None if
        there is none."""
        if not os.path.exists(self.path):
            return None
        now = time.time()
        with self._file() as f:
            due = [j for j in self._read(f).values() if j["queue"] in queues
                   and (j["status"] == "queued"
                        or (j["status"] == "scheduled" and (j["run_at"] or 0) <= now))]
            if not due:
                return None
            job = min(due, key=lambda j: (queues.index(j["queue"]),
                                          j["run_at"] or j["enqueued_at"]))
            job.update(status="started", started_at=now, ended_at=None, worker=worker,
                       attempts=job["attempts"] + 1)
            self._write(f, job)
            return job

    def _pending(self, queues: Sequence[str]) -> bool:
        """Whether a job of the queues is waiting or running (burst workers wait for
        retries too)."""
        return any(j["queue"] in queues and j["status"] in ("queued", "scheduled", "started")
                   for j in self._jobs().values())

    def _run(self, job: dict[str, Any]) -> bool:
        """Runs a started job and stores how it ended; True when it finished."""
        try:
            with _RUN_LOCK:
                value = runner.run_job(job["project"], job["pipeline"], json.loads(job["run_json"]))
            fields: dict[str, Any] = {"status": "finished", "result_json": codec.dumps(value)}
        except Exception as exc:  # noqa: BLE001 - a pipeline's failure is the job's outcome
            fields = {"error_json": json.dumps(runner.error_info(exc))}
            if job["attempts"] <= job["max_retries"]:
                delay = job["retry_delay"] * 2 ** (job["attempts"] - 1)
                fields.update(status="scheduled", run_at=time.time() + delay)
            else:
                fields["status"] = "failed"
        fields["ended_at"] = time.time()
        with contextlib.suppress(JobQueueError):  # requeued or removed while it ran
            self._change(job["id"], ("started",), "store the end of", **fields)
        return fields["status"] == "finished"

    def start_workers(self, count: int = 1, *, burst: bool = False, isolation: str = "fork",
                      queues: Sequence[str] | None = None, name: str | None = None,
                      slots: int = 1, quiet: bool = False,
                      **kwargs: Any) -> list[WorkerHandle]:
        order = list(queues or ("high", "default", "low"))
        started: list[WorkerHandle] = []
        for i in range(count):
            worker_name = (name if count == 1 else f"{name}-{i + 1}") if name else (
                f"{socket.gethostname()}.{os.getpid()}.{next(_names)}")
            worker = _Worker(self, worker_name, order, burst, slots)
            with self._workers_lock:
                self._workers[worker_name] = worker
            worker.start()
            started.append(worker)
        return started

    def _live(self) -> list[_Worker]:
        with self._workers_lock:
            for key in [k for k, w in self._workers.items() if w.poll() is not None]:
                del self._workers[key]
            return list(self._workers.values())

    def list_workers(self) -> list[dict[str, Any]]:
        return [w.info() for w in self._live()]

    def stop_workers(self, name: str | None = None, now: bool = False) -> list[str]:
        chosen = [w for w in self._live() if name is None or w.name == name]
        if name is not None and not chosen:
            raise JobNotFound(f"no live worker named {name!r}")
        for worker in chosen:
            worker.stop.set()
        return [w.name for w in chosen]

    def metrics(self) -> dict[str, Any]:
        now = time.time()
        queues: dict[str, dict[str, Any]] = {}
        for job in self._jobs().values():
            q = queues.setdefault(job["queue"], {"name": job["queue"], **dict.fromkeys(
                STATUSES, 0), "oldest_queued_age_seconds": None})
            q[job["status"]] = q.get(job["status"], 0) + 1
            if job["status"] == "queued":
                age = now - job["enqueued_at"]
                oldest = q["oldest_queued_age_seconds"]
                q["oldest_queued_age_seconds"] = age if oldest is None else max(oldest, age)
        workers = []
        for info in self.list_workers():
            age = now - info["birth"]
            workers.append({**info, "queues": ",".join(info["queues"]),
                            "busy_ratio": min(info["busy_seconds"] / age, 1.0) if age > 0 else 0.0,
                            "last_heartbeat_age_seconds": 0.0})
        return {"backend": self.backend, "queues": [queues[k] for k in sorted(queues)],
                "workers": workers}


class _Worker:
    """One worker: ``slots`` threads taking jobs until stopped (or, in burst mode, until
    nothing is left). Has the ``wait``/``poll`` of a process handle."""

    def __init__(self, adapter: JsonlAdapter, name: str, queues: list[str], burst: bool,
                 slots: int) -> None:
        self.adapter, self.name, self.queues, self.burst = adapter, name, queues, burst
        self.stop = threading.Event()
        self.birth = time.time()
        self.successful = self.failed = 0
        self.busy_seconds = 0.0
        self.current: dict[str, str] = {}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, name=f"{name}/{i}", daemon=True)
                         for i in range(slots)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        me = threading.current_thread().name
        while not self.stop.is_set():
            job = self.adapter._take(self.name, self.queues)
            if job is None:
                if self.burst and not self.adapter._pending(self.queues):
                    return
                self.stop.wait(0.1)
                continue
            with self._lock:
                self.current[me] = job["id"]
            began = time.monotonic()
            ok = self.adapter._run(job)
            with self._lock:
                del self.current[me]
                self.busy_seconds += time.monotonic() - began
                if ok:
                    self.successful += 1
                else:
                    self.failed += 1

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self.poll() is None:
            raise TimeoutError(f"worker {self.name} still running after {timeout} seconds")
        return 0

    def poll(self) -> int | None:
        return None if any(t.is_alive() for t in self._threads) else 0

    def info(self) -> dict[str, Any]:
        with self._lock:
            current = next(iter(self.current.values()), None)
            return {"name": self.name, "hostname": socket.gethostname(), "pid": os.getpid(),
                    "state": "busy" if current else "idle", "queues": list(self.queues),
                    "current_job": current, "birth": self.birth,
                    "last_heartbeat": time.time(), "successful": self.successful,
                    "failed": self.failed, "busy_seconds": self.busy_seconds}


def _yaml_retry(project_dir: str, pipeline: str) -> dict[str, Any]:
    """The pipeline YAML's ``run.retry`` block (conf/pipelines/a/b.yml for ``a.b``)."""
    path = os.path.join(project_dir, "conf", "pipelines", *pipeline.split(".")) + ".yml"
    try:
        import yaml

        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        retry = (data.get("run") or {}).get("retry") or {}
    except Exception:  # noqa: BLE001 - no readable retry block: no retries
        return {}
    return {k: v for k, v in retry.items() if k in ("max_retries", "retry_delay", "jitter_factor")
            and isinstance(v, (int, float)) and not isinstance(v, bool)}
