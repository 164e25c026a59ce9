"""``flowerpower queue ...`` and ``flowerpower-queue ...`` as a user meets them: the REAL
installed commands in subprocesses (FlowerPower's own ``flowerpower`` from PyPI,
unmodified, reached through the start-up hook this package installs), real projects,
real workers. No mocks.

Also the hook's promises: it can be turned off, a broken extension never stops
``flowerpower`` (and is reported only under FPQ_DEBUG=1), and start-up imports nothing
heavy. Its start-up cost is measured and printed, not asserted (tests never assert
wall-clock times)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from fpqtest import run_fpq
from projects import make_project

BIN = Path(sys.executable).parent
FLOWERPOWER = str(BIN / "flowerpower")
QUEUE = str(BIN / "flowerpower-queue")
ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["enqueue", "status", "result", "cancel", "requeue", "metrics", "worker start",
            "worker stop", "worker list"]


def env(**extra: str) -> dict[str, str]:
    """The environment of a command: wide output, no queue settings of the machine."""
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("FPQ_") or k in ("FPQ_PYTHON", "FPQ_TEST_FPQ_BIN")}
    out.update(COLUMNS="200", NO_COLOR="1", PATH=f"{BIN}:{os.environ['PATH']}")
    out.update(extra)
    return out


def run(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Runs a command to its end (at most 180 s) with env(**extra)."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=180,
                          env=env(**extra), check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "typer", {
        "tc_add": "def result(x: int = 1) -> int:\n    return x + 1\n",
        "tc_boom": "def result(x: int = 1) -> int:\n    raise ValueError('no good')\n",
    })


# ---- help and completion ----------------------------------------------------------------


def test_flowerpower_queue_help_lists_the_commands() -> None:
    proc = run(FLOWERPOWER, "queue", "--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("enqueue", "status", "result", "cancel", "requeue", "worker", "metrics"):
        assert f" {command} " in proc.stdout
    assert "Exit codes" in proc.stdout
    top = run(FLOWERPOWER, "--help")
    assert top.returncode == 0 and " queue " in top.stdout and " pipeline " in top.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    proc = run(QUEUE, *command.split(), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: flowerpower-queue " in proc.stdout
    assert "Example" in proc.stdout and "flowerpower queue " + command.split()[0] in proc.stdout
    assert "--project" in proc.stdout and "--backend" in proc.stdout


def test_shell_completion_knows_commands_pipelines_and_choices(project: Path) -> None:
    def complete(words: str) -> list[str]:
        proc = subprocess.run([QUEUE], capture_output=True, text=True, cwd=project, timeout=60,
                              env=env(_FLOWERPOWER_QUEUE_COMPLETE="complete_bash",
                                      COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1)),
                              check=False)
        return proc.stdout.split()

    assert complete("flowerpower-queue enq") == ["enqueue"]
    assert complete("flowerpower-queue enqueue tc_") == ["tc_add", "tc_boom"]
    assert complete("flowerpower-queue enqueue tc_add --priority h") == ["high"]
    assert "--install-completion" in run(QUEUE, "--help").stdout


# ---- a round trip ------------------------------------------------------------------------


def test_enqueue_worker_result_round_trip_in_both_commands(project: Path, fpq_bin: str) -> None:
    p = ["--project", str(project)]
    queued = run(FLOWERPOWER, "queue", "enqueue", "tc_add", "--inputs", '{"x": 41}', *p)
    assert queued.returncode == 0, queued.stderr
    job_id = queued.stdout.strip()
    assert len(job_id) == 36 and queued.stdout == job_id + "\n"
    waiting = run(QUEUE, "result", f"id={job_id}", *p)
    assert waiting.returncode == 1 and "is queued: no result yet" in waiting.stderr
    # `worker start` becomes the engine's worker (exec), which runs the job and exits.
    worker = run(FLOWERPOWER, "queue", "worker", "start", "--burst", "--quiet", *p)
    assert worker.returncode == 0, worker.stderr[-3000:]
    done = run(FLOWERPOWER, "queue", "result", f"id={job_id}", *p)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"result": 42}
    twin = run(QUEUE, "result", f"id={job_id}", *p)
    assert (twin.returncode, twin.stdout) == (0, done.stdout)
    # --json has fpq's shapes.
    mine = json.loads(run(QUEUE, "status", f"id={job_id}", "--json", *p).stdout)
    theirs = json.loads(run_fpq(fpq_bin, "status", f"id={job_id}", "--json",
                                project=project).stdout)
    assert mine == theirs
    assert mine["status"] == "finished" and mine["result"] == {"result": 42}
    listed = json.loads(run(QUEUE, "status", "tc_add", "--json", *p).stdout)
    assert listed == json.loads(run_fpq(fpq_bin, "status", "tc_add", "--json",
                                        project=project).stdout)
    by_name = run(QUEUE, "result", "tc_add", "--json", *p)
    assert by_name.returncode == 0 and json.loads(by_name.stdout)["id"] == job_id
    # The outcome, not the whole record, and the same from both command lines.
    outcome = json.loads(by_name.stdout)
    assert list(outcome) == ["id", "pipeline", "status", "ended_at", "result", "error"]
    assert outcome == json.loads(run_fpq(fpq_bin, "result", "tc_add", "--json",
                                         project=project).stdout)
    table = run(QUEUE, "status", *p)
    assert table.returncode == 0 and job_id in table.stdout and "finished" in table.stdout
    detail = run(QUEUE, "status", f"id={job_id}", *p)
    assert "status:" in detail.stdout and "finished" in detail.stdout


def test_a_failed_job_prints_its_error_and_exits_1(project: Path) -> None:
    p = ["--project", str(project)]
    job_id = run(QUEUE, "enqueue", "tc_boom", "--max-retries", "0", *p).stdout.strip()
    assert run(QUEUE, "worker", "start", "--burst", "--quiet", *p).returncode == 0
    failed = run(QUEUE, "result", f"id={job_id}", "--wait", "--timeout", "60", *p)
    assert failed.returncode == 1
    assert f"job {job_id} failed: ValueError: no good" in failed.stderr
    assert "Traceback" in failed.stderr
    as_json = run(QUEUE, "result", f"id={job_id}", "--json", *p)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["error"]["type"] == "ValueError"
    requeued = run(QUEUE, "requeue", job_id, "--json", *p)
    assert requeued.returncode == 0 and json.loads(requeued.stdout) == {"id": job_id, "ok": True}
    assert run(QUEUE, "cancel", f"id={job_id}", *p).stdout == job_id + "\n"
    again = run(QUEUE, "cancel", job_id, *p)
    assert again.returncode == 1 and "canceled" in again.stderr


def test_enqueue_options_and_json(project: Path, fpq_bin: str) -> None:
    p = ["--project", str(project)]
    proc = run(QUEUE, "enqueue", "tc_add", "--priority", "high", "--job-id", "cli-opts",
               "--run-config", '{"inputs": {"x": 1}, "retry": {"max_retries": 1}}',
               "--inputs", '{"x": 5}', "--max-retries", "4", "--retry-delay", "2s",
               "--timeout", "5m", "--in", "1h", "--json", *p)
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    assert job == json.loads(run_fpq(fpq_bin, "status", "id=cli-opts", "--json",
                                     project=project).stdout)
    assert (job["id"], job["priority"], job["queue"], job["status"]) == (
        "cli-opts", "high", "high", "scheduled")
    assert job["run"] == {"inputs": {"x": 5}}
    assert (job["max_retries"], job["retry_delay"], job["timeout"]) == (4, 2.0, 300.0)
    at = run(QUEUE, "enqueue", "tc_add", "--at", "2030-01-01T00:00:00+01:00", "--json", *p)
    assert json.loads(at.stdout)["run_at"] == "2029-12-31T23:00:00.000000Z"


# ---- bad input and exit codes ------------------------------------------------------------

BAD = [
    (["enqueue", "tc_add", "--priority", "urgent"], "--priority 'urgent' is not known"),
    (["enqueue", "tc_add", "--inputs", "{not json"], "--inputs is not valid JSON"),
    (["enqueue", "tc_add", "--inputs", "[1, 2]"], "--inputs must be a JSON object"),
    (["enqueue", "a/b"], "pipeline name 'a/b' contains a path separator"),
    (["enqueue", "no_such_pipeline"], "pipeline 'no_such_pipeline' is not in project"),
    (["enqueue", "tc_add", "--job-id", "bad id!"], "job id 'bad id!' has ' ' at position 4"),
    (["enqueue", "tc_add", "--backend", "nosuch"],
     "backend 'nosuch' is not known: expected one of sqlite"),
    (["enqueue", "tc_add", "--max-retries", "-1"], "--max-retries '-1' is not a whole number"),
    (["enqueue", "tc_add", "--timeout", "soon"], "--timeout 'soon' is not a duration"),
    (["enqueue", "tc_add", "--at", "tomorrow"], "--at 'tomorrow' is not an ISO 8601 time"),
    (["enqueue", "tc_add", "--in", "10m", "--at", "2030-01-01T00:00:00Z"],
     "give --at or --in, not both"),
    (["enqueue", "tc_add", "--run-config", '{"executor_typo": 1}'],
     "run option 'executor_typo' is not one"),
    (["enqueue", "tc_add", "--run-config", "@/no/such/file.json"],
     "cannot read /no/such/file.json"),
    (["enqueue", "tc_add", "--inputs", "@/no/such/inputs.json"],
     "--inputs @/no/such/inputs.json: cannot read /no/such/inputs.json"),
    (["enqueue", "tc_add", "--url", "redis://127.0.0.1:1/0", "--backend", "sqlite"],
     "does not fit backend"),
    (["enqueue"], "Missing argument 'PIPELINE'"),
    (["enqueue", "tc_add", "--bogus"], "No such option: --bogus"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["status", "--limit", "0"], "--limit '0' is not a number from 1 to 100000"),
    (["status", "../etc"], "contains a path separator"),
    (["result", "id=bad id"], "job id 'bad id' has ' '"),
    (["result", "tc_add", "--wait", "--timeout", "soon"], "--timeout 'soon' is not a duration"),
    (["cancel", "bad!"], "job id 'bad!' has '!'"),
    (["worker", "stop", "--name", "w", "--all"], "give --name NAME or --all, not both"),
    (["worker", "start", "--count", "0"], "--count '0' is not a number from 1 to 256"),
    (["worker", "start", "--isolation", "thread"], "--isolation 'thread' is not known"),
    (["worker", "start", "--lease", "long"], "--lease 'long' is not a duration"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_exits_2_with_one_clear_line_and_writes_nothing(
        project: Path, args: list[str], message: str) -> None:
    proc = run(QUEUE, *args, "--project", str(project))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0] and lines[0].startswith("flowerpower-queue")
    assert not (project / ".flowerpower" / "queue.db").exists()


def test_exit_codes_for_not_found_not_finished_and_unreachable(project: Path) -> None:
    p = ["--project", str(project)]
    assert run(QUEUE, "result", "id=never-queued", *p).returncode == 1
    assert run(QUEUE, "result", "tc_add", *p).returncode == 1
    assert run(QUEUE, "cancel", "never-queued", *p).returncode == 1
    stop = run(QUEUE, "worker", "stop", "--name", "ghost", *p)
    assert stop.returncode == 1 and "no live worker named 'ghost'" in stop.stderr
    down = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["enqueue", "tc_add"], ["status"], ["metrics"], ["worker", "list"]):
        proc = run(QUEUE, *args, "--url", down, *p)
        assert proc.returncode == 3, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    inside = run(FLOWERPOWER, "queue", "enqueue", "tc_add", "--priority", "urgent", *p)
    expected = ("flowerpower queue enqueue: --priority 'urgent' is not known: expected high, "
                "medium or low (see 'flowerpower queue enqueue --help')")
    assert inside.returncode == 2 and inside.stderr.strip().splitlines() == [expected]


# ---- workers and metrics -------------------------------------------------------------------


def test_worker_start_is_the_engine_worker_and_stops_through_the_backend(
        project: Path, tmp_path: Path, fpq_bin: str) -> None:
    p = ["--project", str(project)]
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen([QUEUE, "worker", "start", "--name", "typer-w1", *p],
                              stdout=log, stderr=log, env=env())
    try:
        deadline = time.monotonic() + 60
        while True:
            listed = json.loads(run(QUEUE, "worker", "list", "--json", *p).stdout)
            if [w for w in listed if w["name"] == "typer-w1"]:
                break
            assert worker.poll() is None and time.monotonic() < deadline, (
                tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        (info,) = [w for w in listed if w["name"] == "typer-w1"]
        assert info["pid"] == worker.pid  # exec: the same process, now the C worker
        assert "typer-w1" in run(QUEUE, "worker", "list", *p).stdout
        metrics = json.loads(run(QUEUE, "metrics", "--json", *p).stdout)
        theirs = json.loads(run_fpq(fpq_bin, "metrics", "--json", project=project).stdout)
        assert _counts(metrics) == _counts(theirs)
        assert "workers: 1 live" in run(QUEUE, "metrics", *p).stdout
        stopped = run(QUEUE, "worker", "stop", "--name", "typer-w1", "--wait", "--json", *p)
        assert stopped.returncode == 0 and json.loads(stopped.stdout) == {"stopped": 1}
        assert worker.wait(60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()


def _counts(metrics: dict[str, Any]) -> Any:
    return (metrics["backend"], [{k: v for k, v in q.items() if not k.endswith("_seconds")}
                                 for q in metrics["queues"]],
            sorted(w["name"] for w in metrics["workers"]))


def test_a_python_adapter_serves_the_command_line(project: Path) -> None:
    (project / "conf" / "job_queue.yml").write_text(
        "backend: jsonl\nbackends:\n  jsonl:\n    adapter: \"jsonl_adapter:JsonlAdapter\"\n")
    extra = {"PYTHONPATH": str(ROOT / "examples" / "adapters")}
    p = ["--project", str(project)]
    job_id = run(QUEUE, "enqueue", "tc_add", "--inputs", '{"x": 9}', *p, **extra).stdout.strip()
    assert (project / ".flowerpower" / "jobs.jsonl").exists()
    assert not (project / ".flowerpower" / "queue.db").exists()
    worker = run(FLOWERPOWER, "queue", "worker", "start", "--burst", *p, **extra)
    assert worker.returncode == 0, worker.stderr[-3000:]
    # Read-only commands import no adapter the conf alone names: --backend trusts it.
    refused = run(QUEUE, "result", f"id={job_id}", *p, **extra)
    assert refused.returncode == 2 and "a read-only command does not load it" in refused.stderr
    p += ["--backend", "jsonl"]
    done = run(QUEUE, "result", f"id={job_id}", *p, **extra)
    assert done.returncode == 0 and json.loads(done.stdout) == {"result": 10}
    metrics = json.loads(run(QUEUE, "metrics", "--json", *p, **extra).stdout)
    assert metrics["backend"] == "jsonl" and metrics["queues"][0]["finished"] == 1
    unknown = run(QUEUE, "status", "--backend", "nosuch", *p[:2], **extra)
    assert unknown.returncode == 2 and "expected one of sqlite, rq, jsonl" in unknown.stderr


# ---- the start-up hook -------------------------------------------------------------------


def test_with_the_hook_disabled_flowerpower_works_without_queue() -> None:
    off = run(FLOWERPOWER, "--help", FPQ_DISABLE_CLI_HOOK="1")
    assert off.returncode == 0, off.stderr
    assert " pipeline " in off.stdout and " queue " not in off.stdout
    assert run(FLOWERPOWER, "queue", "--help", FPQ_DISABLE_CLI_HOOK="1").returncode == 2


def _broken_extensions(tmp_path: Path) -> Path:
    """A distribution on PYTHONPATH whose extensions are broken: a module that does not
    import, an object that is not a Typer app, and a name FlowerPower already has."""
    site = tmp_path / "broken-site"
    info = site / "fpq_broken_ext-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fpq-broken-ext\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[flowerpower.cli_extensions]\n"
        "broken = fpq_no_such_module:app\n"
        "notyper = json:loads\n"
        "pipeline = flowerpower_job_queue.cli:app\n")
    return site


def test_a_broken_extension_never_stops_flowerpower(tmp_path: Path) -> None:
    extra = {"PYTHONPATH": str(_broken_extensions(tmp_path))}
    quiet = run(FLOWERPOWER, "--help", **extra)
    assert quiet.returncode == 0, quiet.stderr
    assert " queue " in quiet.stdout and " broken " not in quiet.stdout
    assert "flowerpower-job-queue" not in quiet.stderr
    loud = run(FLOWERPOWER, "--help", FPQ_DEBUG="1", **extra)
    assert loud.returncode == 0 and " queue " in loud.stdout
    assert "cannot load flowerpower command-line extension 'broken'" in loud.stderr
    assert "ModuleNotFoundError" in loud.stderr
    assert "'notyper' (json:loads): TypeError" in loud.stderr
    assert "'pipeline' is already a flowerpower command" in loud.stderr
    works = run(FLOWERPOWER, "queue", "status", "--help", FPQ_DEBUG="1", **extra)
    assert works.returncode == 0 and "Usage: flowerpower queue status" in works.stdout


def test_start_up_imports_nothing_heavy() -> None:
    code = ("import sys\n"
            "heavy = ('typer', 'click', 'rich', 'flowerpower', 'flowerpower_job_queue', 'yaml',\n"
            "         'importlib.metadata', 'pandas')\n"
            "print([m for m in heavy if m in sys.modules])\n"
            "print(type(sys.meta_path[0]).__module__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env()).stdout.split("\n")
    assert out[:2] == ["[]", "_flowerpower_job_queue_cli_hook"]
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env(FPQ_DISABLE_CLI_HOOK="1")).stdout.split("\n")
    assert off[0] == "[]" and off[1] != "_flowerpower_job_queue_cli_hook"


def test_importing_the_command_line_skips_flowerpower_and_pandas() -> None:
    code = ("import sys, flowerpower_job_queue.cli\n"
            "print([m for m in ('flowerpower', 'pandas', 'numpy', 'rich.table') "
            "if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env()).stdout.strip()
    assert out == "[]"


def test_measure_the_start_up_cost_of_the_hook(tmp_path: Path) -> None:
    """Prints the hook's start-up cost: its line of ``-X importtime``, and 50 runs each of
    ``python -c pass``, taken in turns, with and without the hook's .pth, in a scratch
    virtual environment that sees this one's packages and runs its other .pth files (an
    exact A/B: nothing else differs). Printed, not asserted: timings are the benchmarks'."""
    site = Path(sysconfig.get_paths()["purelib"])
    pth = site / "flowerpower_job_queue_cli_hook.pth"
    assert pth.exists(), "the wheel installs the hook's .pth at the root of site-packages"
    scratch = tmp_path / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                    "--without-pip", str(scratch)], check=True, timeout=120)
    python = str(scratch / "bin" / "python")
    scratch_site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (scratch_site / "a0_fpq_base.pth").write_text(f"{site}\n")  # this venv's packages
    for other in site.glob("*.pth"):
        if other != pth:
            shutil.copy(other, scratch_site / other.name)
    hook = scratch_site / pth.name

    def once() -> tuple[float, float]:
        """Wall time and CPU time (user + system) of one start-up."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True, env=env())
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    without, with_hook = [], []
    for _ in range(50):
        hook.unlink(missing_ok=True)
        without.append(once())
        shutil.copy(pth, hook)
        with_hook.append(once())
    importtime = subprocess.run([python, "-X", "importtime", "-c", "pass"], capture_output=True,
                                text=True, check=True, env=env()).stderr
    line = [x for x in importtime.splitlines() if "_flowerpower_job_queue_cli_hook" in x]
    assert line, importtime
    wall_a, wall_b = (statistics.median(w for w, _ in runs) * 1000
                      for runs in (without, with_hook))
    cpu_a, cpu_b = (statistics.mean(c for _, c in runs) * 1000 for runs in (without, with_hook))
    print(f"\nstart-up hook: {line[0].strip()}\n"
          f"python -c pass, 50 runs each: wall median {wall_a:.2f} ms without the hook, "
          f"{wall_b:.2f} ms with it ({wall_b - wall_a:+.2f} ms); CPU mean {cpu_a:.2f} ms "
          f"without, {cpu_b:.2f} ms with ({cpu_b - cpu_a:+.2f} ms)")


# ---- one help table for both command lines ----------------------------------------------


def test_both_command_lines_take_the_options_of_one_help_table() -> None:
    import typer.main
    from flowerpower_job_queue import _native
    from flowerpower_job_queue.cli import app

    table = _native.cli_help()
    common = {o["flag"] for o in table["common"]} - {"--help"}  # Typer adds its own
    root = typer.main.get_command(app)
    checked = 0
    for name, entry in table.items():
        if name in ("", "common", "version") or not (entry["options"] or entry["common"]):
            continue
        command: Any = root
        for word in name.split():
            command = command.commands[word]  # type: ignore[union-attr]
        if not hasattr(command, "params") or hasattr(command, "commands"):
            continue  # a group: its members are checked
        flags = {opt for p in command.params for opt in p.opts if opt.startswith("-")}
        wanted = {o["flag"] for o in entry["options"]} | (common if entry["common"] else set())
        assert wanted == flags, name
        shown = {p.opts[0]: p.help for p in command.params if p.opts[0].startswith("-")}
        for o in entry["options"]:
            assert shown[o["flag"]] == o["help"], (name, o["flag"])
        checked += 1
    assert checked >= 14
