"""The executor, driven as the C worker drives it: a real process, a socketpair on fd 3,
framed JSON, real FlowerPower projects (docs/executor-protocol.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flowerpower_job_queue
import pandas as pd
import pandas.testing as pdt
import pytest
from flowerpower_job_queue import codec, runner, tasks
from flowerpower_job_queue.executor import MAX_FRAME, MAX_RESULT
from projects import make_project

ISOLATIONS = ["fork", "none"]
READ_TIMEOUT = 120.0  # seconds; an executor starts in a few, a job here takes less than one
TASK = "flowerpower_job_queue.tasks.run_pipeline"

SYNC = "  executor: {type: synchronous}\n  retry: {max_retries: 0}\n"

PIPELINES = {
    "ex_add": """
def result(x: int) -> int:
    print("printed by ex_add")
    return x + 1
""",
    "ex_frame": """
import datetime
import decimal

import numpy as np
import pandas as pd


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.arange(4, dtype="int64"),
            "f": [0.5, float("nan"), 2.5, -1.0],
            "s": ["a", "b", None, "d"],
            "when": pd.date_range("2026-03-29", periods=4, freq="h", tz="Europe/Berlin"),
            "cat": pd.Categorical(["x", "y", "x", "z"]),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "flag": pd.array([True, None, False, True], dtype="boolean"),
            "obj": pd.Series([{"k": 1}, (1, 2), datetime.date(2026, 1, 1), None], dtype=object),
        },
        index=pd.Index(["r1", "r2", "r3", "r4"], name="row"),
    )


def doubled(frame: pd.DataFrame) -> pd.Series:
    return frame["n"] * 2


def stamp() -> dict:
    return {"at": datetime.datetime(2026, 7, 1, 12, tzinfo=datetime.timezone.utc),
            "amount": decimal.Decimal("10.25"), "raw": b"\\x00\\x01", "pair": (1, 2)}
""",
    "ex_fail": """
def result(x: int) -> int:
    raise ValueError("x must be positive")
""",
    "ex_custom": """
class BadInput(Exception):
    pass


def result() -> int:
    raise BadInput("no good")
""",
    "ex_count": """
def result(counter: str) -> int:
    with open(counter, "a") as f:
        f.write("attempt\\n")
    raise RuntimeError("fails every time")
""",
    "ex_day": """
import datetime


def result(day: datetime.date) -> str:
    return (day + datetime.timedelta(days=1)).isoformat()
""",
    "ex_segv": """
import ctypes


def result() -> int:
    return ctypes.string_at(0)
""",
    "ex_exit": """
import os


def result() -> int:
    os._exit(3)
""",
    "ex_orphan": """
import os
import time


def result(pid_file: str) -> int:
    pid = os.fork()  # the grandchild keeps every inherited fd, the result pipe too
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    with open(pid_file, "w") as f:
        f.write(str(pid))
    os._exit(3)
""",
    "ex_sysexit": """
import sys


def result() -> int:
    sys.exit(4)
""",
    "ex_sleep": """
import os
import time


