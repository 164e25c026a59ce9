"""Fixtures shared by the Python tests: the installed `fpq` binary, a real redis-server on a
free loopback port, and a fresh FlowerPower project per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _venv_bin() -> Path:
    return Path(sys.executable).parent


@pytest.fixture(scope="session")
def fpq_bin() -> str:
    """Path of the `fpq` command: $FPQ_TEST_FPQ_BIN (the test command points it at the
    ASan+UBSan build), else the one installed with the package beside this Python."""
    override = os.environ.get("FPQ_TEST_FPQ_BIN")
    if override:
        return override
    candidate = _venv_bin() / "fpq"
    found = str(candidate) if candidate.exists() else shutil.which("fpq")
    if not found:
        pytest.fail("the fpq command is not installed: run ./scripts/bootstrap")
    return found


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


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of its own for one test."""
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_queue_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their backend explicitly; settings of the machine must not leak in."""
    for key in list(os.environ):
        if key.startswith("FPQ_") and key not in ("FPQ_PYTHON", "FPQ_TEST_FPQ_BIN"):
            monkeypatch.delenv(key)
