"""Hamilton's noise stays out of a worker's log (issue 12, item 4): its telemetry
deprecation line (once per executor) and its "Oh no an error! ... Join our slack" banner
(on every failure), while the worker's own lines about the jobs, and the failure
itself, are still there. A job's log is its own output (joblog.capture)."""

from __future__ import annotations

import os
from pathlib import Path

from flowerpower_job_queue import joblog
from fpqtest import enqueue, job, run_burst
from projects import make_project

ADD = "def result(x: int = 1) -> int:\n    return x + 1\n"
BOOM = "def result(x: int = 1) -> int:\n    raise ValueError('boom from the pipeline')\n"


def test_hamiltons_telemetry_line_and_banner_do_not_reach_the_log(
        tmp_path: Path, fpq_bin: str) -> None:
    project = make_project(tmp_path, "noise", {"jl_ok": ADD, "jl_boom": BOOM})
    ok = enqueue(fpq_bin, project, "jl_ok")
    bad = enqueue(fpq_bin, project, "jl_boom")
    log = tmp_path / "worker.log"
    for isolation in ("fork", "none"):
        assert run_burst(fpq_bin, project, "--isolation", isolation, log=log) == 0
        if isolation == "fork":
            enqueue(fpq_bin, project, "jl_boom")
    text = log.read_text()
    assert job(fpq_bin, project, ok)["status"] == "finished"
    failed = job(fpq_bin, project, bad)
    assert failed["status"] == "failed" and "boom from the pipeline" in str(failed["error"])
    assert f"job {bad} (jl_boom) failed" in text or bad in text
    assert "Oh no an error" not in text
    assert "join.slack.com" not in text
    assert "disable_telemetry will be deprecated" not in text
    assert "ready in" in text  # the executor still says it started and how long it took


LOUD = ("import sys\n\n\ndef result(x: int = 1) -> int:\n"
        "    print('hello from the pipeline')\n"
        "    sys.stderr.write('to stderr\\n')\n"
        "    sys.stdout.write('A' * (50 * 1024 * 1024) if x == 50 else '')\n"
        "    sys.stdout.write('\\nTHE END\\n')\n"
        "    if x < 0:\n"
        "        raise ValueError('boom after printing')\n"
        "    return x\n")


def test_a_runs_output_is_its_jobs_log_bounded_and_the_worker_prints_none_of_it(
        tmp_path: Path, fpq_bin: str) -> None:
    import json
    import subprocess
    import sys

    from fpqtest import run_fpq

    project = make_project(tmp_path, "logs", {"jl_loud": LOUD})
    plain = enqueue(fpq_bin, project, "jl_loud")
    huge = enqueue(fpq_bin, project, "jl_loud", "--inputs", '{"x": 50}')
    failed = enqueue(fpq_bin, project, "jl_loud", "--inputs", '{"x": -1}')
    log = tmp_path / "worker.log"
    assert run_burst(fpq_bin, project, "--quiet", log=log) == 0
    worker_text = log.read_text(errors="replace")
    assert "hello from the pipeline" not in worker_text and "Running pipeline" not in worker_text
    assert plain not in worker_text and failed not in worker_text  # --quiet: no line per job

    shown = run_fpq(fpq_bin, "logs", plain, project=project)
    assert shown.returncode == 0, shown.stderr
    assert "hello from the pipeline\n" in shown.stdout and "to stderr\n" in shown.stdout
    assert "Running pipeline 'jl_loud'" in shown.stdout  # FlowerPower's own lines

    bad = run_fpq(fpq_bin, "logs", f"id={failed}", project=project)
    assert bad.returncode == 0 and "boom after printing" in bad.stdout
    assert "Oh no an error" not in bad.stdout

    big = run_fpq(fpq_bin, "logs", huge, "--json", project=project)
    record = json.loads(big.stdout)
    assert record["status"] == "finished"
    text = record["log"]
    assert len(text.encode()) <= 64 * 1024
    assert "bytes of output cut" in text and "THE END" in text
    cut = int(text.split("[... ")[1].split(" bytes")[0])
    assert 50 * 1024 * 1024 - 64 * 1024 < cut < 50 * 1024 * 1024

    typer = subprocess.run([sys.executable, "-m", "flowerpower_job_queue", "logs", plain,
                            "--project", str(project)], capture_output=True, text=True,
                           timeout=120, check=False)
    assert typer.returncode == 0 and typer.stdout == shown.stdout

    from flowerpower_job_queue import JobQueueManager

    assert JobQueueManager(project).logs(plain) == shown.stdout
    queued = enqueue(fpq_bin, project, "jl_loud")
    none = run_fpq(fpq_bin, "logs", queued, project=project)
    assert none.returncode == 1 and "has no log" in none.stderr
    assert JobQueueManager(project).logs(queued) is None


def test_each_capture_holds_only_its_own_runs_output_and_leaves_nothing_on_disk() -> None:
    """One spool file serves every job of a process (joblog._spool): each job's log is
    its own output only, and a large print does not stay on disk after its job."""
    with joblog.capture() as first:
        os.write(1, b"x" * 1_000_000)
    assert first.omitted == 1_000_000 - joblog.SEND_HEAD - joblog.SEND_TAIL
    assert joblog._spool is not None
    spool_fd = joblog._spool.fd
    assert os.fstat(spool_fd).st_size == 0  # emptied when the job ended: it wrote a lot
    joblog.prepare()  # idempotent: the spool there is kept
    with joblog.capture() as second:
        os.write(1, b"second\n")
    assert second.text == "second\n" and second.omitted == 0
    assert joblog._spool.fd == spool_fd  # the same file, reused
    assert os.fstat(spool_fd).st_size == len("second\n")  # small: kept, not truncated
    # A forked job process writes to a spool of its own, never at the parent's offset.
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's exit status is the assertion
        ok = False
        try:
            with joblog.capture() as child:
                os.write(1, b"child\n")
            ok = child.text == "child\n" and joblog._spool is not None and \
                joblog._spool.pid == os.getpid()
        finally:
            os._exit(0 if ok else 1)  # never back into pytest
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with joblog.capture() as third:
        os.write(1, b"third\n")
    assert third.text == "third\n"
    # Small outputs share the file, which is emptied once it holds more than SPOOL_KEEP:
    # each capture still holds only its own output, and the file stays bounded.
    chunk = b"y" * 1000 + b"\n"
    for _ in range(2 * joblog.SPOOL_KEEP // len(chunk)):
        with joblog.capture() as each:
            os.write(2, chunk)
        assert each.text == chunk.decode() and each.omitted == 0
        assert os.fstat(spool_fd).st_size <= joblog.SPOOL_KEEP


def test_a_run_that_truncates_its_own_output_still_has_its_log() -> None:
    """A run may open /dev/stdout for writing (O_TRUNC), emptying the spool under the
    earlier jobs' output the capture would skip: its log is still what it wrote."""
    with joblog.capture():
        os.write(1, b"an earlier job's longer output\n")
    with joblog.capture() as truncating:
        with open("/dev/stdout", "w") as out:  # noqa: PTH123 - the path is the point
            out.write("fresh\n")
    assert truncating.text == "fresh\n"
