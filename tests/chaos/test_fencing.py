"""Never two runs of one job at once, never a run that outlives its worker or its lease.

Scenarios of issue 15, on both backends, each with a real worker (`fpq worker start`),
real executors and a real FlowerPower pipeline that writes a line when a run starts and
when it ends (its pid), so the test sees which process ran what:

- a stale run of a worker with the live worker's name never records its outcome;
- a SIGKILLed worker leaves no executor (and no job process) running;
- Ctrl-Z (SIGTSTP) stops the worker's jobs with it, and a run past its lease is killed
  before it continues;
- a worker cut off from its backend past its lease stops its own jobs;
- a 200 MB result on a busy worker costs no other job its lease;
- a deleted queue.db is noticed by the running worker (sqlite).

FPQ_SOAK=1 (scripts/soak) repeats the short scenarios and sends larger results.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chaoslib import SOAK, children, report, wait_until
from fpqtest import RedisServer
from projects import make_project

ROUNDS = 3 if SOAK else 1
BIG_MB = 200

MARKS = """import os
import time


def outcome(marks: str, ms: int = 1000, size: int = 0) -> str:
    with open(marks, "a") as f:
        f.write(f"start {os.getpid()}\\n")
    time.sleep(ms / 1000)
    with open(marks, "a") as f:
        f.write(f"done {os.getpid()}\\n")
    return "x" * size if size else str(os.getpid())
"""


class Setup:
    """One project on one backend, with the environment its workers and commands use."""

    def __init__(self, tmp_path: Path, backend: str, server: RedisServer | None,
                 fpq_bin: str) -> None:
        self.fpq_bin = fpq_bin
        self.tmp = tmp_path
        self.backend = backend
        self.project = make_project(tmp_path, f"fence_{backend}", {"fence_marks": MARKS})
        self.env = {**os.environ, "FPQ_BACKEND": backend}
        if server is not None:
            self.env["FPQ_URL"] = server.url
        self.server = server
        self.procs: list[subprocess.Popen[bytes]] = []

    def fpq(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.fpq_bin, *args, "--project",
                               str(self.project)], capture_output=True, text=True,
                              env=self.env, timeout=120, check=False)

    def worker(self, fpq_bin: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([fpq_bin, "worker", "start", "--project", str(self.project),
                                 "--name", name, *args], stdout=log, stderr=log, env=self.env)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def enqueue(self, fpq_bin: str, marks: Path, ms: int, size: int = 0,
                retries: int = 1) -> str:
        proc = subprocess.run(
            [fpq_bin, "enqueue", "fence_marks", "--project", str(self.project), "--inputs",
             json.dumps({"marks": str(marks), "ms": ms, "size": size}), "--max-retries",
             str(retries), "--retry-delay", "0"],
            capture_output=True, text=True, env=self.env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def job(self, fpq_bin: str, job_id: str) -> dict[str, Any]:
        proc = subprocess.run([fpq_bin, "status", f"id={job_id}", "--json", "--project",
                               str(self.project)], capture_output=True, text=True,
                              env=self.env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGKILL)
                p.wait()


@pytest.fixture(params=["sqlite", "rq"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    server = request.getfixturevalue("redis_server") if request.param == "rq" else None
    s = Setup(tmp_path, request.param, server, request.getfixturevalue("fpq_bin"))
    yield s
    s.close()


def marks_of(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return [(w, int(p)) for w, p in (line.split() for line in path.read_text().splitlines())]


def alive(pid: int) -> bool:
    """Running or stopped, not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "gone"
    return stat[stat.rindex(")") + 2]


def _stale_round(setup: Setup, fpq_bin: str, round_: int) -> None:
    marks = setup.tmp / f"stale-{round_}.marks"
    a = setup.worker(fpq_bin, "vm.1", "--lease", "3", "--isolation", "none")
    job_id = setup.enqueue(fpq_bin, marks, ms=6000)
    wait_until(lambda: marks_of(marks), 120, "the first run to start", every=0.05)
    a.send_signal(signal.SIGSTOP)
    # A's registration runs out (2 leases), then the name is free for B.
    wait_until(lambda: "vm.1" not in setup.fpq("worker", "list").stdout, 60,
               "the frozen worker's registration to expire")
    b = setup.worker(fpq_bin, "vm.1", "--lease", "3", "--isolation", "none")
    wait_until(lambda: len([m for m in marks_of(marks) if m[0] == "start"]) == 2, 120,
               "the retry to start")
    first, second = (m[1] for m in marks_of(marks) if m[0] == "start")
    wait_until(lambda: ("done", first) in marks_of(marks), 60, "the stale run to end")
    a.send_signal(signal.SIGCONT)
    got = wait_until(lambda: (j := setup.job(fpq_bin, job_id))["status"] == "finished"
                     and j, 120, "the job to finish")
    assert got["result"] == {"outcome": str(second)}, (got, marks_of(marks))
    assert got["attempts"] == 2
    wait_until(lambda: "no longer held by this run" in setup.log("vm.1"), 30,
               "the stale outcome to be refused")
    for p in (a, b):
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    (setup.tmp / "vm.1.log").rename(setup.tmp / f"vm.1-{round_}.log")