def result(pid_file: str) -> int:
    with open(pid_file + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(pid_file + ".tmp", pid_file)
    time.sleep(300)
    return 0
""",
    "ex_big": f"""
def result() -> str:
    return "x" * {MAX_RESULT + 1}
""",
}

RUN_YAML = {
    "ex_add": "run:\n  inputs: {x: 1}\n  final_vars: [result]\n" + SYNC,
    "ex_fail": "run:\n  inputs: {x: 1}\n  final_vars: [result]\n" + SYNC,
    # FlowerPower would retry this 3 times: the executor must turn that off.
    "ex_count": "run:\n  final_vars: [result]\n  executor: {type: synchronous}\n"
    "  retry: {max_retries: 3, retry_delay: 0, jitter_factor: 0}\n",
}


# ----------------------------------------------------------------------------- driver

# Puts the socket on fd 3 and execs the command after it (no preexec_fn: not thread-safe).
ON_FD_3 = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.execv(sys.argv[2], sys.argv[2:])
"""


class Executor:
    """One executor process and our end of its channel, as the worker holds them."""

    def __init__(self, isolation: str, log: Path, hello: bool = True) -> None:
        ours, theirs = socket.socketpair()
        fd = theirs.fileno()
        package_root = str(Path(flowerpower_job_queue.__file__).parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                ON_FD_3,
                str(fd),
                sys.executable,
                "-m",
                "flowerpower_job_queue.executor",
                "--isolation",
                isolation,
            ],
            pass_fds=(fd,),
            process_group=0,  # its own group, as the worker starts it
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
        )
        theirs.close()
        ours.settimeout(READ_TIMEOUT)
        self.sock = ours
        self.hello: dict[str, Any] = self.recv() if hello else {}

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def _recv_exact(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.sock.recv(min(n - len(chunks), 1 << 20))
            if not chunk:
                raise EOFError(f"channel closed after {len(chunks)} of {n} bytes")
            chunks += chunk
        return bytes(chunks)

    def recv(self) -> dict[str, Any]:
        (length,) = struct.unpack(">I", self._recv_exact(4))
        assert 1 <= length <= MAX_FRAME
        msg = json.loads(self._recv_exact(length), parse_constant=_refuse)
        assert isinstance(msg, dict) and isinstance(msg["type"], str)
        return msg

    def run(
        self,
        project: Path,
        pipeline: str,
        run: dict[str, Any] | None = None,
        job_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        job_id = job_id or f"job-{pipeline}-{time.monotonic_ns()}"
        msg = {
            "type": "run",
            "id": job_id,
            "project": str(project),
            "pipeline": pipeline,
            "run": run if run is not None else {},
            "attempt": 1,
            "func": TASK,
            **extra,
        }
        self.send(msg)
        done = self.recv()
        assert done["type"] == "done" and done["id"] == job_id
        assert isinstance(done["duration"], float) and done["duration"] >= 0
        return done

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None or _group_alive(self.proc.pid):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_file.close()


def _refuse(name: str) -> Any:
    raise AssertionError(f"non-strict JSON constant {name}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_file(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear")


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("executor"), "exproj", PIPELINES, RUN_YAML)


@pytest.fixture(scope="module", params=ISOLATIONS)
def executor(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, project: Path
) -> Iterator[Executor]:
    """A warm executor shared by the module's tests (it must keep serving after errors)."""
    log = tmp_path_factory.mktemp("log") / f"executor-{request.param}.log"
    ex = Executor(request.param, log)
    yield ex
    ex.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Any]:
    """Starts executors of its own for tests that end them."""
    started: list[Executor] = []

    def start(isolation: str, count: int | None = None) -> Any:
        batch = [
            Executor(isolation, tmp_path / f"fresh-{isolation}-{len(started) + i}.log", hello=False)
            for i in range(count or 1)
        ]
        started.extend(batch)
        for ex in batch:
            ex.hello = ex.recv()
        return batch if count is not None else batch[0]

    yield start
    for ex in started:
        ex.close()


def _in_process(project: Path, pipeline: str, **run: Any) -> dict[str, Any]:
    """What project.run() returns in this process (the reference)."""
    from flowerpower import FlowerPowerProject

    loaded = FlowerPowerProject.load(str(project))
    assert loaded is not None
    return loaded.run(pipeline, **run, retry={"max_retries": 0})


# ------------------------------------------------------------------------------- tests


