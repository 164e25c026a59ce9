"""The executor: runs FlowerPower pipelines for the C worker, one job at a time.

The worker starts one per slot as ``python -m flowerpower_job_queue.executor --isolation
fork|none`` with a duplex socket on file descriptor 3, and talks to it in frames (a
4-byte big-endian length, then one JSON object), as docs/executor-protocol.md says:
the executor sends ``hello`` once it is ready, answers each ``run`` with one ``done``,
and exits 0 when the worker closes the socket (3 when the stream is broken).

``--isolation fork`` (the default) imports FlowerPower once, warms it up with a tiny
built-in pipeline, and forks a child before each job; the child waits on a private
pipe, runs the one job it is given, sends its ``done`` frame back on another pipe and
exits. The next child is forked while a job runs, so forks stay off the critical path.
A child that dies first becomes a ``ChildCrashed`` error and the executor carries on.
``--isolation none`` runs jobs in the executor itself: faster, but a crash takes the
executor down, and pipeline modules stay imported between jobs.

Example (what the worker does, here from a shell with a socket on fd 3):
    $ python -m flowerpower_job_queue.executor --isolation fork 3<>"$SOCKET"
    (reads {"type":"run",...} frames on fd 3, writes {"type":"hello"} and
    {"type":"done",...} frames back; logs go to stderr)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from . import _native, codec, fork_prep, joblog, runner
from .pipeline_cache import DEFAULT_SIZE, PipelineCache

__all__ = [
    "MAX_FRAME",
    "MAX_RESULT",
    "ProtocolError",
    "execute",
    "main",
    "read_frame",
    "serve",
    "write_frame",
]

CHANNEL_FD = 3
MAX_FRAME = 268_500_000
"""Largest frame either side accepts: 256 MiB of result plus room for the envelope."""
MAX_RESULT = 256 * 1024 * 1024
"""Largest encoded result a ``done`` frame carries."""
EXIT_BROKEN = 3
"""Exit status when the worker's stream is broken (bad length, not JSON, ...)."""

_HEADER = struct.Struct(">I")
# Frames this small are written with their header in one write.
_SMALL = 1 << 16


class ProtocolError(Exception):
    """The stream is broken: a bad frame length, a frame cut short, not a JSON object."""


class ResultTooLarge(runner.JobError):
    """The encoded result is over MAX_RESULT."""

    code = "ResultTooLarge"


class ChildCrashed(runner.JobError):
    """The forked child died before it reported."""

    code = "ChildCrashed"


class _WorkerGone(Exception):
    """The worker closed the socket while a job was running."""


def _log(message: str) -> None:
    # Straight to fd 2: FlowerPower's run() resets loguru, and sys.stderr may be swapped
    # or buffered by a pipeline.
    line = f"fpq executor[{os.getpid()}]: {message}\n"
    os.write(2, line.encode("utf-8", "backslashreplace"))


# ----------------------------------------------------------------------------- frames


def read_frame(fd: int) -> bytearray | None:
    """Read one frame's JSON bytes from fd; None at a clean end of stream.

    Raises ProtocolError for a length outside 1..MAX_FRAME or a stream that ends inside
    a frame.

    Example:
        >>> r, w = os.pipe()
        >>> write_frame(w, [b'{"type":"x"}'])
        >>> bytes(read_frame(r))
        b'{"type":"x"}'
    """
    header = _read_exact(fd, 4, eof_ok=True)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if not 1 <= length <= MAX_FRAME:
        raise ProtocolError(
            f"frame length {length} is outside 1..{MAX_FRAME}: the stream is broken"
        )
    body = _read_exact(fd, length, eof_ok=False)
    assert body is not None
    return body


def _read_exact(fd: int, n: int, *, eof_ok: bool) -> bytearray | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            if got == 0 and eof_ok:
                return None
            raise ProtocolError(f"the stream ended inside a frame ({got} of {n} bytes)")
        got += k
    return buf