@pytest.mark.timeout(600)
def test_a_stale_run_never_records_over_the_live_one(setup: Setup, fpq_bin: str) -> None:
    """Worker A (vm.1) is frozen (SIGSTOP: it can neither renew nor fence) while its run
    goes on; its lease ends, a worker of the same name in another 'container' retries the
    job; A's run ends and A is continued: its outcome must be refused (its execution is
    not the job's any more), and the live run's outcome is the one recorded."""
    for round_ in range(ROUNDS):
        _stale_round(setup, fpq_bin, round_)
    report(f"stale run refused ({setup.backend})", {"rounds": ROUNDS})


def _orphan_round(setup: Setup, fpq_bin: str, isolation: str, round_: int) -> None:
    marks = setup.tmp / f"orphan-{isolation}-{round_}.marks"
    name = f"orphan-{isolation}-{round_}"
    w = setup.worker(fpq_bin, name, "--lease", "3", "--isolation", isolation)
    setup.enqueue(fpq_bin, marks, ms=60_000)
    wait_until(lambda: marks_of(marks), 120, "the run to start", every=0.05)
    executors = children(w.pid)
    assert executors
    run_pid = marks_of(marks)[0][1]
    w.send_signal(signal.SIGKILL)
    w.wait()
    wait_until(lambda: not any(alive(p) for p in [*executors, run_pid]), 30,
               "the executors and the run to die with their worker", every=0.05)
    assert ("done", run_pid) not in marks_of(marks)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("isolation", ["none", "fork"])
def test_a_sigkilled_worker_leaves_no_executor_running(setup: Setup, fpq_bin: str,
                                                       isolation: str) -> None:
    for round_ in range(ROUNDS):
        _orphan_round(setup, fpq_bin, isolation, round_)


def _tstp_round(setup: Setup, fpq_bin: str, round_: int) -> None:
    marks = setup.tmp / f"tstp-{round_}.marks"
    name = f"tstp-{round_}"
    w = setup.worker(fpq_bin, name, "--lease", "3", "--isolation", "fork")
    setup.enqueue(fpq_bin, marks, ms=60_000)
    wait_until(lambda: marks_of(marks), 120, "the run to start", every=0.05)
    run_pid = marks_of(marks)[0][1]
    w.send_signal(signal.SIGTSTP)
    wait_until(lambda: state(w.pid) == "T" and state(run_pid) == "T", 30,
               "the worker and its run to stop", every=0.05)
    time.sleep(4)  # past the 3 s lease, while everything is stopped
    w.send_signal(signal.SIGCONT)
    try:
        wait_until(lambda: not alive(run_pid), 30, "the run past its lease to be killed",
                   every=0.05)
    except AssertionError as exc:  # say what the worker saw
        raise AssertionError(f"{exc}; run {run_pid} is {state(run_pid)}; worker log:\n"
                             f"{setup.log(name)}") from None
    assert ("done", run_pid) not in marks_of(marks)
    # Killed by the fencer or on SIGCONT, whichever ran first after the stop.
    log = setup.log(name)
    assert "killed before it continues" in log or "killing the run" in log, log
    w.send_signal(signal.SIGTERM)
    assert w.wait(60) == 0


@pytest.mark.timeout(300)
def test_ctrl_z_stops_the_jobs_and_a_run_past_its_lease_is_killed(setup: Setup,
                                                                   fpq_bin: str) -> None:
    for round_ in range(ROUNDS):
        _tstp_round(setup, fpq_bin, round_)


