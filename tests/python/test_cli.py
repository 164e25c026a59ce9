"""The `fpq` command line as a user meets it: help, exit codes, and bad input that gets one
clear line on stderr, exit 2, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fpqtest import enqueue, job, run_burst, run_fpq
from projects import make_project

COMMANDS = ["enqueue", "status", "result", "cancel", "requeue", "metrics", "worker start",
            "worker stop", "worker list"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "cli", {"c_hello": "def result(x: int = 1) -> int:\n"
                                                     "    return x + 1\n"})


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(fpq_bin: str, command: str) -> None:
    proc = run_fpq(fpq_bin, *command.split(), "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("Usage: fpq ")
    assert "Example" in proc.stdout
    assert "--project DIR" in proc.stdout


def test_top_level_help_lists_the_commands_and_exit_codes(fpq_bin: str) -> None:
    proc = run_fpq(fpq_bin, "--help")
    assert proc.returncode == 0
    for command in ["enqueue", "status", "result", "cancel", "requeue", "worker", "metrics"]:
        assert f"  {command}" in proc.stdout
    assert "Exit codes" in proc.stdout
    assert run_fpq(fpq_bin).returncode == 2
    unknown = run_fpq(fpq_bin, "frobnicate")
    assert unknown.returncode == 2
    assert "'frobnicate' is not a command" in unknown.stderr


def test_version(fpq_bin: str) -> None:
    proc = run_fpq(fpq_bin, "version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("fpq 0.")


BAD_ENQUEUES = [
    (["c_hello", "--priority", "urgent"], "--priority 'urgent' is not known"),
    (["c_hello", "--inputs", "{not json"], "--inputs is not valid JSON"),
    (["c_hello", "--inputs", "[1, 2]"], "--inputs must be a JSON object"),
    (["a/b"], "pipeline name 'a/b' contains a path separator"),
    (["../etc"], "contains a path separator"),
    (["a..b"], "has an empty part around '.'"),
    (["x" * 300], "at most 255 allowed"),
    (["no_such_pipeline"], "pipeline 'no_such_pipeline' is not in project"),
    (["c_hello", "--job-id", "bad id!"], "job id 'bad id!' has ' ' at position 4"),
    (["c_hello", "--job-id", "a" * 129], "at most 128 allowed"),
    (["c_hello", "--backend", "nosuch"], "backend 'nosuch' is not known: expected one of sqlite"),
    (["c_hello", "--max-retries", "-1"], "--max-retries '-1' is not a whole number"),
    (["c_hello", "--timeout", "soon"], "--timeout 'soon' is not a duration"),
    (["c_hello", "--at", "tomorrow"], "--at 'tomorrow' is not an ISO 8601 time"),
    (["c_hello", "--in", "10m", "--at", "2030-01-01T00:00:00Z"], "give --at or --in, not both"),
    (["c_hello", "--run-config", '{"executor_typo": 1}'], "run option 'executor_typo' is not one"),
    (["c_hello", "--run-config", '{"retry": {"max_retries": "many"}}'], "retry.max_retries"),
    (["c_hello", "--run-config", "@/no/such/file.json"], "cannot read /no/such/file.json"),
    (["c_hello", "--url", "redis://127.0.0.1:1/0", "--backend", "sqlite"], "does not fit backend"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ENQUEUES)
def test_bad_enqueue_input_exits_2_with_one_clear_line_and_writes_nothing(
        fpq_bin: str, project: Path, args: list[str], message: str) -> None:
    proc = run_fpq(fpq_bin, "enqueue", *args, project=project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert not (project / ".flowerpower" / "queue.db").exists()


def test_an_unreadable_conf_file_is_bad_input(fpq_bin: str, project: Path) -> None:
    conf = project / "conf" / "job_queue.yml"
    conf.mkdir()  # a directory where the file should be: unreadable even for root
    proc = run_fpq(fpq_bin, "enqueue", "c_hello", project=project)
    assert proc.returncode == 2
    assert "conf/job_queue.yml" in proc.stderr
    assert not (project / ".flowerpower" / "queue.db").exists()


def test_an_invalid_conf_file_names_the_line(fpq_bin: str, project: Path) -> None:
    (project / "conf" / "job_queue.yml").write_text("backend: sqlite\nurl: [unclosed\n")
    proc = run_fpq(fpq_bin, "enqueue", "c_hello", project=project)
    assert proc.returncode == 2
    assert "conf/job_queue.yml" in proc.stderr and "line" in proc.stderr


def test_enqueue_prints_the_id_alone_and_status_finds_it(fpq_bin: str, project: Path) -> None:
    proc = run_fpq(fpq_bin, "enqueue", "c_hello", "--inputs", '{"x": 41}', "--job-id",
                   "my-first-job", project=project)
    assert proc.returncode == 0
    assert proc.stdout == "my-first-job\n"
    stored = job(fpq_bin, project, "my-first-job")
    assert stored["status"] == "queued"
    assert stored["run"] == {"inputs": {"x": 41}}
    assert stored["priority"] == "medium" and stored["queue"] == "default"
    table = run_fpq(fpq_bin, "status", "c_hello", project=project)
    assert table.returncode == 0
    assert "my-first-job" in table.stdout and "queued" in table.stdout
    again = run_fpq(fpq_bin, "enqueue", "c_hello", "--job-id", "my-first-job", project=project)
    assert again.returncode == 2
    assert "already taken" in again.stderr


def test_the_status_table_keeps_long_ids_whole_and_columns_aligned(
        fpq_bin: str, project: Path) -> None:
    long_id = "sched-nightly-etl-" + "x" * 50
    enqueue(fpq_bin, project, "c_hello", "--job-id", long_id)
    enqueue(fpq_bin, project, "c_hello")
    header, *rows = run_fpq(fpq_bin, "status", project=project).stdout.splitlines()
    column = header.index("PIPELINE")
    assert any(row.startswith(long_id + "  ") for row in rows)
    assert all(row[column:].startswith("c_hello") for row in rows), rows


def test_run_config_from_a_file_sets_inputs_and_retry_policy(
        fpq_bin: str, project: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"inputs": {"x": 1}, "retry": {"max_retries": 4,
                                                                "retry_delay": 2.5},
                                  "executor": {"type": "synchronous"}, "log_level": None}))
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"x": 5}')
    job_id = enqueue(fpq_bin, project, "c_hello", "--run-config", f"@{config}",
                     "--inputs", f"@{inputs}")
    stored = job(fpq_bin, project, job_id)
    assert stored["run"] == {"inputs": {"x": 5}, "executor_cfg": {"type": "synchronous"}}
    assert stored["max_retries"] == 4
    assert stored["retry_delay"] == 2.5


def test_result_exit_codes_follow_the_job(fpq_bin: str, project: Path) -> None:
    missing = run_fpq(fpq_bin, "result", "id=never-queued", project=project)
    assert missing.returncode == 1
    job_id = enqueue(fpq_bin, project, "c_hello", "--inputs", '{"x": 41}')
    waiting = run_fpq(fpq_bin, "result", f"id={job_id}", project=project)
    assert waiting.returncode == 1
    assert "is queued: no result yet" in waiting.stderr
    timed_out = run_fpq(fpq_bin, "result", f"id={job_id}", "--wait", "--timeout", "0.2",
                        project=project)
    assert timed_out.returncode == 1
    assert "still queued" in timed_out.stderr
    assert run_burst(fpq_bin, project) == 0
    done = run_fpq(fpq_bin, "result", f"id={job_id}", project=project)
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"result": 42}
    by_name = run_fpq(fpq_bin, "result", "c_hello", "--json", project=project)
    assert json.loads(by_name.stdout)["id"] == job_id


def test_cancel_and_requeue(fpq_bin: str, project: Path) -> None:
    job_id = enqueue(fpq_bin, project, "c_hello")
    assert run_fpq(fpq_bin, "cancel", job_id, project=project).returncode == 0
    assert job(fpq_bin, project, job_id)["status"] == "canceled"
    again = run_fpq(fpq_bin, "cancel", job_id, project=project)
    assert again.returncode == 1
    assert "is canceled and cannot be canceled" in again.stderr
    assert run_fpq(fpq_bin, "requeue", f"id={job_id}", project=project).returncode == 0
    assert job(fpq_bin, project, job_id)["status"] == "queued"
    assert run_fpq(fpq_bin, "cancel", "bad id", project=project).returncode == 2
    assert run_fpq(fpq_bin, "cancel", "nope", project=project).returncode == 1


def test_reads_on_a_fresh_project_create_nothing(fpq_bin: str, project: Path) -> None:
    status = run_fpq(fpq_bin, "status", project=project)
    assert status.returncode == 0
    assert "no jobs yet" in status.stdout
    assert run_fpq(fpq_bin, "status", "--json", project=project).stdout.strip() == "[]"
    assert run_fpq(fpq_bin, "status", "id=abc", project=project).returncode == 1
    assert not (project / ".flowerpower" / "queue.db").exists()


def test_scheduled_jobs_wait_for_their_time(fpq_bin: str, project: Path) -> None:
    later = enqueue(fpq_bin, project, "c_hello", "--in", "1h")
    at = enqueue(fpq_bin, project, "c_hello", "--at", "2099-01-01T00:00:00Z")
    assert job(fpq_bin, project, later)["status"] == "scheduled"
    assert job(fpq_bin, project, at)["run_at"].startswith("2099-01-01T00:00:00")
    assert run_burst(fpq_bin, project) == 0
    assert job(fpq_bin, project, later)["status"] == "scheduled"


def test_metrics_counts_match_the_jobs(fpq_bin: str, project: Path) -> None:
    for priority in ["high", "high", "low"]:
        enqueue(fpq_bin, project, "c_hello", "--priority", priority)
    metrics = json.loads(run_fpq(fpq_bin, "metrics", "--json", project=project).stdout)
    queues = {q["name"]: q for q in metrics["queues"]}
    assert queues["high"]["queued"] == 2
    assert queues["low"]["queued"] == 1
    assert queues["high"]["oldest_queued_age_seconds"] >= 0
    table = run_fpq(fpq_bin, "metrics", project=project)
    assert table.returncode == 0 and "high" in table.stdout
