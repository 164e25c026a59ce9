"""SQLite under contention: 4 producer processes enqueue 5,000 jobs each into one SQLite
file while 3 workers take and finish jobs from it (FPQ_SOAK=1: 25,000 each).

Every process fights for the one write lock: producers insert, workers claim, extend,
finish and run maintenance. Nothing may be lost or doubled: exactly 20,000 jobs stored,
each acknowledged id finished, each job run exactly once (no worker was killed, so a
second run would be a double take). And "database is locked" must never reach a user:
the stderr of every producer and worker is searched for it and for any other SQLite
busy error.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from chaoslib import (OK_PIPELINE, OK_YAML, SOAK, Lane, Workers, enqueue_tool,
                      execution_counts, report, sqlite_statuses, wait_until)
from projects import make_project

PRODUCERS = 4
PER_PRODUCER = 25_000 if SOAK else 5_000
WORKERS = 3
LOCKED = re.compile(r"database is locked|database table is locked|SQLITE_BUSY|"
                    r"SQLITE_LOCKED|busy", re.IGNORECASE)


@pytest.mark.timeout(3600 if SOAK else 600)
def test_sqlite_producers_and_workers_contend_without_loss_or_locked_errors(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "contention", {"ct_ok": OK_PIPELINE},
                           run_yaml={"ct_ok": OK_YAML})
    log = tmp_path / "executions.log"
    log.touch()
    db = project / ".flowerpower" / "queue.db"
    url = f"sqlite://{db}"
    env = {**os.environ, "FPQ_BACKEND": "sqlite", "FPQ_URL": url}
    tool = enqueue_tool(fpq_bin)
    template = '{"inputs": {"i": %d, "log": "' + str(log) + '"}}'
    lanes = [Lane(tool, "sqlite", url, project, "ct_ok", PER_PRODUCER, k * 1_000_000, template)
             for k in range(PRODUCERS)]
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(fpq_bin, project,
                      [["--count", "2", "--isolation", "none", "--quiet", "--name", f"ct-{i}"]
                       for i in range(WORKERS)], logs, env)
    started = time.monotonic()
    workers.start_all()
    for lane in lanes:
        lane.start()

    def produced() -> bool:
        workers.check()
        return all(lane.reap() or lane.done for lane in lanes)

    wait_until(produced, timeout=1800 if SOAK else 300, what="the producers", every=0.1)
    produce_seconds = time.monotonic() - started
    total = PRODUCERS * PER_PRODUCER
    assert [lane.failures for lane in lanes] == [0] * PRODUCERS, [lane.errors for lane in lanes]
    ids = {job_id for lane in lanes for job_id in lane.acked.values()}
    assert len(ids) == total

    def all_finished() -> bool:
        workers.check()
        got = sqlite_statuses(db)
        return sum(got.get(i) == "finished" for i in ids) == total

    try:
        wait_until(all_finished, timeout=3000 if SOAK else 420, what="every job to finish",
                   every=1)
    finally:
        codes = workers.stop_all()
    elapsed = time.monotonic() - started

    stored = sqlite_statuses(db)
    runs = execution_counts(log)
    numbers = {n for lane in lanes for n in lane.acked}
    doubled = {n: c for n, c in runs.items() if c > 1}
    never = [n for n in numbers if runs[n] == 0]
    stderr = {f"producer {k} run {r}": text for k, lane in enumerate(lanes)
              for r, text in enumerate(lane.stderr)}
    stderr.update({p.name: p.read_text(errors="replace") for p in logs.glob("*.log")})
    locked = {who: LOCKED.findall(text)[:3] for who, text in stderr.items()
              if LOCKED.search(text)}
    report("sqlite contention", {
        "producers": PRODUCERS, "jobs_per_producer": PER_PRODUCER, "workers": WORKERS,
        "stored": len(stored), "finished": sum(s == "finished" for s in stored.values()),
        "lost": len(ids - set(stored)) + len(never), "run_twice": len(doubled),
        "database_is_locked_seen": len(locked),
        "enqueue_rate_per_s": round(total / produce_seconds),
        "jobs_per_s_end_to_end": round(total / elapsed), "seconds": round(elapsed, 1),
    })
    assert len(stored) == total, f"{len(stored)} jobs stored for {total} acknowledged"
    assert not never, f"jobs that never ran: {never[:10]}"
    assert not doubled, f"jobs that ran more than once: {list(doubled.items())[:10]}"
    assert not locked, f"a busy/locked error reached a user: {locked}"
    assert codes == [0] * WORKERS, codes
