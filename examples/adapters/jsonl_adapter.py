"""An example queue backend written in Python: every record in one JSON-lines file.

It shows what a :class:`~flowerpower_job_queue.backends.QueueAdapter` does, in one small
file, and it is real: the engine's backend contract suite (``tests/c/helpers/
backend_contract.c``, run by ``tests/c/test_backend_python.c``) passes on it as on the
built-in ``sqlite`` and ``rq`` backends, and it serves ``project.enqueue(...)``,
``flowerpower queue ...``, the engine's workers and its schedulers like they do. The
adapter only stores: the engine validates, stamps times, decides retries with their
jittered backoff, waits for results, fires schedules and counts metrics.

* Storage: a log of changes, one JSON object per line: ``{"t": table, "k": key, "v":
  record}`` (``"v": null`` deletes). The tables are jobs, workers, commands, schedules
  and leases; the last line of a key wins. Every operation holds an exclusive ``flock``
  on ``PATH.lock`` while it reads what other processes appended since its last look and
  appends its own changes, so producers, workers and schedulers in several processes
  share one file safely. When the log holds four times more lines than live records it
  is rewritten (a new file renamed over the old one; the lock file stays).
* Adapter-private fields ride along in the stored job (``_seq`` for FIFO order,
  ``_lease_until``, ``_expires_at``) and are taken off before a record is returned.
* The file is ``path`` from the backend's section of ``conf/job_queue.yml``, else the path
  of a ``jsonl:///abs/jobs.jsonl`` URL, else ``<project>/.flowerpower/jobs.jsonl``.

Use it from a project's ``conf/job_queue.yml`` (with this directory on ``PYTHONPATH``):

.. code-block:: yaml

    backend: jsonl
    backends:
      jsonl:
        adapter: "jsonl_adapter:JsonlAdapter"
        path: /srv/etl/.flowerpower/jobs.jsonl

Example:
    >>> from flowerpower_job_queue import JobQueueManager, register_adapter
    >>> from jsonl_adapter import JsonlAdapter
    >>> register_adapter("jsonl", JsonlAdapter)
    >>> jq = JobQueueManager("/srv/etl", backend="jsonl")           # doctest: +SKIP
    >>> job_id = jq.enqueue("hello", inputs={"name": "Ada"})       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from flowerpower_job_queue import JobNotFound, JobQueueError, QueueAdapter

__all__ = ["JsonlAdapter"]

Record = dict[str, Any]
TABLES = ("jobs", "workers", "commands", "schedules", "leases")
WAITING = ("queued", "scheduled", "deferred")
ENDED = ("finished", "failed", "stopped")
PRIVATE = ("_seq", "_lease_until", "_expires_at")


def _public(job: Record) -> Record:
    return {k: v for k, v in job.items() if k not in PRIVATE}


class JsonlAdapter(QueueAdapter):
    """Every record in one JSON-lines file (see the module's docstring).

    Example:
        >>> adapter = JsonlAdapter("/srv/etl", path="/tmp/jobs.jsonl")   # doctest: +SKIP
        >>> adapter.get("no-such-job") is None                        # doctest: +SKIP
        True
    """

    def __init__(self, project_dir: str, url: str = "", *, create: bool = True,
                 path: str | None = None, **options: str) -> None:
        super().__init__(project_dir, url, create=create, **options)
        if path is None and url:
            if not url.startswith("jsonl:///"):
                raise JobQueueError(f"URL {url!r} does not fit backend 'jsonl': expected "
                                    "jsonl:///abs/path.jsonl", code="ECONFIG")
            path = url.removeprefix("jsonl://")
        self.path = path or os.path.join(project_dir, ".flowerpower", "jobs.jsonl")
        self._state: dict[str, dict[str, Any]] = {t: {} for t in TABLES}
        self._lines = 0
        self._offset = 0
        self._inode: tuple[int, int] | None = None

    # ---- the file -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, write: bool = True) -> Iterator[list[tuple[str, str, Any]]]:
        """The state, up to date and locked; changes appended to the yielded list are
        applied and written when the block ends without an error."""
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            if not write:  # nothing stored yet: read as empty, create nothing
                self._catch_up()
                yield []
                return
            os.makedirs(folder, mode=0o700, exist_ok=True)  # the first write makes it
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._catch_up()
                changes: list[tuple[str, str, Any]] = []
                yield changes
                if changes:
                    self._write(changes)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Reads what was appended since the last look (all of it after a rewrite)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._state = {t: {} for t in TABLES}
            self._lines = self._offset = 0
            self._inode = None
            return
        if (st.st_dev, st.st_ino) != self._inode or st.st_size < self._offset:
            self._state = {t: {} for t in TABLES}
            self._lines = self._offset = 0
            self._inode = (st.st_dev, st.st_ino)
        if st.st_size == self._offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line cut short by a crash is ignored until whole
        for line in data[:end].splitlines():
            if line.strip():
                entry = json.loads(line)
                self._apply(entry["t"], entry["k"], entry["v"])
        self._offset += end

    def _apply(self, table: str, key: str, value: Any) -> None:
        self._lines += 1
        if value is None:
            self._state[table].pop(key, None)
        else:
            self._state[table][key] = value

    def _write(self, changes: list[tuple[str, str, Any]]) -> None:
        live = sum(len(t) for t in self._state.values())
        if self._lines > 4 * (live + len(changes)) + 64:
            for table, key, value in changes:
                self._apply(table, key, value)
            self._rewrite()
            return
        text = "".join(json.dumps({"t": t, "k": k, "v": v}, separators=(",", ":")) + "\n"
                       for t, k, v in changes)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
            st = os.fstat(fd)
        finally:
            os.close(fd)
        for table, key, value in changes:
            self._apply(table, key, value)
        self._inode = (st.st_dev, st.st_ino)
        self._offset = st.st_size

    def _rewrite(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.writelines(json.dumps({"t": table, "k": key, "v": value},
                                    separators=(",", ":")) + "\n"
                         for table in TABLES for key, value in self._state[table].items())
        os.replace(tmp, self.path)
        st = os.stat(self.path)
        self._inode, self._offset = (st.st_dev, st.st_ino), st.st_size
        self._lines = sum(len(t) for t in self._state.values())

    def _next_seq(self, first: bool = False) -> int:
        seqs = [j["_seq"] for j in self._state["jobs"].values()]
        if not seqs:
            return 0
        return min(seqs) - 1 if first else max(seqs) + 1

    def _job(self, id: str) -> Record:
        job = self._state["jobs"].get(id)
        if job is None:
            raise JobNotFound(f"job '{id}' not found")
        return dict(job)

    # ---- jobs -------------------------------------------------------------------------------

    def enqueue(self, job: Record) -> None:
        with self._locked() as changes:
            if job["id"] in self._state["jobs"]:
                raise JobQueueError(f"job id '{job['id']}' is taken", code="EEXIST")
            changes.append(("jobs", job["id"], {**job, "_seq": self._next_seq()}))

    def get(self, id: str) -> Record | None:
        with self._locked(write=False):
            job = self._state["jobs"].get(id)
            return None if job is None else _public(job)

    def find(self, project: str, pipeline: str | None, limit: int) -> list[Record]:
        with self._locked(write=False):
            jobs = [j for j in self._state["jobs"].values() if j.get("project") == project
                    and (pipeline is None or j.get("pipeline") == pipeline)]
        jobs.sort(key=lambda j: (j.get("created_at") or 0, j["_seq"]), reverse=True)
        return [_public(j) for j in jobs[:limit]]

    def _change(self, id: str, allowed: Sequence[str], verb: str, **fields: Any) -> None:
        with self._locked() as changes:
            job = self._job(id)
            if job["status"] not in allowed:
                raise JobQueueError(f"job '{id}' is {job['status']} and cannot be {verb}",
                                    code="ESTATE")
            changes.append(("jobs", id, {**job, **fields}))

    def cancel(self, id: str, now: float) -> None:
        self._change(id, WAITING, "canceled", status="canceled", ended_at=now, run_at=None)

    def requeue(self, id: str, now: float) -> None:
        with self._locked(write=False):
            seq = self._next_seq()
        self._change(id, ("failed", "stopped", "canceled"), "requeued", status="queued",
                     attempts=0, enqueued_at=now, started_at=None, ended_at=None, run_at=None,
                     worker=None, result_json=None, error_json=None, _seq=seq,
                     _expires_at=None)

    def counts(self) -> list[Record]:
        with self._locked(write=False):
            jobs = list(self._state["jobs"].values())
        queues: dict[str, Record] = {}
        for job in jobs:
            q = queues.setdefault(job["queue"], {"queue": job["queue"], "counts": {},
                                                 "oldest_queued_at": None})
            q["counts"][job["status"]] = q["counts"].get(job["status"], 0) + 1
            if job["status"] == "queued":
                oldest = q["oldest_queued_at"]
                if oldest is None or (job.get("enqueued_at") or 0) < oldest:
                    q["oldest_queued_at"] = job.get("enqueued_at")
        return sorted(queues.values(), key=lambda q: q["queue"])

    def _promote_due(self, now: float, changes: list[tuple[str, str, Any]]) -> int:
        due = sorted((j for j in self._state["jobs"].values()
                      if j["status"] == "scheduled" and (j.get("run_at") or 0) <= now),
                     key=lambda j: (j.get("run_at") or 0, j["_seq"]))
        seq = self._next_seq()
        for i, job in enumerate(due):
            changes.append(("jobs", job["id"], {**job, "status": "queued", "run_at": None,
                                                 "enqueued_at": now, "_seq": seq + i}))
        return len(due)

    def take(self, worker: str, queues: Sequence[str], lease_seconds: float,
             now: float) -> Record | None:
        with self._locked() as changes:
            if self._promote_due(now, changes):
                for table, key, value in changes:  # see them before choosing
                    self._state[table][key] = value
            for queue in queues:
                ready = [j for j in self._state["jobs"].values()
                         if j["status"] == "queued" and j["queue"] == queue]
                if ready:
                    job = min(ready, key=lambda j: j["_seq"])
                    job = {**job, "status": "started", "worker": worker, "started_at": now,
                           "ended_at": None, "attempts": job.get("attempts", 0) + 1,
                           "_lease_until": now + lease_seconds}
                    changes.append(("jobs", job["id"], job))
                    return _public(job)
        return None

    def _held(self, id: str, worker: str) -> Record:
        job = self._state["jobs"].get(id)
        if job is None or job["status"] != "started" or job.get("worker") != worker:
            raise JobQueueError(f"job '{id}' is no longer held by worker '{worker}'",
                                code="ELEASE")
        return dict(job)

    def extend(self, id: str, worker: str, lease_until: float) -> None:
        with self._locked() as changes:
            changes.append(("jobs", id, {**self._held(id, worker), "_lease_until": lease_until}))

    def finish(self, change: Record) -> None:
        with self._locked() as changes:
            job = self._held(change["id"], change["worker"])
            status, now = change["status"], change["now"]
            job.update(status=status, _lease_until=None,
                       run_at=change["run_at"] if status == "scheduled" else None,
                       result_json=change["result_json"],
                       ended_at=now if status in ENDED else None)
            if change["error_json"] is not None:
                job["error_json"] = change["error_json"]
            if not change["uncount_attempt"]:
                job["log"] = change.get("log")  # the last run's output
            if change["uncount_attempt"]:
                job["attempts"] -= 1
                job["_seq"] = self._next_seq(first=True)  # a returned job goes first
            elif status == "queued":
                job["_seq"] = self._next_seq()
            if status == "queued":
                job["enqueued_at"] = now
            # Retention as the engine resolved it: -1 forever, 0 none, else seconds.
            ttl = (change["result_ttl"] if status == "finished"
                   else change.get("failure_ttl", -1) if status in ("failed", "stopped")
                   else -1)
            job["_expires_at"] = now + ttl if ttl >= 0 else None
            changes.append(("jobs", job["id"], job))

    def maintain(self, now: float) -> int:
        with self._locked() as changes:
            moved = self._promote_due(now, changes)
            for job in list(self._state["jobs"].values()):
                if job.get("_expires_at") is not None and job["_expires_at"] <= now:
                    changes.append(("jobs", job["id"], None))
                if job["status"] != "started" or (job.get("_lease_until") or 0) >= now:
                    continue
                status, run_at = self.retry_decision(_public(job), now)
                left = "no attempts left" if status == "failed" else "retrying"
                error = {"type": "WorkerLost", "traceback": "", "message":
                         f"worker '{job.get('worker')}' stopped renewing its lease (it died "
                         f"or lost the file); {left}"}
                job = {**job, "status": status, "run_at": run_at, "_lease_until": None,
                       "error_json": json.dumps(error),
                       "ended_at": now if status == "failed" else None}
                if status == "queued":
                    job.update(enqueued_at=now, _seq=self._next_seq())
                changes.append(("jobs", job["id"], job))
                moved += 1
            return moved

    # ---- workers ------------------------------------------------------------------------------

    def worker_beat(self, info: Record, ttl: float, now: float) -> None:
        with self._locked() as changes:
            changes.append(("workers", info["name"], {**info, "_expires_at": now + ttl}))

    def worker_gone(self, name: str, now: float) -> None:
        with self._locked() as changes:
            changes.append(("workers", name, None))

    def workers(self, now: float) -> list[Record]:
        with self._locked(write=False):
            live = [w for w in self._state["workers"].values() if w["_expires_at"] > now]
        return sorted(({k: v for k, v in w.items() if k != "_expires_at"} for w in live),
                      key=lambda w: w["name"])

    def worker_command(self, name: str, command: str) -> None:
        with self._locked() as changes:
            keys = [int(k) for k in self._state["commands"]]
            changes.append(("commands", str(max(keys, default=0) + 1),
                            {"worker": name, "command": command}))

    def worker_next_command(self, name: str) -> str | None:
        with self._locked() as changes:
            mine = sorted((int(k), c) for k, c in self._state["commands"].items()
                          if c["worker"] == name)
            if not mine:
                return None
            key, command = mine[0]
            changes.append(("commands", str(key), None))
            return str(command["command"])

    # ---- schedules, leases, run records ---------------------------------------------------------

    def schedule_put(self, schedule: Record) -> None:
        with self._locked() as changes:
            changes.append(("schedules", schedule["id"], schedule))

    def schedule_get(self, id: str) -> Record | None:
        with self._locked(write=False):
            return self._state["schedules"].get(id)

    def schedule_list(self, project: str | None, due: int, limit: int) -> list[Record]:
        with self._locked(write=False):
            found = [s for s in self._state["schedules"].values()
                     if project is None or s["project"] == project]
        if due <= 0:
            return sorted(found, key=lambda s: s["id"])
        found = [s for s in found if not s["paused"] and 0 < (s["next_fire"] or 0) <= due]
        return sorted(found, key=lambda s: (s["next_fire"], s["id"]))[:limit]

    def _schedule(self, id: str) -> Record:
        schedule = self._state["schedules"].get(id)
        if schedule is None:
            raise JobNotFound(f"schedule '{id}' not found")
        return dict(schedule)

    def schedule_remove(self, id: str) -> None:
        with self._locked() as changes:
            self._schedule(id)
            changes.append(("schedules", id, None))

    def schedule_set_paused(self, id: str, paused: bool, next_fire: int) -> None:
        with self._locked() as changes:
            schedule = {**self._schedule(id), "paused": paused}
            if next_fire >= 0:
                schedule["next_fire"] = next_fire or None
            changes.append(("schedules", id, schedule))

    def schedule_advance(self, change: Record) -> None:
        with self._locked() as changes:
            schedule = self._schedule(change["id"])
            if (schedule["next_fire"] or 0) != change["expect_next"]:
                raise JobQueueError(f"schedule '{change['id']}' moved on meanwhile",
                                    code="ESTATE")
            schedule.update(next_fire=change["next_fire"] or None,
                            last_fire=change["last_fire"] or None,
                            fired=(schedule["fired"] or 0) + change["fired"],
                            skipped=(schedule["skipped"] or 0) + change["skipped"])
            changes.append(("schedules", change["id"], schedule))

    def lease_acquire(self, name: str, owner: str, now: float, ttl: float) -> str:
        with self._locked() as changes:
            lease = self._state["leases"].get(name)
            if lease is None or lease["owner"] == owner or lease["expires_at"] <= now:
                changes.append(("leases", name, {"owner": owner, "expires_at": now + ttl}))
                return owner
            return str(lease["owner"])

    def lease_release(self, name: str, owner: str) -> None:
        with self._locked() as changes:
            lease = self._state["leases"].get(name)
            if lease is not None and lease["owner"] == owner:
                changes.append(("leases", name, None))

    def ended_since(self, since: float, limit: int) -> list[Record]:
        with self._locked(write=False):
            runs = [{"pipeline": j["pipeline"], "queue": j["queue"], "status": j["status"],
                     "started_at": j.get("started_at"), "ended_at": j["ended_at"]}
                    for j in self._state["jobs"].values()
                    if j["status"] in ENDED and (j.get("ended_at") or 0) >= since]
        runs.sort(key=lambda r: r["ended_at"], reverse=True)
        return runs[:limit]
