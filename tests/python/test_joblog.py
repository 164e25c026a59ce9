"""Hamilton's noise stays out of a worker's log (issue 12, item 4): its telemetry
deprecation line (once per executor) and its "Oh no an error! ... Join our slack" banner
(on every failure), while the worker's own lines about the jobs, and the failure
itself, are still there."""

from __future__ import annotations

from pathlib import Path

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
