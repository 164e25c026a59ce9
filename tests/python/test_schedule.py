"""Schedules through the `fpq` command and the Python API: bad expressions are refused at
`schedule` time (exit 2, the message names the field, nothing written), schedules are
listed, paused, resumed, removed and their next fires shown, a run config's `schedule`
is honoured, and `fpq scheduler --once` turns a due fire into its one job.

Times that matter are set through FPQ_TEST_CLOCK_FILE, the schedules' clock; nothing
here sleeps or times anything."""

from __future__ import annotations

import datetime as dt
import json
import os
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from fpqtest import jobs, run_fpq
from projects import make_project

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
T0 = 1711800000  # 2024-03-30T12:00:00Z, a whole hour


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "sched", {"s_add": ADD})


@pytest.fixture
def clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The schedules' clock for every fpq process (and this one), set to T0."""
    path = tmp_path / "clock"
    path.write_text(str(T0))
    monkeypatch.setenv("FPQ_TEST_CLOCK_FILE", str(path))
    return path


def schedule(fpq: str, project: Path, *args: str) -> str:
    proc = run_fpq(fpq, "schedule", "s_add", *args, project=project, check=True)
    return proc.stdout.strip()


def listed(fpq: str, project: Path) -> list[Any]:
    proc = run_fpq(fpq, "schedules", "list", "--json", project=project, check=True)
    return list(json.loads(proc.stdout))


# ---- refused at schedule time -----------------------------------------------------------

@pytest.mark.parametrize(("expression", "named"), [
    ("60 * * * *", "minute field '60'"),
    ("*/0 * * * *", "minute field '*/0'"),
    ("* * 31 2 *", "day-of-month field '31'"),
    ("0 0 * JANUARY *", "month field 'JANUARY'"),
    ("0 0 * * FUNDAY", "day-of-week field 'FUNDAY'"),
    ("* * * * * * *", "got 7"),
    ("", "empty expression"),
])
def test_a_bad_expression_is_refused_naming_its_field(
        project: Path, fpq_bin: str, expression: str, named: str) -> None:
    proc = run_fpq(fpq_bin, "schedule", "s_add", "--schedule", expression, project=project)
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr
    assert proc.stderr.count("\n") == 1  # one line
    assert proc.stdout == ""
    assert not (project / ".flowerpower").exists()  # nothing written


def test_other_bad_input_is_refused_too(project: Path, fpq_bin: str) -> None:
    cases = [
        (["--schedule", "@daily", "--timezone", "Mars/Base"], "Mars/Base"),
        (["--schedule", "@daily", "--id", "no spaces"], "--id 'no spaces'"),
        (["--schedule", "@daily", "--priority", "urgent"], "urgent"),
        (["--schedule", "@daily", "--misfire-grace", "soon"], "--misfire-grace"),
        (["--schedule", "at 2001-01-01T00:00:00Z"], "never fires again"),
        ([], "give --schedule"),
    ]
    for args, named in cases:
        proc = run_fpq(fpq_bin, "schedule", "s_add", *args, project=project)
        assert proc.returncode == 2, (args, proc.stderr)
        assert named in proc.stderr, (args, proc.stderr)
    proc = run_fpq(fpq_bin, "schedule", "no_such", "--schedule", "@daily", project=project)
    assert proc.returncode == 2
    assert "no_such" in proc.stderr
    assert not (project / ".flowerpower").exists()


# ---- the command line --------------------------------------------------------------------