def write_frame(fd: int, parts: Sequence[bytes | bytearray]) -> None:
    """Write one frame whose JSON is the concatenation of parts.

    Example:
        >>> r, w = os.pipe()
        >>> write_frame(w, [b'{"type":', b'"x"}'])
        >>> os.read(r, 100)
        b'\\x00\\x00\\x00\\x0c{"type":"x"}'
    """
    length = sum(len(p) for p in parts)
    if not 1 <= length <= MAX_FRAME:
        raise ValueError(f"frame length {length} is outside 1..{MAX_FRAME}")
    header = _HEADER.pack(length)
    if length <= _SMALL:
        _write_all(fd, [header + b"".join(parts)])
    else:  # no copy of a large result
        _write_all(fd, [header, *parts])


def _write_all(fd: int, parts: Sequence[bytes | bytearray]) -> None:
    views = [memoryview(p) for p in parts if len(p)]
    while views:
        n = os.writev(fd, views)
        while n:
            if n >= len(views[0]):
                n -= len(views.pop(0))
            else:
                views[0] = views[0][n:]
                n = 0


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _parse(body: bytes | bytearray) -> dict[str, Any]:
    try:
        msg = json.loads(body, parse_constant=codec._refuse_constant)
    except ValueError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError('frame is not a JSON object with a "type" string')
    return msg


def _job_id(msg: dict[str, Any]) -> str:
    job_id = msg.get("id")
    if not isinstance(job_id, str):
        # Without an id no answer can be matched to the job.
        raise ProtocolError(f"run frame without a string id: {job_id!r}")
    return job_id


# ------------------------------------------------------------------------------- jobs


def _log_fields(output: joblog.Captured | None) -> dict[str, Any]:
    if output is None or not output.text:
        return {}
    return {"log": output.text, "log_omitted": output.omitted}


def _done_ok(job_id: str, result: bytes, started: float,
             output: joblog.Captured | None = None) -> list[bytes | bytearray]:
    head = _json({"type": "done", "id": job_id, "ok": True, "duration": _since(started),
                  **_log_fields(output)})
    # The result is spliced in, not parsed and dumped again.
    return [head[:-1], b',"result":', result, b"}"]


def _done_error(job_id: str, exc: BaseException, started: float,
                output: joblog.Captured | None = None) -> list[bytes | bytearray]:
    msg = {
        "type": "done",
        "id": job_id,
        "ok": False,
        "duration": _since(started),
        "error": runner.error_info(exc),
        **_log_fields(output),
    }
    return [_json(msg)]


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 6)


