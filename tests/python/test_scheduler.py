"""The scheduler as processes: three `fpq scheduler`s against one backend (SQLite and
Redis) through a simulated day, and a worker started with --with-scheduler running a
seconds-field schedule end to end on a real FlowerPower project.

The simulated day runs on FPQ_TEST_CLOCK_FILE, the schedules' clock: the test steps it
by one tick at a time and waits until every live scheduler has reported its tick at that
instant (`fpq scheduler --json` prints one line per tick), so the processes run in lock
step with the clock and nothing depends on how fast this machine is. Midway the leader
is killed with SIGKILL; a survivor must take over within the documented bound, lease
TTL + one tick, counted in the simulated clock."""

from __future__ import annotations

import datetime
import json
import os
import re
import select
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import IO, Any

import pytest
from fpqtest import jobs, run_fpq, start_worker, stop, wait_for
from projects import make_project

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
START = 1711800000  # 2024-03-30T12:00:00Z: the day crosses Berlin's spring-forward
DAY = 86400
TICK = 30  # simulated seconds per step
LEASE = 90  # simulated seconds the leader lease lasts
FIRE_ID = re.compile(r"sched-(?P<schedule>[A-Za-z0-9_-]+)-(?P<fire>-?\d+)")


def expected_fires(created: int, end: int) -> dict[str, set[int]]:
    """Every fire in (created, end] of the test's schedules, computed here without the
    engine: UTC cron by arithmetic; Berlin's offsets are whole hours, so its hourly fires
    are UTC's, and the 02:30 that the spring-forward skips fires at 03:00 CEST."""
    span = range(created + 1, end + 1)
    return {
        "five": {t for t in span if t % 300 == 0},
        "seconds": {t for t in span if t % 20 == 0},
        "every7m": {created + k * 420 for k in range(1, (end - created) // 420 + 1)},
        "berlin-hourly": {t for t in span if t % 3600 == 0},
        "berlin-0230": {1711846800} & set(span),  # 2024-03-31T01:00:00Z
    }


class Scheduler:
    """One `fpq scheduler --json` process, read a tick at a time."""

    def __init__(self, fpq: str, project: Path, name: str, env: dict[str, str], log: Path):
        self.name = name
        self.log = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [fpq, "scheduler", "--project", str(project), "--name", name, "--json",
             "--tick", f"{TICK}s", "--lease-ttl", f"{LEASE}s"],
            stdout=subprocess.PIPE, stderr=self.log, env=env, text=True)
        self.ticks: list[dict[str, Any]] = []

    def tick_at(self, now: int) -> dict[str, Any]:
        """The tick this scheduler did at simulated time `now` (its next line)."""
        out: IO[str] = self.proc.stdout  # type: ignore[assignment]
        # A hang guard, not a time assertion: a healthy tick takes milliseconds.
        ready, _, _ = select.select([out], [], [], 120)
        line = out.readline() if ready else ""
        if not line:
            raise AssertionError(f"{self.name} printed no tick at {now} (exit "
                                 f"{self.proc.poll()}); see {self.log.name}")
        tick = dict(json.loads(line))
        assert tick["event"] == "tick" and tick["now"] == now, tick
        self.ticks.append(tick)
        return tick

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> dict[str, Any] | None:
        """Stops it with SIGTERM; returns its final totals line (None if it was killed).
        A clean stop exits 0: under ASan that also says nothing leaked."""
        totals = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rest, _ = self.proc.communicate(timeout=60)
            for line in rest.splitlines():
                if '"stopped"' in line:
                    totals = json.loads(line)
            assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}"
        self.log.close()
        return totals