def test_schedules_are_listed_paused_resumed_and_removed(
        project: Path, fpq_bin: str, clock: Path) -> None:
    sid = schedule(fpq_bin, project, "--schedule", "30 2 * * *", "--timezone", "Europe/Berlin",
                   "--id", "nightly", "--inputs", '{"x": 41}', "--priority", "high",
                   "--misfire-grace", "10m", "--no-coalesce")
    assert sid == "nightly"
    other = schedule(fpq_bin, project, "--schedule", "*/5 * * * *")
    assert len(other) == 36  # a UUID
    [first, second] = sorted(listed(fpq_bin, project), key=lambda s: s["id"] != "nightly")
    assert first["id"] == "nightly"
    assert first["trigger"] == "30 2 * * *"
    assert first["timezone"] == "Europe/Berlin"
    assert first["run"] == {"inputs": {"x": 41}}
    assert first["priority"] == "high"
    assert first["misfire_grace"] == 600
    assert first["coalesce"] is False
    assert first["state"] == "active"
    # 02:30 does not exist in Berlin on 2024-03-31: it fires when the gap ends, 03:00 CEST.
    assert first["next_fire"] == "2024-03-31T01:00:00.000000Z"
    assert second["next_fire"] == "2024-03-30T12:05:00.000000Z"
    text = run_fpq(fpq_bin, "schedules", "list", project=project, check=True).stdout
    assert "nightly" in text and "2024-03-31 03:00:00 +02:00" in text

    proc = run_fpq(fpq_bin, "schedules", "next", "nightly", "-n", "3", "--json", project=project,
                   check=True)
    assert json.loads(proc.stdout) == ["2024-03-31T01:00:00.000000Z",
                                       "2024-04-01T00:30:00.000000Z",
                                       "2024-04-02T00:30:00.000000Z"]
    proc = run_fpq(fpq_bin, "schedules", "next", "nightly", "-n", "2", project=project, check=True)
    assert proc.stdout.split("\n")[:2] == ["2024-03-31 03:00:00 +02:00",
                                           "2024-04-01 02:30:00 +02:00"]

    assert run_fpq(fpq_bin, "schedules", "pause", "nightly", project=project).returncode == 0
    assert {s["id"]: s["state"] for s in listed(fpq_bin, project)}["nightly"] == "paused"
    clock.write_text(str(T0 + 3 * 86400))  # resumed three days later: from then on
    assert run_fpq(fpq_bin, "schedules", "resume", "nightly", project=project).returncode == 0
    resumed = {s["id"]: s for s in listed(fpq_bin, project)}["nightly"]
    assert resumed["state"] == "active"
    assert resumed["next_fire"] == "2024-04-03T00:30:00.000000Z"

    proc = run_fpq(fpq_bin, "schedules", "remove", "nightly", "--json", project=project)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"id": "nightly", "ok": True}
    assert [s["id"] for s in listed(fpq_bin, project)] == [other]
    for command in ("remove", "pause", "resume", "next"):
        proc = run_fpq(fpq_bin, "schedules", command, "nightly", project=project)
        assert proc.returncode == 1, command
        assert "schedule 'nightly' not found" in proc.stderr


def test_the_same_id_replaces_a_schedule(project: Path, fpq_bin: str, clock: Path) -> None:
    schedule(fpq_bin, project, "--schedule", "@hourly", "--id", "rep")
    schedule(fpq_bin, project, "--schedule", "@daily", "--id", "rep", "--inputs", '{"x": 2}')
    [only] = listed(fpq_bin, project)
    assert (only["id"], only["trigger"], only["run"]) == ("rep", "@daily", {"inputs": {"x": 2}})
    assert only["next_fire"] == "2024-03-31T00:00:00.000000Z"


def test_a_run_configs_schedule_is_used_when_none_is_given(
        project: Path, fpq_bin: str, clock: Path) -> None:
    config = json.dumps({"schedule": "*/10 * * * *", "inputs": {"x": 9}, "priority": "low",
                         "retry": {"max_retries": 2}})
    sid = schedule(fpq_bin, project, "--run-config", config)
    [s] = listed(fpq_bin, project)
    assert s["id"] == sid
    assert (s["trigger"], s["priority"], s["max_retries"]) == ("*/10 * * * *", "low", 2)
    assert s["run"] == {"inputs": {"x": 9}}  # the schedule is not a run option
    schedule(fpq_bin, project, "--run-config", config, "--schedule", "@daily", "--id", "mine")
    assert {x["id"]: x["trigger"] for x in listed(fpq_bin, project)}["mine"] == "@daily"


def test_scheduler_once_turns_a_due_fire_into_its_one_job(
        project: Path, fpq_bin: str, clock: Path) -> None:
    sid = schedule(fpq_bin, project, "--schedule", "*/5 * * * *", "--id", "five",
                   "--inputs", '{"x": 5}')
    proc = run_fpq(fpq_bin, "scheduler", "--once", "--json", project=project)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["enqueued"] == 0  # not due yet
    clock.write_text(str(T0 + 300))
    for _ in range(2):  # a second scheduler at the same instant finds nothing left to do
        proc = run_fpq(fpq_bin, "scheduler", "--once", "--json", project=project)
        assert proc.returncode == 0, proc.stderr
    found = jobs(fpq_bin, project, "s_add")
    assert [j["id"] for j in found] == [f"sched-{sid}-{T0 + 300}"]
    assert found[0]["run"] == {"inputs": {"x": 5}}
    assert found[0]["status"] == "queued"
    [s] = listed(fpq_bin, project)
    assert (s["fired"], s["skipped"], s["last_fire"]) == (1, 0, "2024-03-30T12:05:00.000000Z")


