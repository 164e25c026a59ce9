"""Helpers for tests that drive the real `fpq` command and its workers as a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_fpq(fpq: str, *args: str, project: Path | None = None, timeout: float = 120,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs `fpq ARGS [--project DIR]` and returns the finished process (text mode)."""
    argv = [fpq, *args]
    if project is not None:
        argv += ["--project", str(project)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stderr}")
    return proc


def enqueue(fpq: str, project: Path, pipeline: str, *args: str) -> str:
    """Queues a job with `fpq enqueue` and returns its id."""
    proc = run_fpq(fpq, "enqueue", pipeline, *args, project=project, check=True)
    return proc.stdout.strip()


def job(fpq: str, project: Path, job_id: str) -> dict[str, Any]:
    """One job's JSON form from `fpq status id=ID --json`."""
    proc = run_fpq(fpq, "status", f"id={job_id}", "--json", project=project, check=True)
    return dict(json.loads(proc.stdout))


def jobs(fpq: str, project: Path, pipeline: str | None = None, limit: int = 1000) -> list[Any]:
    """Jobs of the project (or one pipeline), newest first."""
    args = ["status", *([pipeline] if pipeline else []), "--json", "--limit", str(limit)]
    return list(json.loads(run_fpq(fpq, *args, project=project, check=True).stdout))


def start_worker(fpq: str, project: Path, *args: str, log: Path | None = None
                 ) -> subprocess.Popen[bytes]:
    """Starts `fpq worker start ARGS` in the background; its log goes to `log`."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the OS
    return subprocess.Popen([fpq, "worker", "start", "--project", str(project), *args],
                            stdout=out, stderr=out)


def run_burst(fpq: str, project: Path, *args: str, timeout: float = 180,
              log: Path | None = None) -> int:
    """Runs a burst worker to the end and returns its exit code."""
    proc = start_worker(fpq, project, "--burst", *args, log=log)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        raise


def wait_for(condition: Callable[[], Any], timeout: float = 60, what: str = "condition",
             interval: float = 0.05) -> Any:
    """Polls (every `interval` s) until condition() is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """Stops a worker gracefully (SIGTERM) and returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on loopback with its own temporary directory."""

    def __init__(self, directory: Path, port: int | None = None, extra: list[str] | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