def test_hello(executor: Executor) -> None:
    hello = executor.hello
    assert hello["type"] == "hello"
    assert hello["pid"] == executor.proc.pid
    assert hello["isolation"] in ISOLATIONS
    assert hello["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(hello["version"], str) and hello["version"]


def test_success_returns_what_project_run_returns(executor: Executor, project: Path) -> None:
    done = executor.run(project, "ex_add", {"inputs": {"x": 41}})
    assert done["ok"] is True
    assert codec.decode(done["result"]) == _in_process(project, "ex_add", inputs={"x": 41})
    assert done["result"] == {"result": 42}
    # The pipeline YAML's inputs apply when the job gives none.
    assert executor.run(project, "ex_add")["result"] == {"result": 2}


def test_dataframe_and_tagged_types_round_trip(executor: Executor, project: Path) -> None:
    done = executor.run(project, "ex_frame")
    assert done["ok"] is True, done.get("error")
    got = codec.decode(done["result"])
    want = _in_process(project, "ex_frame")
    assert set(got) == set(want) == {"frame", "doubled", "stamp"}
    pdt.assert_frame_equal(got["frame"], want["frame"], check_exact=True)
    pdt.assert_series_equal(got["doubled"], want["doubled"], check_exact=True)
    assert got["stamp"] == want["stamp"]
    assert type(got["stamp"]["pair"]) is tuple
    assert got["frame"]["when"].dtype == pd.DatetimeTZDtype("us", "Europe/Berlin")


def test_codec_tagged_inputs_are_decoded(executor: Executor, project: Path) -> None:
    run = {"inputs": codec.encode({"day": dt.date(2026, 2, 28)}), "final_vars": ["result"]}
    done = executor.run(project, "ex_day", run)
    assert done["ok"] is True, done.get("error")
    assert done["result"] == {"result": "2026-03-01"}


def test_pipeline_error_reports_the_real_exception(executor: Executor, project: Path) -> None:
    done = executor.run(project, "ex_fail")
    assert done["ok"] is False and "result" not in done
    error = done["error"]
    assert error["type"] == "ValueError"  # not FlowerPower's RuntimeError wrapper
    assert error["message"] == "x must be positive"
    trace = error["traceback"]
    assert trace.startswith("Traceback (most recent call last):")
    assert str(project / "pipelines" / "ex_fail.py") in trace
    assert 'raise ValueError("x must be positive")' in trace
    assert trace.rstrip().endswith("ValueError: x must be positive")


def test_exception_types_are_qualified(executor: Executor, project: Path) -> None:
    error = executor.run(project, "ex_custom")["error"]
    assert error["type"] == "pipelines.ex_custom.BadInput"
    assert error["message"] == "no good"


def test_flowerpower_retries_are_off(executor: Executor, project: Path, tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    # Neither the YAML's max_retries: 3 nor retry kwargs in the job make FlowerPower retry.
    run = {"inputs": {"counter": str(counter)}, "retry": {"max_retries": 5}, "max_retries": 5}
    done = executor.run(project, "ex_count", run)
    assert done["error"]["type"] == "RuntimeError"
    assert done["error"]["message"] == "fails every time"
    assert counter.read_text().count("attempt") == 1


def test_system_exit_in_a_pipeline_fails_the_job(executor: Executor, project: Path) -> None:
    error = executor.run(project, "ex_sysexit")["error"]
    assert error["type"] == "SystemExit" and error["message"] == "4"
    assert executor.run(project, "ex_add")["ok"] is True


def test_unknown_pipeline(executor: Executor, project: Path) -> None:
    error = executor.run(project, "ex_missing")["error"]
    assert error["type"] == "PipelineNotFound"
    assert "ex_missing" in error["message"] and "ex_add" in error["message"]


def test_a_pipeline_removed_after_it_ran_is_not_found(tmp_path: Path) -> None:
    # runner.Projects remembers a pipeline it found (listing them costs ~15% of a trivial
    # job); removing the module file must still make the next job PipelineNotFound.
    from flowerpower_job_queue import runner

    root = tmp_path / "gone"
    (root / "conf" / "pipelines").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "once.py").write_text("def out() -> int:\n    return 7\n")
    (root / "conf" / "pipelines" / "once.yml").write_text(
        "run:\n  final_vars: [out]\n  executor: {type: synchronous}\n")
    projects = runner.Projects()
    assert runner.run_job(str(root), "once", {}, projects=projects) == {"out": 7}
    assert projects.has_pipeline(str(root), "once")
    (root / "pipelines" / "once.py").unlink()
    with pytest.raises(runner.PipelineNotFound):
        runner.run_job(str(root), "once", {}, projects=projects)


@pytest.mark.parametrize("kind", ["missing", "not-a-project"])
def test_unknown_project(executor: Executor, tmp_path: Path, kind: str) -> None:
    where = tmp_path / "nothing-here"
    if kind == "not-a-project":
        where.mkdir()
    error = executor.run(where, "ex_add")["error"]
    assert error["type"] == "ProjectNotFound"
    assert str(where) in error["message"]
    assert not (where / "conf").exists()  # nothing was created


def test_unsupported_function(executor: Executor, project: Path) -> None:
    done = executor.run(project, "ex_add", func="os.system")
    assert done["error"]["type"] == "UnsupportedFunction"
    assert "os.system" in done["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("run", [1, 2]), ("pipeline", 7), ("project", ""), ("run", {"name": "x"})],
)
def test_invalid_job_fields(executor: Executor, project: Path, field: str, value: Any) -> None:
    job = {
        "type": "run",
        "id": "bad-fields",
        "project": str(project),
        "pipeline": "ex_add",
        "run": {},
        "func": TASK,
        field: value,
    }
    executor.send(job)
    done = executor.recv()
    assert done["id"] == "bad-fields"
    assert done["error"]["type"] == "InvalidJob"


def test_unknown_message_types_and_members_are_ignored(executor: Executor, project: Path) -> None:
    executor.send({"type": "ping", "from": "a newer worker"})
    done = executor.run(project, "ex_add", {"inputs": {"x": 1}}, future_member={"a": 1})
    assert done["result"] == {"result": 2}


def test_result_too_large(executor: Executor, project: Path) -> None:
    done = executor.run(project, "ex_big")
    assert done["ok"] is False
    assert done["error"]["type"] == "ResultTooLarge"
    assert "256 MiB" in done["error"]["message"]
    assert executor.run(project, "ex_add")["ok"] is True


def test_pipeline_output_is_the_jobs_log_not_the_channels_or_the_workers(
        executor: Executor, project: Path) -> None:
    done = executor.run(project, "ex_add")
    assert done["ok"] is True
    assert "printed by ex_add" in done["log"] and done.get("log_omitted") == 0
    again = executor.run(project, "ex_add")  # the next job's log starts empty
    assert again["log"].count("printed by ex_add") == 1
    assert "printed by ex_add" not in executor.log_text()


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [("ex_segv", "was killed by SIGSEGV (11)"), ("ex_exit", "exited with code 3")],
)
def test_fork_child_crash_is_reported_and_serving_goes_on(
    executor: Executor, project: Path, pipeline: str, expected: str
) -> None:
    if executor.hello["isolation"] != "fork":
        pytest.skip("a crash takes a none-isolation executor down (tested below)")
    done = executor.run(project, pipeline)
    assert done["ok"] is False
    assert done["error"]["type"] == "ChildCrashed"
    assert expected in done["error"]["message"]
    assert executor.proc.poll() is None
    assert executor.run(project, "ex_add", {"inputs": {"x": 9}})["result"] == {"result": 10}