def run_simulated_day(tmp_path: Path, fpq: str, env: dict[str, str]) -> dict[str, Any]:
    project = make_project(tmp_path, "simday", {"d_add": ADD})
    clock = tmp_path / "clock"
    clock.write_text(str(START))
    env = dict(env, FPQ_TEST_CLOCK_FILE=str(clock))

    def fpq_cli(*args: str) -> str:
        proc = subprocess.run([fpq, *args, "--project", str(project)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    for sid, args in {
        "five": ["--schedule", "*/5 * * * *"],
        "seconds": ["--schedule", "*/20 * * * * *", "--no-coalesce"],
        "every7m": ["--schedule", "every 7m"],
        "berlin-hourly": ["--schedule", "0 * * * *", "--timezone", "Europe/Berlin"],
        "berlin-0230": ["--schedule", "30 2 * * *", "--timezone", "Europe/Berlin"],
    }.items():
        fpq_cli("schedule", "d_add", "--id", sid, *args)

    schedulers = [Scheduler(fpq, project, f"sched-{i}", env, tmp_path / f"sched-{i}.log")
                  for i in range(3)]
    killed: dict[str, Any] = {}
    try:
        now = START
        live = list(schedulers)
        for s in live:
            s.tick_at(now)
        while now < START + DAY:
            now += TICK
            tmp = clock.with_suffix(".tmp")
            tmp.write_text(str(now))
            os.replace(tmp, clock)  # the schedulers read it whole, old or new
            ticks = {s.name: s.tick_at(now) for s in live}
            leaders = [name for name, t in ticks.items() if t["leader"]]
            assert len(leaders) <= 1, (now, leaders)
            if killed and "handover" not in killed and leaders:
                killed["handover"] = now - killed["at"]
                killed["new_leader"] = leaders[0]
            if not killed and now >= START + DAY // 2 and leaders:
                victim = next(s for s in live if s.name == leaders[0])
                victim.kill()  # right after its tick: it renewed the lease at `now`
                live.remove(victim)
                killed.update(name=victim.name, at=now)
    finally:
        totals = [s.close() for s in schedulers]

    found = json.loads(fpq_cli("status", "d_add", "--json", "--limit", "100000"))
    ids = [j["id"] for j in found]
    by_schedule: dict[str, list[int]] = {}
    for job_id in ids:
        m = FIRE_ID.fullmatch(job_id)
        assert m, job_id
        by_schedule.setdefault(m["schedule"], []).append(int(m["fire"]))
    schedules = {s["id"]: s for s in json.loads(fpq_cli("schedules", "list", "--json"))}
    return {"expected": expected_fires(START, START + DAY), "by_schedule": by_schedule,
            "ids": ids, "schedulers": schedulers, "totals": totals, "killed": killed,
            "schedules": schedules}


def check_simulated_day(day: dict[str, Any]) -> None:
    expected, by_schedule = day["expected"], day["by_schedule"]
    total = sum(len(v) for v in expected.values())
    enqueued = sum(t["enqueued"] for s in day["schedulers"] for t in s.ticks)
    duplicates = sum(t["duplicates"] for s in day["schedulers"] for t in s.ticks)
    print(f"\nsimulated day: {total} fires expected, {len(day['ids'])} jobs, {enqueued} "
          f"enqueued by the schedulers, {duplicates} duplicate fires refused; leader "
          f"{day['killed']['name']} killed at +{day['killed']['at'] - START} s, "
          f"{day['killed']['new_leader']} took over {day['killed']['handover']} s later "
          f"(bound {LEASE + TICK} s)")
    for sid, fires in expected.items():
        got = by_schedule.get(sid, [])
        assert len(got) == len(set(got)), f"{sid}: a fire enqueued twice"
        assert set(got) == fires, (sid, sorted(set(fires) - set(got))[:5],
                                   sorted(set(got) - fires)[:5])
        record = day["schedules"][sid]
        assert (record["fired"], record["skipped"]) == (len(fires), 0), record
    assert len(day["ids"]) == len(set(day["ids"])) == total
    assert enqueued == total  # every fire enqueued exactly once, across all schedulers
    survivors = [t for t in day["totals"] if t is not None]
    assert len(survivors) == 2 and sum(t["enqueued"] for t in survivors) <= total
    assert 0 < day["killed"]["handover"] <= LEASE + TICK
    assert day["killed"]["new_leader"] != day["killed"]["name"]


def test_three_schedulers_on_sqlite_enqueue_every_fire_of_a_day_once(
        tmp_path: Path, fpq_bin: str) -> None:
    check_simulated_day(run_simulated_day(tmp_path, fpq_bin, dict(os.environ)))


def test_three_schedulers_on_redis_enqueue_every_fire_of_a_day_once(
        tmp_path: Path, fpq_bin: str, redis_server: Any) -> None:
    env = dict(os.environ, FPQ_BACKEND="rq", FPQ_URL=redis_server.url)
    check_simulated_day(run_simulated_day(tmp_path, fpq_bin, env))


# ---- end to end ------------------------------------------------------------------------------

def test_a_worker_with_scheduler_runs_a_seconds_schedule_repeatedly(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "e2e", {"e_tick": ADD})
    proc = run_fpq(fpq_bin, "schedule", "e_tick", "--schedule", "*/2 * * * * *", "--id",
                   "every2s", "--inputs", '{"x": 41}', project=project)
    assert proc.returncode == 0, proc.stderr
    log = tmp_path / "worker.log"
    worker = start_worker(fpq_bin, project, "--with-scheduler", "--isolation", "none", log=log)
    try:
        def three_finished() -> list[Any] | None:
            done = [j for j in jobs(fpq_bin, project, "e_tick") if j["status"] == "finished"]
            return done if len(done) >= 3 else None

        finished = wait_for(three_finished, timeout=180, what="three scheduled runs to finish")
    finally:
        assert stop(worker) == 0, log.read_text()
    fires = [int(FIRE_ID.fullmatch(j["id"])["fire"]) for j in jobs(fpq_bin, project, "e_tick")]
    assert len(fires) == len(set(fires))  # each fire once
    assert all(f % 2 == 0 for f in fires)  # on the schedule's even seconds
    assert all(j["result"] == {"result": 42} for j in finished)
    # Results are readable by pipeline name: the newest run's, through the CLI and Python.
    proc = run_fpq(fpq_bin, "result", "e_tick", "--json", project=project)
    newest = json.loads(proc.stdout)
    assert newest["id"].startswith("sched-every2s-")
    from flowerpower import FlowerPowerProject

    import flowerpower_job_queue  # noqa: F401

    p = FlowerPowerProject.load(str(project))
    statuses = Counter(j["status"] for j in p.get_queue_status("e_tick", limit=100))
    assert statuses["finished"] >= 3
    done = next(j for j in p.get_queue_status("e_tick", limit=100) if j["status"] == "finished")
    assert p.result(id=done["id"]) == {"result": 42}
    text = log.read_text()
    assert "leading: firing schedules" in text
    assert "gave up the leader lease" in text  # a clean stop hands the lease on


# ---- a per-second schedule with a healthy leader ---------------------------------------------

# Fires counted; scripts/soak sets 600 (ten minutes). Not a time limit: the test waits
# for this many fires, however long the machine takes, and checks none was lost.
PER_SECOND = int(os.environ.get("FPQ_SCHED_PER_SECOND", "25"))


def run_per_second(tmp_path: Path, fpq: str) -> None:
    project = make_project(tmp_path, "persec", {"p_tick": ADD})
    run_fpq(fpq, "schedule", "p_tick", "--schedule", "* * * * * *", "--id", "persec",
            project=project, check=True)

    def schedule() -> dict[str, Any]:
        out = run_fpq(fpq, "schedules", "list", "--json", project=project, check=True).stdout
        return next(s for s in json.loads(out) if s["id"] == "persec")

    first = int(datetime.datetime.fromisoformat(schedule()["next_fire"]).timestamp())
    log = tmp_path / "scheduler.log"
    with open(log, "ab") as err:
        proc = subprocess.Popen([fpq, "scheduler", "--project", str(project), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        # A hang guard, not a time assertion: the count decides, not the clock.
        wait_for(lambda: schedule()["fired"] >= PER_SECOND, timeout=3 * PER_SECOND + 120,
                 what=f"{PER_SECOND} fires", interval=0.5)
    finally:
        assert stop(proc) == 0, log.read_text()
    info = schedule()
    fires = sorted(int(FIRE_ID.fullmatch(j["id"])["fire"])
                   for j in jobs(fpq, project, "p_tick", limit=PER_SECOND + 1000))
    # Every second from the first fire on became one job: none merged, none skipped.
    assert fires[:PER_SECOND] == list(range(first, first + PER_SECOND)), log.read_text()
    assert fires == list(range(first, first + len(fires)))
    assert info["skipped"] == 0 and info["fired"] == len(fires)


@pytest.mark.timeout(3 * PER_SECOND + 300)  # the ten-minute soak outlasts the default
def test_a_per_second_schedule_loses_no_fire_on_sqlite(tmp_path: Path, fpq_bin: str) -> None:
    run_per_second(tmp_path, fpq_bin)


@pytest.mark.timeout(3 * PER_SECOND + 300)
def test_a_per_second_schedule_loses_no_fire_on_redis(
        tmp_path: Path, fpq_bin: str, redis_server: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPQ_BACKEND", "rq")
    monkeypatch.setenv("FPQ_URL", redis_server.url)
    run_per_second(tmp_path, fpq_bin)