@pytest.mark.timeout(300)
def test_a_worker_cut_off_from_its_backend_stops_its_jobs(setup: Setup, fpq_bin: str) -> None:
    """Renewals hang (Redis stopped; the SQLite file locked by another process): the
    worker's fencer stops the run before its lease ends, while the backend is still away."""
    marks = setup.tmp / "cut.marks"
    w = setup.worker(fpq_bin, "cut", "--lease", "3", "--isolation", "none")
    setup.enqueue(fpq_bin, marks, ms=60_000)
    wait_until(lambda: marks_of(marks), 120, "the run to start", every=0.05)
    run_pid = marks_of(marks)[0][1]
    lock: sqlite3.Connection | None = None
    if setup.server is not None:
        assert setup.server.process is not None
        setup.server.process.send_signal(signal.SIGSTOP)
    else:
        lock = sqlite3.connect(str(setup.project / ".flowerpower" / "queue.db"), timeout=30,
                               isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
    try:
        wait_until(lambda: not alive(run_pid), 30, "the worker to stop its own run",
                   every=0.05)
        # Still cut off: the run was stopped by the worker itself, not by anyone else.
        assert "stopping the run before another worker may take the job" in setup.log("cut")
    finally:
        if setup.server is not None and setup.server.process is not None:
            setup.server.process.send_signal(signal.SIGCONT)
        if lock is not None:
            lock.execute("ROLLBACK")
            lock.close()
    w.send_signal(signal.SIGTERM)
    assert w.wait(60) == 0


@pytest.mark.timeout(900)
def test_a_large_result_on_a_busy_worker_loses_no_lease(setup: Setup, fpq_bin: str) -> None:
    """While the worker decodes and stores 200 MB results, its other slot's run keeps its
    lease: every job finishes on its first attempt (a lapsed lease would have been reaped
    by the worker's own maintenance and retried), and nothing runs twice."""
    size = BIG_MB * 1_000_000
    marks = setup.tmp / "big.marks"
    # The default lease (15 s). On SQLite, storing a result holds the database's one write
    # lock, which renewals need too: a 200 MB write must take less than 0.7 of the lease
    # (docs/reliability.md); decoding it no longer matters.
    w = setup.worker(fpq_bin, "big", "--count", "2", "--isolation", "none")
    long_id = setup.enqueue(fpq_bin, marks, ms=20_000, retries=2)
    wait_until(lambda: marks_of(marks), 120, "the long run to start", every=0.05)
    big_ids = [setup.enqueue(fpq_bin, marks, ms=10, size=size, retries=2)
               for _ in range(4 if SOAK else 2)]
    started = time.monotonic()
    for job_id in [long_id, *big_ids]:
        got = wait_until(lambda j=job_id: (r := setup.job(fpq_bin, j))["status"] in
                         ("finished", "failed") and r, 600, "the jobs to end", every=1)
        assert got["status"] == "finished", got.get("error")
        assert got["attempts"] == 1, got
    starts = [m for m in marks_of(marks) if m[0] == "start"]
    assert len(starts) == 1 + len(big_ids), starts  # nothing ran twice
    assert "WorkerLost" not in setup.log("big")
    report(f"large results on a busy worker ({setup.backend})",
           {"result_mb": size // 1_000_000, "seconds": round(time.monotonic() - started, 1)})
    w.send_signal(signal.SIGTERM)
    assert w.wait(120) == 0


@pytest.mark.timeout(300)
def test_a_deleted_queue_db_is_noticed(tmp_path: Path, fpq_bin: str) -> None:
    s = Setup(tmp_path, "sqlite", None, fpq_bin)
    try:
        marks = tmp_path / "db.marks"
        w = s.worker(fpq_bin, "dbw", "--lease", "3")
        first = s.enqueue(fpq_bin, marks, ms=10)
        wait_until(lambda: s.job(fpq_bin, first)["status"] == "finished", 120,
                   "the first job to finish")
        # Deleted as an operator would: the file and its -wal and -shm companions (the
        # worker still holds all three open).
        for path in (s.project / ".flowerpower").glob("queue.db*"):
            path.unlink()
        second = s.enqueue(fpq_bin, marks, ms=10)  # a new file
        wait_until(lambda: s.job(fpq_bin, second)["status"] == "finished", 60,
                   "the worker to run a job of the new file")
        # The next maintenance says so (the take may reopen the file, and run the job,
        # before that tick comes round).
        wait_until(lambda: "was deleted or replaced while open" in s.log("dbw"), 30,
                   "the worker to report the replaced file")
        w.send_signal(signal.SIGTERM)
        assert w.wait(60) == 0
    finally:
        s.close()


def test_a_name_held_by_a_live_worker_is_refused(setup: Setup, fpq_bin: str) -> None:
    w = setup.worker(fpq_bin, "taken", "--lease", "3")
    wait_until(lambda: "taken" in setup.fpq("worker", "list").stdout, 60, "registration")
    second = setup.worker(fpq_bin, "taken", "--lease", "3")
    assert second.wait(60) == 2
    assert "is held by a live worker" in setup.log("taken")
    w.send_signal(signal.SIGTERM)
    assert w.wait(60) == 0


@pytest.mark.timeout(600)
def test_a_stopping_worker_whose_outcome_cannot_be_written_exits(tmp_path: Path,
                                                                 fpq_bin: str,
                                                                 redis_server: RedisServer
                                                                 ) -> None:
    """The last outcome cannot be written (Redis frozen here; a full disk on SQLite takes
    the same path): a SIGTERMed worker tries for a bounded time, then exits, and the job
    is retried when its lease ends."""
    s = Setup(tmp_path, "rq", redis_server, fpq_bin)
    server = redis_server.process
    assert server is not None
    try:
        marks = tmp_path / "full.marks"
        w = s.worker(fpq_bin, "full", "--isolation", "none")
        s.enqueue(fpq_bin, marks, ms=2000)
        wait_until(lambda: marks_of(marks), 120, "the run to start", every=0.05)
        server.send_signal(signal.SIGSTOP)
        wait_until(lambda: len(marks_of(marks)) == 2, 60, "the run to end", every=0.05)
        w.send_signal(signal.SIGTERM)
        w.wait(300)  # raises TimeoutExpired if it never exits
        assert "could not be recorded" in s.log("full"), s.log("full")
    finally:
        server.send_signal(signal.SIGCONT)
        s.close()
