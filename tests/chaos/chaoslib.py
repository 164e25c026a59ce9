"""Machinery of the chaos tests: producers that can be killed mid-enqueue, workers that can
be killed mid-job, a redis-server that can be killed mid-write, and readers of what the
backends hold afterwards.

A job's proof of life is its number: the pipelines below append the number they were given
to an execution log with one O_APPEND write, so the log says which jobs ran and how often.
A producer is `enqueue_many` (tests/c/tools), which prints each id, line-buffered, as soon
as fpq_enqueue returned: a printed id is an acknowledged enqueue, whatever happens to the
producer the next instant.

Example:
    >>> lane = Lane(tool, "sqlite", url, project, "cx_ok", want=100, base=0,
    ...             template='{"inputs": {"i": %d, "log": "/tmp/log"}}')  # doctest: +SKIP
    >>> lane.start(); lane.kill(); lane.start()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fpqtest import RedisServer

SOAK = os.environ.get("FPQ_SOAK") == "1"
"""The long variants (scripts/soak): more jobs, more kills, bigger backlogs."""

# The execution log: one line per run, written with one O_APPEND write.
_RECORD = '''
import os


def _record(i: int, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{i}\\n".encode())
    os.close(fd)
'''
OK_PIPELINE = _RECORD + '''

def result(i: int, log: str) -> int:
    _record(i, log)
    return i
'''
FAIL_PIPELINE = _RECORD + '''

def result(i: int, log: str) -> int:
    _record(i, log)
    raise ValueError(f"job {i} is designed to fail")
'''
# A killed worker's job comes back through retries: immediate ones, no jitter. The failing
# pipeline has none, so it ends failed whether it raised or its worker died.
OK_YAML = ("run:\n  inputs: {}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
           "  retry: {max_retries: 8, retry_delay: 0, jitter_factor: 0}\n")
FAIL_YAML = ("run:\n  inputs: {}\n  final_vars: [result]\n  executor: {type: synchronous}\n"
             "  retry: {max_retries: 0}\n")


class RestartableRedis(RedisServer):
    """redis-server with AOF on, every write fsynced before the reply (appendfsync
    always), that can be SIGKILLed and started again on the same port and directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, extra=["--appendonly", "yes", "--appendfsync", "always"])
        self.restarts = 0

    def crash(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self, down_for: float = 0.5) -> None:
        """SIGKILL (no shutdown save: only the AOF keeps the data), stay down a moment so
        clients see the outage, start again; returns once it answers PING (after loading
        the AOF)."""
        self.crash()
        time.sleep(down_for)
        self.start()
        self.restarts += 1


def enqueue_tool(fpq_bin: str) -> Path:
    """The enqueue_many producer beside the fpq under test (a build with FPQ_BUILD_TESTS:
    scripts/test and scripts/soak use one); the test is skipped, saying so, without it."""
    tool = Path(fpq_bin).parent / "enqueue_many"
    if not tool.exists():
        import pytest

        pytest.skip(f"no {tool}: run ./scripts/test, or point FPQ_TEST_FPQ_BIN at the fpq "
                    "of a build made with -DFPQ_BUILD_TESTS=ON")
    return tool


def execution_counts(log: Path) -> Counter[int]:
    """How often each job number ran, from the execution log."""
    return Counter(int(line) for line in log.read_text().split())


