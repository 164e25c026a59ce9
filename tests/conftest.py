"""Fixtures shared by every pytest suite (tests/python, tests/chaos): the `fpq` binary under
test, a real redis-server on a free loopback port, and an environment free of the machine's
queue settings. Helper modules (fpqtest, projects) live in tests/python and are importable
from both suites."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "python"))

from fpqtest import RedisServer, free_port  # noqa: E402,F401 - fixtures' helpers, re-exported


def _venv_bin() -> Path:
    return Path(sys.executable).parent


@pytest.fixture(scope="session")
def fpq_bin() -> str:
    """Path of the `fpq` command: $FPQ_TEST_FPQ_BIN (the test command points it at the
    coverage build), else the one installed with the package beside this Python."""
    override = os.environ.get("FPQ_TEST_FPQ_BIN")
    if override:
        return override
    candidate = _venv_bin() / "fpq"
    found = str(candidate) if candidate.exists() else shutil.which("fpq")
    if not found:
        pytest.fail("the fpq command is not installed: run ./scripts/bootstrap")
    return found


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
        if key.startswith("FPQ_") and key not in ("FPQ_PYTHON", "FPQ_TEST_FPQ_BIN",
                                                    "FPQ_TEST_PLUGIN"):
            monkeypatch.delenv(key)


@pytest.fixture(params=["sqlite", "rq"])
def builtin_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per built-in backend: sqlite (the default), then rq on a Redis of
    its own, which every fpq process of the test reaches through FPQ_BACKEND/FPQ_URL."""
    if request.param == "rq":
        monkeypatch.setenv("FPQ_BACKEND", "rq")
        monkeypatch.setenv("FPQ_URL", request.getfixturevalue("redis_server").url)
    return str(request.param)