def test_sigterm_kills_a_fork_child(executor: Executor, project: Path, tmp_path: Path) -> None:
    if executor.hello["isolation"] != "fork":
        pytest.skip("fork isolation only")
    pid_file = tmp_path / "pid"
    executor.send(
        {
            "type": "run",
            "id": "slow",
            "project": str(project),
            "pipeline": "ex_sleep",
            "run": {"inputs": {"pid_file": str(pid_file)}},
            "func": TASK,
        }
    )
    child = int(_wait_for_file(pid_file))
    assert child != executor.proc.pid
    os.kill(child, signal.SIGTERM)  # the default action: no handler may delay it
    done = executor.recv()
    assert done["id"] == "slow" and done["error"]["type"] == "ChildCrashed"
    assert "SIGTERM" in done["error"]["message"]
    assert executor.run(project, "ex_add")["ok"] is True


def test_a_child_gone_while_its_own_child_holds_the_pipe_is_reported_at_once(
    executor: Executor, project: Path, tmp_path: Path
) -> None:
    """The job process exits without an answer, but a process it forked (sleeping 600 s)
    keeps the result pipe open: the executor answers when the job process exits, not at
    the end of the pipe."""
    if executor.hello["isolation"] != "fork":
        pytest.skip("fork isolation only")
    pid_file = tmp_path / "orphan.pid"
    try:
        done = executor.run(project, "ex_orphan", {"inputs": {"pid_file": str(pid_file)}})
        assert done["ok"] is False
        assert done["error"]["type"] == "ChildCrashed"
        assert "exited with code 3" in done["error"]["message"]
        assert "left open by another process" in done["error"]["message"]
        assert executor.run(project, "ex_add")["ok"] is True
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_two_projects_with_the_same_pipeline_name(executor: Executor, tmp_path: Path) -> None:
    source = "from ex_twin_helper import LABEL\n\n\ndef result() -> str:\n    return LABEL\n"
    roots = {}
    for label in ("A", "B"):
        roots[label] = make_project(
            tmp_path,
            f"twin{label}",
            {"ex_twin": source, "ex_twin_helper": f'LABEL = "{label}"\n'},
        )
    for label in ("A", "B", "A", "B"):
        done = executor.run(roots[label], "ex_twin")
        assert done["ok"] is True, done.get("error")
        assert done["result"] == {"result": label}


