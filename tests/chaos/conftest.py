"""Fixtures of the chaos, contention and overload tests (tests/chaos).

They share tests/conftest.py's fixtures (fpq_bin, redis_server) and add: a redis-server
with AOF on (appendonly yes, appendfsync always) that a test may kill and restart, and an
environment in which the Python executors the workers start are not traced by coverage.py
(these tests are about losing nothing under load; the functional suites measure coverage,
and tracing tens of thousands of pipeline runs would only slow them down). The figures the
tests report are printed again at the end of the run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chaoslib import FIGURES, RestartableRedis  # noqa: E402

# pytest imports every conftest.py as the module "conftest", the last one loaded winning:
# re-export what tests import from tests/conftest.py so `from conftest import free_port`
# works whichever it is (helpers are better imported from fpqtest).
from fpqtest import RedisServer, free_port  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _executors_not_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    """A redis-server that writes every change to its append-only file before it answers
    (appendfsync always), so a test may SIGKILL it and start it again on the same port and
    directory without losing anything a client was told had happened."""
    server = RestartableRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures (tests/chaos)")
    for title, figures in FIGURES:
        rows = {k: v for k, v in figures.items() if isinstance(v, list)}
        flat = [f"{k}={v}" for k, v in figures.items() if k not in rows]
        terminalreporter.write_line(f"{title}:")
        for start in range(0, len(flat), 5):
            terminalreporter.write_line("    " + "  ".join(flat[start:start + 5]))
        for key, table in rows.items():
            terminalreporter.write_line(f"  {key}:")
            for row in table:
                terminalreporter.write_line(
                    "    " + "  ".join(f"{k}={v}" for k, v in row.items()))
