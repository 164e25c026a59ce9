"""Hostile input: every bad value gets one clear error, nothing crashes, and no other job
is affected (each test ends with a normal job in the same queue finishing).

Covered here: pipeline names with path separators, `..`, NUL, invalid UTF-8 and 10 KB of
text; run options of 100 MB (the documented limit is FPQ_RUN_MAX, 1 MiB of JSON); invalid
UTF-8 and lone surrogates in run options; job records written behind our back by someone
else: raw RQ hashes (a pickle in `data`, data that is not JSON, fields missing or of the
wrong type, a key of the wrong Redis type, an id that is not an id) and raw SQLite rows
(unknown status, run options that are not JSON, a pipeline name that walks out of the
project, columns of the wrong type); and an executor that answers with a frame claiming
4 GB (the executor's own decoder is tested against that claim in test_executor.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from fpqtest import job, run_burst, run_fpq
from projects import make_project

OK = "def result(x: int = 1) -> int:\n    return x + 1\n"
PIPELINE = "hx_ok"
NAME = "hostile"  # the project's name: what jobs carry (issue 12), and its rq queues' prefix


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, NAME, {PIPELINE: OK})


def normal_job_finishes(fpq_bin: str, project: Path, *backend_args: str) -> None:
    """The proof that nothing else was affected: a normal job, enqueued after the hostile
    input, is run by a worker and finishes with the right result."""
    job_id = run_fpq(fpq_bin, "enqueue", PIPELINE, "--inputs", '{"x": 41}', *backend_args,
                     project=project, check=True).stdout.strip()
    assert run_burst(fpq_bin, project, *backend_args, "--quiet") == 0
    done = run_fpq(fpq_bin, "result", f"id={job_id}", "--json", *backend_args,
                   project=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {"result": 42}


def one_clear_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in proc.stderr and "Sanitizer" not in proc.stderr


# ---- pipeline names ----

BAD_NAMES = {
    "slash": ("a/b", "path separator"),
    "backslash": ("a\\b", "path separator"),
    "traversal": ("../../etc/passwd", "path separator"),
    "dotdot": ("..", "empty part"),
    "inner dotdot": ("a..b", "empty part"),
    "hidden": (".hx_ok", "empty part"),
    "10 KB": ("x" * 10240, "10240 characters long: at most 255"),
    "shell": ("hx_ok;rm -rf ~", "not allowed at position 6"),
    "option": ("-rf", "starts with '-'"),
}


@pytest.mark.parametrize("case", BAD_NAMES)
def test_bad_pipeline_names_are_refused_by_the_cli(case: str, fpq_bin: str,
                                                   project: Path) -> None:
    name, why = BAD_NAMES[case]
    # "--" ends the options (the name may start with '-'), so --project goes first.
    proc = run_fpq(fpq_bin, "enqueue", "--project", str(project), "--", name)
    one_clear_line(proc, "pipeline name", why)
    assert not (project / ".flowerpower").exists()  # nothing was written


def test_invalid_utf8_in_names_ids_and_options_is_refused_by_the_cli(
        fpq_bin: str, project: Path) -> None:
    # argv is bytes: pass what a shell would, undecodable bytes and all.
    def run(*args: bytes) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([fpq_bin.encode(), b"enqueue", *args, b"--project",
                               str(project).encode()], capture_output=True, timeout=60)
        return subprocess.CompletedProcess(proc.args, proc.returncode,
                                           proc.stdout.decode(errors="replace"),
                                           proc.stderr.decode(errors="replace"))

    one_clear_line(run(b"\xff\xfeetl"), "pipeline name", "\\xff\\xfe")
    one_clear_line(run(PIPELINE.encode(), b"--job-id", b"a\xffb"), "job id")
    one_clear_line(run(PIPELINE.encode(), b"--inputs", b'{"x": "\xff"}'), "--inputs",
                   "not valid JSON", "0xff")
    one_clear_line(run(PIPELINE.encode(), b"--inputs", b'{"x": "\\ud800"}'), "--inputs",
                   "invalid Unicode")
    assert not (project / ".flowerpower").exists()
    normal_job_finishes(fpq_bin, project)


def test_bad_names_and_text_are_refused_by_the_python_api(fpq_bin: str,
                                                          project: Path) -> None:
    from flowerpower import FlowerPowerProject

    from flowerpower_job_queue import InvalidInput

    fp = FlowerPowerProject.load(str(project))
    for name, why in [*BAD_NAMES.values(), ("hx_ok\x00evil", "NUL"),
                      ("\udcff", "lone surrogate"), ("é", "not allowed")]:
        with pytest.raises(InvalidInput, match="pipeline name") as caught:
            fp.enqueue(name)
        assert why.split(":")[0] in str(caught.value), (name, str(caught.value))
    with pytest.raises(InvalidInput, match="job id .* NUL"):
        fp.enqueue(PIPELINE, job_id="a\x00b")
    with pytest.raises(InvalidInput, match="invalid Unicode"):
        fp.enqueue(PIPELINE, inputs={"x": "\ud800"})
    with pytest.raises(InvalidInput, match="NUL"):
        fp.enqueue(PIPELINE, inputs={"x\x00": 1})
    with pytest.raises(InvalidInput, match="NUL"):
        fp.get_queue_status(id="a\x00b")
    assert not (project / ".flowerpower").exists()
    normal_job_finishes(fpq_bin, project)


# ---- 100 MB of run options ----


@pytest.mark.parametrize("backend", ["sqlite", "rq"])
def test_100_mb_of_run_options_is_refused_by_the_documented_limit(
        backend: str, fpq_bin: str, project: Path, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    from flowerpower import FlowerPowerProject

    from flowerpower_job_queue import InvalidInput

    args: list[str] = []
    if backend == "rq":
        args = ["--backend", "rq", "--url", request.getfixturevalue("redis_server").url]
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"inputs": {"x": "a" * (100 << 20)}}))
    one_clear_line(run_fpq(fpq_bin, "enqueue", PIPELINE, "--run-config", f"@{huge}", *args,
                           project=project), "larger than 64 MiB", "1048576")
    two_mb = tmp_path / "two.json"
    two_mb.write_text(json.dumps({"inputs": {"x": "a" * (2 << 20)}}))
    one_clear_line(run_fpq(fpq_bin, "enqueue", PIPELINE, "--run-config", f"@{two_mb}", *args,
                           project=project), "at most 1048576")
    fp = FlowerPowerProject.load(str(project))
    manager_backend = None if backend == "sqlite" else args[-1]
    with pytest.raises(InvalidInput, match="at most 1048576 allowed"):
        fp.enqueue(PIPELINE, backend=manager_backend, inputs={"x": "a" * (100 << 20)})
    assert not (project / ".flowerpower").exists()
    normal_job_finishes(fpq_bin, project, *args)


# ---- raw RQ hashes written by someone else ----


def write_foreign(conn: Any, job_id: str, fields: dict[str, Any],
                  queue: str = f"{NAME}.default") -> None:
    """A job as a careless or hostile client writes it: the hash, then the id on the list."""
    if fields:
        conn.hset(f"rq:job:{job_id}", mapping=fields)
    conn.sadd("rq:queues", f"rq:queue:{queue}")
    conn.rpush(f"rq:queue:{queue}", job_id)


def rq_data(project: Path, pipeline: str = PIPELINE, run: Any = None) -> bytes:
    body = ["flowerpower_job_queue.tasks.run_pipeline", None, [],
            {"project": NAME, "pipeline": pipeline, "run": run or {}}]
    return zlib.compress(json.dumps(body).encode())


def test_foreign_rq_hashes_fail_with_a_clear_error_and_harm_nothing(
        fpq_bin: str, project: Path, redis_server: Any) -> None:
    redis = pytest.importorskip("redis")
    conn = redis.Redis.from_url(redis_server.url)
    args = ["--backend", "rq", "--url", redis_server.url]
    now = "2026-01-01T00:00:00.000000Z"
    pickled = b"\x80\x05\x95" + b"\x00" * 8 + b"cos\nsystem\n(S'touch /tmp/pwned'\ntR."
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "pickle": ({"status": "queued", "data": pickled, "created_at": now},
                   "pickle"),
        "zlib pickle": ({"status": "queued", "data": zlib.compress(pickled)}, "pickle"),
        "not utf-8": ({"status": "queued", "data": zlib.compress(b'["f", null, [], {"\xff": 1}]')},
                      "not JSON"),
        "not the RQ shape": ({"status": "queued", "data": zlib.compress(b'{"a": 1}')},
                           "not RQ's [func, null, args, kwargs]"),
        "walks out": ({"status": "queued", "data": rq_data(project, "../../../etc/passwd")},
                      "pipeline name"),
        "a path": ({"status": "queued", "data": zlib.compress(json.dumps(
            ["flowerpower_job_queue.tasks.run_pipeline", None, [],
             {"project": "/etc", "pipeline": PIPELINE}]).encode())}, "WrongProject"),
        "other function": ({"status": "queued", "data": zlib.compress(json.dumps(
            ["os.system", None, ["touch /tmp/pwned"], {}]).encode())}, "not supported"),
    }
    for case, (fields, _) in cases.items():
        write_foreign(conn, f"hostile-{case.replace(' ', '-')}", fields)
    # Fields of the wrong type or nonsense next to good data: the job must still run.
    write_foreign(conn, "odd-fields", {
        "status": "queued", "data": rq_data(project, run={"inputs": {"x": 6}}),
        "created_at": "yesterday", "enqueued_at": "\xff", "timeout": "forever",
        "fpq_attempts": "many", "fpq_max_retries": "1e999", "retries_left": "-3",
        "retry_intervals": "[not json", "result_ttl": "NaN", "origin": "",
        "fpq_retry_delay": "inf", "fpq_jitter": "-1"})
    # No project at all (as some Python rq code writes): the worker's own project runs it.
    write_foreign(conn, "no-project", {"status": "queued", "data": zlib.compress(json.dumps(
        ["flowerpower_job_queue.tasks.run_pipeline", None, [], {"pipeline": PIPELINE}]
    ).encode())})
    write_foreign(conn, "no-data", {"status": "queued", "created_at": now})
    conn.set("rq:job:wrong-type", "a string where a hash belongs")
    write_foreign(conn, "wrong-type", {})
    write_foreign(conn, "x" * 300, {"status": "queued", "data": rq_data(project)})
    write_foreign(conn, "has space", {"status": "queued", "data": rq_data(project)})
    write_foreign(conn, "missing-hash", {})

    normal_job_finishes(fpq_bin, project, *args)

    def status(job_id: str) -> dict[str, Any]:
        return dict(json.loads(run_fpq(fpq_bin, "status", f"id={job_id}", "--json", *args,
                                       project=project, check=True).stdout))

    for case, (_, why) in cases.items():
        found = status(f"hostile-{case.replace(' ', '-')}")
        assert found["status"] == "failed", (case, found)
        assert why in json.dumps(found["error"]), (case, found["error"])
    assert status("no-project")["status"] == "finished"
    odd = status("odd-fields")
    assert odd["status"] == "finished", odd
    assert json.loads(run_fpq(fpq_bin, "result", "id=odd-fields", "--json", *args,
                              project=project, check=True).stdout)["result"] == {"result": 7}
    # A hash without data is dropped from the queue as RQ drops it, never run.
    assert conn.hget("rq:job:no-data", "status") == b"queued"
    for key in (f"rq:queue:{NAME}.default", f"rq:queue:{NAME}.high", f"rq:queue:{NAME}.low"):
        assert conn.llen(key) == 0, key
    # Ids that are not ids (300 characters, a space) are failed with the reason.
    for bad in ("x" * 300, "has space"):
        assert conn.hget(f"rq:job:{bad}", "status") == b"failed", bad
        assert b"not a valid job id" in (conn.hget(f"rq:job:{bad}", "fpq_error") or b""), bad
    assert not Path("/tmp/pwned").exists()


# ---- raw SQLite rows written by someone else ----


def test_foreign_sqlite_rows_fail_with_a_clear_error_and_harm_nothing(
        fpq_bin: str, project: Path) -> None:
    # Create the database the normal way, then write rows behind the engine's back.
    first = run_fpq(fpq_bin, "enqueue", PIPELINE, project=project, check=True).stdout.strip()
    db = project / ".flowerpower" / "queue.db"
    conn = sqlite3.connect(db)
    seq = conn.execute("SELECT MAX(seq) FROM jobs").fetchone()[0]
    columns = ("id, seq, project, pipeline, run, queue, status, created_at, enqueued_at,"
               " attempts, max_retries, retry_delay, jitter_factor, timeout, result_ttl")
    now = time.time()
    rows = {
        "bogus-status": (NAME, PIPELINE, "{}", "default", "exploded", now, now, 0, 0,
                         0, 0, 0, 0),
        "run-not-json": (NAME, PIPELINE, "{not json", "default", "queued", now, now,
                         0, 0, 0, 0, 0, 0),
        "run-not-object": (NAME, PIPELINE, "[1, 2]", "default", "queued", now, now,
                           0, 0, 0, 0, 0, 0),
        "run-bad-utf8": (NAME, PIPELINE, b'{"inputs": {"x": "\xff"}}', "default",
                         "queued", now, now, 0, 0, 0, 0, 0, 0),
        "walks-out": (NAME, "../../../etc/passwd", "{}", "default", "queued", now,
                      now, 0, 0, 0, 0, 0, 0),
        "names-modules": (NAME, PIPELINE, '{"additional_modules": ["this"]}',
                          "default", "queued", now, now, 0, 0, 0, 0, 0, 0),
        "wrong-types": (NAME, PIPELINE, '{"inputs": {"x": 2}}', "default", "queued",
                        "soon", "later", "many", "lots", "x", "y", "z", "w"),
    }
    for k, (job_id, values) in enumerate(rows.items()):
        conn.execute(f"INSERT INTO jobs ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                     " ?, ?, ?, ?)", (job_id, seq + 1 + k, *values))
    conn.commit()
    conn.close()

    normal_job_finishes(fpq_bin, project)
    assert job(fpq_bin, project, first)["status"] == "finished"
    # Listing the project's jobs still works with an unreadable row among them.
    listed = run_fpq(fpq_bin, "status", "--json", project=project)
    assert listed.returncode == 0, listed.stderr
    shown = {j["id"]: j for j in json.loads(listed.stdout)}
    assert "bogus-status" not in shown
    for bad, why in [("run-not-json", "run options"), ("run-not-object", "run options"),
                     ("run-bad-utf8", "run options"), ("walks-out", "pipeline name"),
                     ("names-modules", "additional_modules")]:
        assert shown[bad]["status"] == "failed", (bad, shown[bad])
        assert why in json.dumps(shown[bad]["error"]), (bad, shown[bad]["error"])
    assert shown["wrong-types"]["status"] == "finished"
    one = run_fpq(fpq_bin, "status", "id=bogus-status", "--json", project=project)
    assert one.returncode != 0 and "exploded" in one.stderr
    assert "Traceback" not in one.stderr and "Sanitizer" not in one.stderr


# ---- an executor that claims a 4 GB frame ----

EVIL_EXECUTOR = '''
import os, socket, struct, sys
marker = sys.argv[1]
if os.path.exists(marker):
    os.unlink(marker)  # evil once; the next executor is the real one
    sock = socket.socket(fileno=3)
    hello = b'{"type":"hello","pid":%d}' % os.getpid()
    sock.sendall(struct.pack(">I", len(hello)) + hello)
    sock.recv(65536)  # the run frame
    sock.sendall(b"\\xff\\xff\\xff\\xff" + b"{" * 64)  # claims 4 GB - 1, sends 64 bytes
    sock.recv(1)  # wait to be killed
    sys.exit(0)
os.execv(sys.argv[2], [sys.argv[2], *sys.argv[3:]])
'''


def test_an_executor_frame_claiming_4_gb_fails_the_job_and_the_worker_carries_on(
        fpq_bin: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "evil-once"
    marker.touch()
    script = tmp_path / "evil.py"
    script.write_text(EVIL_EXECUTOR)
    # FPQ_PYTHON is the interpreter the worker starts executors with: a wrapper that is
    # evil for the first executor only; the worker must replace it and go on.
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {script} {marker} "
                       f'{os.environ.get("FPQ_PYTHON", sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    victim = run_fpq(fpq_bin, "enqueue", PIPELINE, "--max-retries", "0", project=project,
                     check=True).stdout.strip()
    normal = run_fpq(fpq_bin, "enqueue", PIPELINE, "--inputs", '{"x": 41}', project=project,
                     check=True).stdout.strip()
    log = tmp_path / "worker.log"
    monkeypatch.setenv("FPQ_PYTHON", str(wrapper))
    assert run_burst(fpq_bin, project, "--count", "1", log=log) == 0
    assert not marker.exists()  # the evil executor did run
    failed = job(fpq_bin, project, victim)
    assert failed["status"] == "failed", failed
    assert "frame length 4294967295 is outside 1..268500000" in failed["error"]["message"], \
        failed["error"]
    assert "Sanitizer" not in log.read_text()
    assert job(fpq_bin, project, normal)["status"] == "finished"
    assert json.loads(run_fpq(fpq_bin, "result", f"id={normal}", "--json", project=project,
                              check=True).stdout)["result"] == {"result": 42}