def test_tasks_run_pipeline_matches_the_executor(executor: Executor, project: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The function Python rq runs gives the same codec JSON as the executor. It runs the
    # project of its own directory (FPQ_PROJECT_DIR, else the cwd), as `rq worker` would
    # be started there; the job's own path is only accepted when it is that directory.
    monkeypatch.setenv("FPQ_PROJECT_DIR", str(project))
    from_task = tasks.run_pipeline(str(project), "ex_frame")
    from_executor = executor.run(project, "ex_frame")["result"]
    got, want = codec.decode(from_task), codec.decode(from_executor)
    pdt.assert_frame_equal(got["frame"], want["frame"], check_exact=True)
    assert json.loads(json.dumps(from_task)) == from_task
    with pytest.raises(ValueError, match="x must be positive"):
        tasks.run_pipeline(str(project), "ex_fail")
    with pytest.raises(runner.WrongProject, match="belongs to project '/elsewhere'"):
        tasks.run_pipeline("/elsewhere", "ex_frame")


# --------------------------------------------------------- tests that end an executor


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_eof_exits_zero(fresh: Any, project: Path, isolation: str) -> None:
    ex = fresh(isolation)
    assert ex.run(project, "ex_add")["ok"] is True
    ex.sock.close()
    assert ex.wait() == 0
    assert ex.proc.stdout is not None
    assert ex.proc.stdout.read() == b""  # fd 1 was pointed at fd 2 at once
    assert not _group_alive(ex.proc.pid)  # the waiting fork child is gone too


def _frame(body: bytes, length: int | None = None) -> bytes:
    return struct.pack(">I", len(body) if length is None else length) + body


# case: (bytes the worker sends, then half-closes its end?, the line the executor logs)
BROKEN_STREAMS = {
    "length 0": (_frame(b"{}", 0), False, f"frame length 0 is outside 1..{MAX_FRAME}"),
    "length max+1": (
        _frame(b"{}", MAX_FRAME + 1),
        False,
        f"frame length {MAX_FRAME + 1} is outside 1..{MAX_FRAME}",
    ),
    "length 2**32-1": (
        _frame(b"{}", 0xFFFFFFFF),
        False,
        f"frame length {0xFFFFFFFF} is outside 1..{MAX_FRAME}",
    ),
    "not JSON": (_frame(b"{nope"), False, "frame is not valid JSON"),
    "not an object": (_frame(b"[1, 2]"), False, 'not a JSON object with a "type" string'),
    "cut short": (_frame(b'{"type": "run"}')[:-3], True, "the stream ended inside a frame"),
    "run without id": (_frame(b'{"type": "run"}'), False, "run frame without a string id"),
}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_broken_stream_exits_3(fresh: Any, isolation: str) -> None:
    # One executor per case, started together (each takes seconds to import FlowerPower).
    executors = fresh(isolation, count=len(BROKEN_STREAMS))
    for ex, (data, half_close, _) in zip(executors, BROKEN_STREAMS.values(), strict=True):
        ex.send_raw(data)
        if half_close:
            ex.sock.shutdown(socket.SHUT_WR)
    for ex, (case, (_, _, line)) in zip(executors, BROKEN_STREAMS.items(), strict=True):
        assert ex.wait() == 3, case
        assert line in ex.log_text(), case


def test_crash_in_none_isolation_ends_the_executor(fresh: Any, project: Path) -> None:
    ex = fresh("none")
    ex.send(
        {
            "type": "run",
            "id": "crash",
            "project": str(project),
            "pipeline": "ex_segv",
            "run": {},
            "func": TASK,
        }
    )
    with pytest.raises(EOFError):
        ex.recv()
    assert ex.wait() == -signal.SIGSEGV


def test_worker_closing_during_a_fork_job_stops_it(
    fresh: Any, project: Path, tmp_path: Path
) -> None:
    ex = fresh("fork")
    pid_file = tmp_path / "pid"
    ex.send(
        {
            "type": "run",
            "id": "slow",
            "project": str(project),
            "pipeline": "ex_sleep",
            "run": {"inputs": {"pid_file": str(pid_file)}},
            "func": TASK,
        }
    )
    child = int(_wait_for_file(pid_file))
    ex.sock.close()
    assert ex.wait() == 0
    assert _gone(child)
