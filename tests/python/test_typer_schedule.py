"""The Typer CLI's scheduling commands and pass-through flags become the engine's
commands: same output, same exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from projects import make_project
from prometheus_client.parser import text_string_to_metric_families


def queue_cli() -> str:
    found = Path(sys.executable).parent / "flowerpower-queue"
    return str(found) if found.exists() else (shutil.which("flowerpower-queue") or "")


def run(*args: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([queue_cli(), *args, "--project", str(project)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "tsched", {"ts_job": "def result() -> int:\n    return 1\n"})


def test_schedules_round_trip_through_the_typer_cli(project: Path, fpq_bin: str) -> None:
    made = run("schedule", "ts_job", "--schedule", "0 2 * * *", "--timezone", "Europe/Berlin",
               "--id", "nightly", project=project)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "nightly"
    listed = json.loads(run("schedules", "list", "--json", project=project).stdout)
    engine = json.loads(subprocess.run([fpq_bin, "schedules", "list", "--json", "--project",
                                        str(project)], capture_output=True, text=True).stdout)
    assert [s["id"] for s in listed] == ["nightly"] == [s["id"] for s in engine]
    nxt = json.loads(run("schedules", "next", "nightly", "-n", "2", "--json", project=project).stdout)
    assert len(nxt["next"] if isinstance(nxt, dict) else nxt) == 2
    assert run("schedules", "pause", "nightly", project=project).returncode == 0
    assert run("schedules", "remove", "nightly", project=project).returncode == 0
    assert run("schedules", "remove", "nightly", project=project).returncode == 1


def test_a_bad_cron_is_bad_input(project: Path) -> None:
    bad = run("schedule", "ts_job", "--schedule", "61 * * * *", project=project)
    assert bad.returncode == 2
    assert "minute field '61'" in bad.stderr
    assert not (project / ".flowerpower" / "queue.db").exists()


def test_metrics_prometheus_and_scheduler_once(project: Path) -> None:
    text = run("metrics", "--prometheus", project=project)
    assert text.returncode == 0
    assert any(f.name == "fpq_workers" for f in text_string_to_metric_families(text.stdout))
    assert run("metrics", "--prometheus", "--json", project=project).returncode == 2
    once = run("scheduler", "--once", "--quiet", project=project)
    assert once.returncode == 0, once.stderr
