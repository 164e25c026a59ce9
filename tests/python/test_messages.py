"""Messages and exit codes of `fpq` when the backend is unavailable or the input is bad,
against a real redis-server: a refused password and storage that cannot be written are
"backend unavailable" (3), a link dropped while connecting is said in plain words, URL
query parameters other than db/password/username are bad input (2), `?ssl=true` says in
one line that TLS is not supported, a too-long --name gets a length error, and --quiet
never hides a metrics port that cannot be served."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from fpqtest import run_fpq
from projects import make_project

OK = "def result(x: int = 1) -> int:\n    return x + 1\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, "msgs", {"m_add": OK})


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_refused_redis_password_is_backend_unavailable(
        project: Path, fpq_bin: str, redis_server: Any) -> None:
    import redis

    redis.Redis(port=redis_server.port).config_set("requirepass", "right-pw")
    wrong = f"redis://:wrong-pw@127.0.0.1:{redis_server.port}/0"
    proc = run_fpq(fpq_bin, "status", "--url", wrong, project=project)
    assert proc.returncode == 3
    line = one_line(proc.stderr)
    assert "refused the user name or password in the URL (WRONGPASS)" in line
    assert "wrong-pw" not in line
    proc = run_fpq(fpq_bin, "status", "--url", redis_server.url, project=project)
    assert proc.returncode == 3
    assert "wants a password and the URL gives none (NOAUTH)" in one_line(proc.stderr)


def status_against(project: Path, fpq_bin: str, reply: bytes | None) -> str:
    """`fpq status` against a fake server on loopback that answers the first command of
    each connection with `reply`, or closes it at once when reply is None (a Redis
    restarting). Returns the single line fpq printed, after checking it exited 3."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve() -> None:  # every connection alike, until the listener is closed
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                if reply is not None:
                    conn.recv(1024)
                    conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    try:
        proc = run_fpq(fpq_bin, "status", "--url", f"redis://127.0.0.1:{port}/0",
                       project=project)
    finally:
        listener.close()
    assert proc.returncode == 3, proc.stderr
    return one_line(proc.stderr)


def test_a_link_dropped_while_connecting_is_said_in_plain_words(
        project: Path, fpq_bin: str) -> None:
    line = status_against(project, fpq_bin, None)
    assert "closed the connection while checking that it answers (PING)" in line
    assert "without a password" not in line


def test_a_redis_still_loading_is_said_in_plain_words(project: Path, fpq_bin: str) -> None:
    line = status_against(project, fpq_bin, b"-LOADING Redis is loading the dataset in memory\r\n")
    assert line.endswith("is still loading its data into memory (LOADING): try again when it "
                         "has loaded"), line
    assert "refused a PING" not in line


def test_storage_that_cannot_be_written_is_backend_unavailable(
        project: Path, fpq_bin: str) -> None:
    # /proc takes no new files, whoever runs the test (root included).
    proc = run_fpq(fpq_bin, "enqueue", "m_add", "--url", "sqlite:///proc/fpq-test/queue.db",
                   project=project)
    assert proc.returncode == 3
    assert "cannot create directory /proc/fpq-test" in one_line(proc.stderr)


@pytest.mark.parametrize(
    "query,says",
    [
        ("?ssl=true",
         ("query parameter 'ssl' asks for TLS: TLS is not supported by the Redis "
          "client library in use")),
        ("?ssl_cert_reqs=required", "query parameter 'ssl_cert_reqs' asks for TLS"),
        ("?socket_timeout=3",
         "unknown query parameter 'socket_timeout' (accepted: db, password, username)"),
        ("?password=hunter2&retry=1", "unknown query parameter 'retry'"),
    ],
)
def test_unknown_redis_url_parameters_are_bad_input(
        project: Path, fpq_bin: str, redis_server: Any, query: str, says: str) -> None:
    proc = run_fpq(fpq_bin, "status", "--url", redis_server.url + query, project=project)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert says in line and "hunter2" not in line


def test_rediss_says_tls_is_not_supported_in_one_line(project: Path, fpq_bin: str) -> None:
    proc = run_fpq(fpq_bin, "status", "--url", "rediss://127.0.0.1:6380/0", project=project)
    assert proc.returncode == 2
    assert "TLS is not supported by the Redis client library in use" in one_line(proc.stderr)


def test_a_300_character_worker_name_gets_a_length_error(project: Path, fpq_bin: str) -> None:
    proc = run_fpq(fpq_bin, "worker", "start", "--burst", "--name", "w" * 300, project=project)
    assert proc.returncode == 2
    assert "--name is 300 characters long: expected 1 to 100" in proc.stderr


def test_quiet_does_not_hide_a_metrics_port_in_use(project: Path, fpq_bin: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_fpq(fpq_bin, "worker", "start", "--burst", "--quiet", "--metrics-port",
                       str(port), project=project)
    assert proc.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}: address already in use" in proc.stderr


@pytest.mark.parametrize("cli", ["fpq", "flowerpower-queue"])
def test_a_schedule_with_control_characters_is_refused_in_one_line(
        project: Path, fpq_bin: str, cli: str) -> None:
    import subprocess
    import sys

    program = fpq_bin if cli == "fpq" else str(Path(sys.executable).parent / cli)

    def schedule(expr: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([program, "schedule", "m_add", "--schedule", expr, "--project",
                               str(project)], capture_output=True, text=True, timeout=120,
                              check=False)

    for expr in ("0\n3 * * *", "0\r3 * * *", "0\v3 * * *", "0\f3 * * *", "0 3 * * *\x1b[2J"):
        proc = schedule(expr)
        assert proc.returncode == 2, proc.stderr
        line = one_line(proc.stderr)
        assert "expression has control character 0x" in line
        assert "\\x" in line and "\x1b" not in line
    proc = schedule("5é * * * *")  # a multibyte character is quoted whole
    assert proc.returncode == 2
    assert "unexpected character 'é'" in one_line(proc.stderr)
    proc = schedule("0 0 1 1 * 2030")  # the year field is blamed, not the day of week
    assert proc.returncode == 2
    assert "field 6 '2030' looks like a year" in one_line(proc.stderr)