def test_help_shows_examples(fpq_bin: str) -> None:
    for args in (["schedule", "--help"], ["schedules", "--help"], ["scheduler", "--help"]):
        proc = run_fpq(fpq_bin, *args)
        assert proc.returncode == 0
        assert "Example" in proc.stdout
    assert "--with-scheduler" in run_fpq(fpq_bin, "worker", "start", "--help").stdout
    assert "schedule PIPELINE" in run_fpq(fpq_bin, "--help").stdout
    proc = run_fpq(fpq_bin, "scheduler", "--tick", "5s", "--lease-ttl", "6s")
    assert proc.returncode == 2
    assert "at least two ticks" in proc.stderr


# ---- Python --------------------------------------------------------------------------------

def test_the_python_api_round_trip(project: Path, clock: Path) -> None:
    from flowerpower import FlowerPowerProject

    import flowerpower_job_queue  # noqa: F401 - attaches the methods
    from flowerpower_job_queue import InvalidInput, JobNotFound, QueueRunConfig

    p = FlowerPowerProject.load(str(project))
    sid = p.schedule("s_add", schedule_id="py-nightly", timezone="Europe/Berlin",
                     inputs={"x": 1}, misfire_grace=dt.timedelta(minutes=5), coalesce=False)
    assert sid == "py-nightly"
    [s] = p.list_schedules()
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert s["trigger"] == "0 2 * * *"  # the default: every night at 02:00
    assert s["next_fire"] == dt.datetime(2024, 3, 31, 3, 0, tzinfo=berlin)  # DST gap
    assert (s["misfire_grace"], s["coalesce"], s["run"]) == (300.0, False, {"inputs": {"x": 1}})
    runs = p.next_runs("py-nightly", 3)
    assert [r.isoformat() for r in runs] == ["2024-03-31T03:00:00+02:00",
                                            "2024-04-01T02:00:00+02:00",
                                            "2024-04-02T02:00:00+02:00"]

    # A QueueRunConfig's schedule and priority are honoured; explicit arguments win.
    cfg = QueueRunConfig(inputs={"x": 5}, schedule="*/5 * * * *", priority="high")
    from_cfg = p.schedule("s_add", cfg)
    got = p.job_queue.get_schedule(from_cfg)
    assert (got["trigger"], got["priority"], got["run"]) == ("*/5 * * * *", "high",
                                                             {"inputs": {"x": 5}})
    explicit = p.job_queue.get_schedule(
        p.schedule("s_add", cfg, schedule="@hourly", priority="low"))
    assert (explicit["trigger"], explicit["priority"]) == ("@hourly", "low")

    p.pause_schedule("py-nightly")
    assert p.job_queue.get_schedule("py-nightly")["state"] == "paused"
    p.resume_schedule("py-nightly")
    assert p.job_queue.get_schedule("py-nightly")["state"] == "active"
    p.remove_schedule("py-nightly")
    with pytest.raises(JobNotFound):
        p.next_runs("py-nightly")
    with pytest.raises(InvalidInput, match="minute field '60'"):
        p.schedule("s_add", schedule="60 * * * *")
    with pytest.raises(InvalidInput, match="hour field '25'"):
        p.schedule("s_add", schedule="0 25 * * *")
    with pytest.raises(InvalidInput, match="no_such"):
        p.schedule("no_such")
    with pytest.raises(InvalidInput, match="misfire_grace"):
        p.schedule("s_add", misfire_grace=-1)
    assert len(p.list_schedules()) == 2  # nothing was stored by the refused ones


def test_next_fires_and_validate_trigger_need_no_backend() -> None:
    from flowerpower_job_queue import InvalidInput, _native

    assert _native.next_fires("*/20 * * * *", n=3, after=T0) == [T0 + 1200, T0 + 2400,
                                                                 T0 + 3600]
    assert _native.next_fires("every 7m", n=2, after=T0, anchor=T0 + 1) == [T0 + 1, T0 + 421]
    assert _native.next_fires("at 2024-03-30T12:30:00Z", n=5, after=T0) == [T0 + 1800]
    _native.validate_trigger("*/15 9-17 * * MON-FRI", "Europe/Berlin")
    with pytest.raises(InvalidInput, match="day-of-month field '31'"):
        _native.validate_trigger("* * 31 2 *")
    assert os.environ.get("FPQ_TEST_CLOCK_FILE") is None  # no clock needed for these