class Lane:
    """One producer slot: runs enqueue_many for the jobs still owed, again and again
    (after a kill or a backend outage), until `want` enqueues are acknowledged.

    Job numbers are never reused: a process given FIRST..FIRST+COUNT-1 that dies leaves
    that whole range behind (it may have stored one job it did not get to print), and the
    next one starts after it.
    """

    def __init__(self, tool: Path, backend: str, url: str, project: Path, pipeline: str,
                 want: int, base: int, template: str) -> None:
        self.argv = [str(tool), backend, url, str(project), pipeline]
        self.want, self.next_first, self.template = want, base, template
        self.pipeline = pipeline
        self.acked: dict[int, str] = {}
        self.kills = self.failures = self.runs = 0
        self.errors: list[str] = []
        self.stderr: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.started_at = 0.0
        self._reader: threading.Thread | None = None
        self._first = 0
        self._lines: list[str] = []
        self._stderr = ""

    @property
    def done(self) -> bool:
        return len(self.acked) >= self.want and self.proc is None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        count = self.want - len(self.acked)
        if count <= 0 or self.proc is not None:
            return
        self._first, self.next_first = self.next_first, self.next_first + count
        self._lines = []
        self._stderr = ""
        self.proc = subprocess.Popen([*self.argv, str(count), self.template, str(self._first)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.runs += 1
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            self._lines.append(line)
        self._stderr = proc.stderr.read()

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1
            self.reap()

    def reap(self) -> bool:
        """Collects a process that has ended; True if one was collected."""
        if self.proc is None or self.proc.poll() is None:
            return False
        assert self._reader is not None
        self._reader.join()
        complete = [line for line in self._lines if line.endswith("\n")]
        for k, line in enumerate(complete):
            self.acked[self._first + k] = line.strip()
        self.stderr.append(self._stderr)
        if self.proc.returncode not in (0, -signal.SIGKILL):
            self.failures += 1
            self.errors.append(self._stderr.strip()[-300:])
        self.proc = None
        return True


class Workers:
    """`fpq worker start` processes that the test kills (SIGKILL) and restarts."""

    def __init__(self, fpq: str, project: Path, specs: list[list[str]], logs: Path,
                 env: dict[str, str] | None = None) -> None:
        self.fpq, self.project, self.specs, self.logs = fpq, project, specs, logs
        self.env = env
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * len(specs)
        self.kills = self.restarts = 0

    def start(self, i: int) -> None:
        log = open(self.logs / f"worker-{i}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[i] = subprocess.Popen(
            [self.fpq, "worker", "start", "--project", str(self.project), *self.specs[i]],
            stdout=log, stderr=log, env=self.env)
        log.close()

    def start_all(self) -> None:
        for i in range(len(self.specs)):
            self.start(i)

    def kill_and_restart(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1
        self.start(i)
        self.restarts += 1

    def check(self) -> None:
        """Fails the test when a worker has exited by itself: a crash, or bad arguments."""
        for i, p in enumerate(self.procs):
            if p is not None and p.poll() is not None:
                tail = (self.logs / f"worker-{i}.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"worker {i} exited with {p.returncode}:\n{tail}")

    def stop_all(self, timeout: float = 60) -> list[int]:
        """SIGTERM to each, then their exit codes (a worker that hangs is SIGKILLed and
        reported as -9)."""
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = []
        for p in self.procs:
            if p is None:
                continue
            try:
                codes.append(p.wait(timeout))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                codes.append(p.wait())
        return codes

    def log_text(self) -> str:
        logs = sorted(self.logs.glob("worker-*.log"))
        return "".join(f.read_text(errors="replace") for f in logs)


# ---- what the backends hold ----


def sqlite_statuses(db: Path) -> dict[str, str]:
    """id -> status of every job in a SQLite queue, read while workers write (WAL)."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        return dict(conn.execute("SELECT id, status FROM jobs").fetchall())
    finally:
        conn.close()


def rq_statuses(conn: Any, ids: list[str] | None = None) -> dict[str, str]:
    """id -> status of the given jobs (None: every rq:job:* hash) on Redis."""
    if ids is None:
        ids = [k.decode()[len("rq:job:"):] for k in conn.scan_iter("rq:job:*", count=1000)]
    pipe = conn.pipeline(transaction=False)
    for i in ids:
        pipe.hget(f"rq:job:{i}", "status")
    return {i: (s or b"missing").decode() for i, s in zip(ids, pipe.execute())}


def wait_until(condition: Any, timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of a process (the worker's executors)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


FIGURES: list[tuple[str, dict[str, Any]]] = []
"""Figures the tests report; printed at the end of the run (conftest's summary hook)."""


def report(title: str, figures: dict[str, Any]) -> None:
    FIGURES.append((title, figures))
    print(f"\n{title}: {json.dumps(figures)}")