def execute(
    msg: dict[str, Any], projects: runner.Projects, *, purge: bool
) -> list[bytes | bytearray]:
    """Run the job of one ``run`` message here and now; return its ``done`` frame's parts.

    Every failure, the pipeline's included, becomes an ``ok: false`` answer.

    Example:
        >>> parts = execute({"type": "run", "id": "1", "project": "/nowhere",
        ...                  "pipeline": "etl"}, runner.Projects(), purge=True)  # doctest: +SKIP
        >>> json.loads(b"".join(parts))["error"]["type"]  # doctest: +SKIP
        'ProjectNotFound'
    """
    started = time.perf_counter()
    job_id = _job_id(msg)
    failure: BaseException | None = None
    result = b""
    # What the run writes is the job's log (joblog), not the worker's.
    with joblog.capture() as output:
        try:
            job = runner.parse_job(msg)
            value = runner.run_job(job.project, job.pipeline, job.run, projects=projects,
                                   purge=purge)
            result = codec.dumps(value).encode()
            del value
            if len(result) > MAX_RESULT:
                raise ResultTooLarge(
                    f"the encoded result is {len(result)} bytes "
                    f"({len(result) / 2**20:.1f} MiB); the limit is {MAX_RESULT // 2**20} MiB"
                )
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a pipeline fails the job too
            failure = exc
        finally:
            _flush_stdio()
    if failure is not None:
        return _done_error(job_id, failure, started, output)
    return _done_ok(job_id, result, started, output)


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _line_buffered_stdio() -> None:
    """sys.stdout and sys.stderr to the log (fd 2), a line at a time."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.flush()
            stream.reconfigure(line_buffering=True)
        else:  # no stream (fd 1 or 2 was closed at start): a new one on fd 2
            log = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
            setattr(sys, name, log)


# ------------------------------------------------------------------------------- fork


@dataclass
class _Child:
    pid: int
    job_w: int  # the parent writes the job here
    result_r: int  # and reads the done frame here


class _Forker:
    """Fork isolation: a child is forked before its job arrives and runs only that job.

    The next child is forked as soon as a job has been handed over, while the parent
    has nothing else to do, so neither the fork nor the exit of a finished child is on
    a job's critical path.
    """

    def __init__(self, projects: runner.Projects, channel_fd: int) -> None:
        self._projects = projects
        self._channel_fd = channel_fd
        self._waiting: _Child | None = None  # forked, waiting for a job
        self._running: _Child | None = None  # running a job
        self._exited: list[int] = []  # answered, not reaped yet
        self._faults = fork_prep.ChildFaults()  # minor page faults of the job processes
        try:
            # Only to notice the worker closing while a job runs (MSG_PEEK).
            self._sock: socket.socket | None = socket.socket(fileno=os.dup(channel_fd))
        except OSError:
            self._sock = None

    def prepare(self) -> None:
        """Fork the child that will run the next job, unless one is waiting already."""
        if self._waiting is not None:
            return
        _flush_stdio()
        inherited = [self._channel_fd]
        if self._sock is not None:
            inherited.append(self._sock.fileno())
        if self._running is not None:
            inherited += [fd for fd in (self._running.job_w, self._running.result_r) if fd >= 0]
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        # Objects made so far are never collected in the child: its GC does not touch
        # (and so copy) the parent's pages.
        gc.freeze()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            # Dies with this executor, which dies with the worker: no orphan job process.
            _native.die_with_parent(parent)
            self._child_main(job_r, result_w, [job_w, result_r, *inherited])
        os.close(job_r)
        os.close(result_w)
        self._waiting = _Child(pid, job_w, result_r)

    def _child_main(self, job_r: int, result_w: int, not_mine: list[int]) -> NoReturn:
        code = 0
        try:
            for fd in not_mine:
                os.close(fd)
            _reset_signals()
            joblog.prepare()  # its log's spool file, before the job arrives
            body = read_frame(job_r)  # waits here until the next job (or EOF: no more)
            if body is not None:
                write_frame(result_w, execute(_parse(body), self._projects, purge=False))
        except BaseException as exc:  # noqa: BLE001 - never return into the parent's loop
            _log(f"job process failed: {type(exc).__name__}: {exc}")
            code = 70
        finally:
            _flush_stdio()
            # No interpreter teardown: the parent owns every object inherited from it.
            os._exit(code)

    def run(self, msg: dict[str, Any], body: bytes | bytearray) -> list[bytes | bytearray]:
        """Hand the job to the waiting child and return its ``done`` frame's parts.

        Raises _WorkerGone if the worker closes the socket meanwhile (the child is
        killed).
        """
        started = time.perf_counter()
        job_id = _job_id(msg)
        try:
            job = runner.parse_job(msg)  # answered here without using up a child
            self._load(job.project)
        except runner.JobError as exc:
            return _done_error(job_id, exc, started)
        if runner.prepare_job(job, self._projects):
            # The plan and driver were just built here: a child forked before lacks them.
            self._discard_waiting()
        child = self._hand_over(body)
        if child is None:
            return _done_error(job_id, ChildCrashed("could not start a job process"), started)
        self._running = child
        try:
            self.prepare()  # the next child, while this one works
            frame, problem = self._collect(child)
        finally:
            self._running = None
        if frame is not None:
            os.close(child.result_r)
            self._exited.append(child.pid)  # reaped later: the answer goes first
            return [frame]
        status = self._reap(child)
        return _done_error(
            job_id,
            ChildCrashed(f"the job process (pid {child.pid}) {_describe(status)} {problem}"),
            started,
        )

    def _discard_waiting(self) -> None:
        """The waiting child exits at EOF on its job pipe; it is reaped with the others."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            os.close(waiting.job_w)
            os.close(waiting.result_r)
            self._exited.append(waiting.pid)

    def _hand_over(self, body: bytes | bytearray) -> _Child | None:
        for _ in range(2):
            self.prepare()
            child, self._waiting = self._waiting, None
            assert child is not None
            try:
                write_frame(child.job_w, [body])
            except BrokenPipeError:  # the idle child died: reap it, fork another
                status = self._reap(child)
                _log(f"idle job process {child.pid} {_describe(status)}; forking another")
                continue
            os.close(child.job_w)
            child.job_w = -1
            return child
        return None

    def _collect(self, child: _Child) -> tuple[bytearray | None, str]:
        """Read the child's done frame; (None, what went wrong) if it is incomplete.

        Ends at the child's exit, not at the end of the pipe: a process the job started
        may hold the pipe open long after the job process is gone (a pidfd tells)."""
        poller = select.poll()
        poller.register(child.result_r, select.POLLIN)
        if self._sock is not None:
            poller.register(self._channel_fd, select.POLLIN)
        try:
            pidfd = os.pidfd_open(child.pid)
        except (AttributeError, OSError):  # no pidfd (Linux < 5.3): end-of-file only
            pidfd = -1
        if pidfd >= 0:
            poller.register(pidfd, select.POLLIN)
        try:
            return self._read_done(child, poller, pidfd)
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def _read_done(
        self, child: _Child, poller: Any, pidfd: int
    ) -> tuple[bytearray | None, str]:
        header = b""
        body: bytearray | None = None
        view = memoryview(b"")
        got = 0
        exited = False
        while True:
            events = poller.poll()
            # The pipe first: what the child wrote before it exited still counts.
            events.sort(key=lambda ev: ev[0] == pidfd)
            for fd, _ in events:
                if fd == pidfd:
                    # Exited: what it wrote is in the pipe now; read on without blocking
                    # (the pidfd stays readable, so poll() no longer waits).
                    if not exited:
                        os.set_blocking(child.result_r, False)
                    exited = True
                    continue
                if fd == self._channel_fd:
                    if self._worker_gone():
                        os.kill(child.pid, signal.SIGKILL)
                        self._reap(child)
                        raise _WorkerGone
                    poller.unregister(fd)  # a frame came early: read it after this job
                    continue
                try:
                    if body is None:
                        chunk = os.read(fd, 4 - len(header))
                    else:
                        k = os.readv(fd, [view[got:]])
                except BlockingIOError:
                    return None, _gone_early(got, body)
                if body is None:
                    if not chunk:
                        return None, "before it reported a result"
                    header += chunk
                    if len(header) == 4:
                        (length,) = _HEADER.unpack(header)
                        if not 1 <= length <= MAX_FRAME:
                            os.kill(child.pid, signal.SIGKILL)
                            return None, f"after it sent a broken frame (length {length})"
                        body = bytearray(length)
                        view = memoryview(body)
                    continue
                if k == 0:
                    return None, f"after it sent {got} of {len(body)} bytes of its result"
                got += k
                if got == len(body):
                    return body, ""
            if exited and not any(fd == child.result_r for fd, _ in events):
                return None, _gone_early(got, body)

    def _worker_gone(self) -> bool:
        assert self._sock is not None
        try:
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _load(self, project: str) -> None:
        """Load a project the first time a job names it, here in the parent, so that
        later children inherit it and a wrong directory costs no fork. Remote projects
        are left to the children: their filesystems may start threads, and a parent
        with threads must not fork."""
        if "://" in project or self._projects.has(project):
            return
        try:
            self._projects.get(project)
        except runner.ProjectNotFound:
            raise
        except Exception as exc:  # noqa: BLE001 - the child meets it again and reports it
            _log(f"project {project!r} not loaded: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """After a job was answered: reap the children that have exited, and make sure
        one is waiting."""
        self._exited = [pid for pid in self._exited if not self._faults.reaped(pid, os.WNOHANG)]
        self.prepare()

    def _reap(self, child: _Child) -> int:
        for fd in (child.job_w, child.result_r):
            if fd >= 0:
                os.close(fd)
        child.job_w = child.result_r = -1
        return self._faults.wait(child.pid)

    def close(self) -> None:
        """No more jobs: the waiting child sees EOF and exits; wait for every child."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self._reap(waiting)
        for pid in self._exited:
            self._faults.wait(pid)
        self._exited = []
        if self._faults.children:
            _log(self._faults.summary())


def _gone_early(got: int, body: bytearray | None) -> str:
    """Why a child that exited left no whole answer (a process it started may still hold
    the pipe)."""
    sent = f"after it sent {got} of {len(body)} bytes of its result" if body else (
        "before it reported a result")
    return f"{sent} (it exited; the result pipe was left open by another process)"


def _reset_signals() -> None:
    """Default dispositions in the job process: SIGTERM and SIGINT kill it. SIGPIPE
    stays ignored, as Python always has it, so a closed pipe is a BrokenPipeError."""
    for sig in signal.valid_signals():
        try:
            handler = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        if callable(handler) or sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"was killed by {name} ({sig})"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended with wait status {status}"


# ------------------------------------------------------------------------------- main


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _hello(isolation: str) -> bytes:
    import platform

    import flowerpower_job_queue as package

    version = getattr(package, "__version__", None) or _version("flowerpower-job-queue")
    return _json(
        {
            "type": "hello",
            "pid": os.getpid(),
            "python": platform.python_version(),
            "isolation": isolation,
            "version": version,
            "flowerpower": _version("flowerpower"),
        }
    )


def serve(isolation: str, channel_fd: int = CHANNEL_FD, pipeline_cache: int = DEFAULT_SIZE) -> int:
    """Speak the protocol on channel_fd until EOF; return the exit status.

    Example:
        >>> serve("none")  # doctest: +SKIP
        0
    """
    started = time.perf_counter()
    joblog.quiet_hamilton()  # before FlowerPower's import calls disable_telemetry
    runner.import_flowerpower()
    runner.speed_up_runs()
    projects = runner.Projects(PipelineCache(pipeline_cache))
    forker = _Forker(projects, channel_fd) if isolation == "fork" else None
    if forker is not None:
        try:
            runner.warm_up()  # once here rather than in every job's child
        except Exception as exc:  # noqa: BLE001 - only slower jobs without it
            _log(f"warm-up failed, jobs start cold: {type(exc).__name__}: {exc}")
        fork_prep.advise_huge_pages()
        forker.prepare()
    write_frame(channel_fd, [_hello(isolation)])
    _log(f"ready in {time.perf_counter() - started:.2f}s (isolation {isolation})")
    while True:
        body = read_frame(channel_fd)
        if body is None:
            break
        msg = _parse(body)
        if msg["type"] != "run":
            continue  # unknown types are ignored (forward compatibility)
        if forker is None:
            parts = execute(msg, projects, purge=True)
            del body
        else:
            try:
                parts = forker.run(msg, body)
            except _WorkerGone:
                _log("the worker closed the channel during a job; the job was stopped")
                forker.close()
                return 0
            del body
        write_frame(channel_fd, parts)
        del parts
        if forker is not None:
            forker.finish()
    if forker is not None:
        forker.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m flowerpower_job_queue.executor``.

    Example:
        $ python -m flowerpower_job_queue.executor --isolation none 3<>socket
    """
    parser = argparse.ArgumentParser(
        prog="python -m flowerpower_job_queue.executor",
        description="Run FlowerPower pipelines for fpq worker.",
    )
    parser.add_argument("--isolation", choices=("fork", "none"), default="fork")
    parser.add_argument("--supervisor", type=int, default=0,
                        help="pid of the worker: exit when it dies (it passes its own)")
    parser.add_argument(
        "--pipeline-cache",
        type=int,
        default=DEFAULT_SIZE,
        metavar="N",
        help="warm pipeline plans and drivers to keep (0: build each run afresh); the "
        "worker passes conf/job_queue.yml's executor.pipeline_cache",
    )
    args = parser.parse_args(argv)
    if args.supervisor > 0:
        # Before anything else: a worker SIGKILLed while this executor starts or runs a
        # job must not leave it running beside the job's retry.
        _native.die_with_parent(args.supervisor)
    # First of all: nothing a pipeline (or FlowerPower's rich output) prints may reach
    # fd 1, which is the worker's stderr anyway; the channel is fd 3.
    os.dup2(2, 1)
    _line_buffered_stdio()
    # Signals end the executor, as they would end the job process.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        os.fstat(CHANNEL_FD)
    except OSError:
        _log(f"file descriptor {CHANNEL_FD} (the worker's channel) is not open")
        return 2
    try:
        return serve(args.isolation, pipeline_cache=max(0, args.pipeline_cache))
    except ProtocolError as exc:
        _log(str(exc))
        return EXIT_BROKEN
    except (BrokenPipeError, ConnectionResetError):
        _log("the worker closed the channel before an answer was delivered")
        return 0


if __name__ == "__main__":
    code = main()
    _flush_stdio()
    # Skip interpreter teardown: with pandas, polars and pyarrow loaded it is slow, and
    # nothing is left to clean up.
    os._exit(code)
