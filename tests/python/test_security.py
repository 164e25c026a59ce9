"""The claims of docs/security.md, tested: no pickle anywhere, the documented minimum Redis
ACL is enough for the whole flow (and refuses the rest), and the SQLite queue is private to
its owner."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from fpqtest import enqueue, job, run_fpq, start_worker, stop, wait_for
from projects import make_project

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "flowerpower_job_queue"
OK = "def result(x: int = 1) -> int:\n    return x + 1\n"
PICKLERS = {"pickle", "cloudpickle", "dill", "marshal", "shelve", "copyreg", "joblib",
            "_pickle"}


def test_no_pickle_anywhere() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "__import__" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
            for name in names:
                assert name.split(".")[0] not in PICKLERS, f"{path.name} imports {name}"
        assert "allow_pickle" not in source, path.name
    # The C side has no pickle reader to call: no function with "pickle" in its name.
    for path in sorted((ROOT / "src").rglob("*.[ch]")):
        calls = re.findall(r"\b\w*pickle\w*\(", path.read_text(), re.IGNORECASE)
        assert not calls, f"{path.name}: {calls}"


# ---- Redis ACL ----


def documented_acl() -> str:
    text = (ROOT / "docs" / "security.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("ACL SETUSER fpq-worker ")]
    assert len(lines) == 1, "docs/security.md must give the worker's ACL on one line"
    return lines[0]


def sent_commands() -> set[str]:
    """The commands the rq backend can send, read from its sources: the first word of
    each command array in C (`{"HSET", key, ...}`, `args[0] = "EVALSHA"`) and each `redis.call('X'` or `{'X',`
    in its Lua scripts; error codes listed the same way (`{"NOAUTH", ...}`) are dropped."""
    found: set[str] = set()
    for path in sorted((ROOT / "src" / "backend" / "rq").glob("*.c")):
        text = path.read_text()
        found |= set(re.findall(r'\{\s*"([A-Z]+)"', text))
        found |= set(re.findall(r'\[0\] = "([A-Z]+)"', text))  # args[0] = "EVALSHA"
        found |= set(re.findall(r"redis\.call\('([A-Z]+)'", text))
        found |= set(re.findall(r"\{\s*'([A-Z]+)'", text))
    errors = {"LOADING", "NOAUTH", "WRONGPASS", "NOPERM", "BUSY", "MASTERDOWN", "READONLY",
              "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT", "AUTH"}  # AUTH: allowed to everyone
    return found - errors


def test_the_acl_names_every_command_sent() -> None:
    rules = documented_acl().lower().split()
    allowed = {r[1:] for r in rules if r.startswith("+")}
    sent = sent_commands()
    assert {"EVALSHA", "HSET", "ZADD", "LPOP", "XADD", "CLIENT", "SCRIPT"} <= sent, sent
    missing = [c for c in sorted(sent)
               if c.lower() not in allowed and not any(a.startswith(c.lower() + "|")
                                                      for a in allowed)]
    assert not missing, f"docs/security.md's ACL lacks: {missing}"


def test_the_documented_acl_is_enough(fpq_bin: str, tmp_path: Path, redis_server: Any) -> None:
    redis = pytest.importorskip("redis")
    setup = redis.Redis.from_url(redis_server.url)
    setup.execute_command(*shlex.split(documented_acl().replace(">PASSWORD", ">w0rker-pw")))
    setup.execute_command("ACL", "SETUSER", "admin", "on", ">admin-pw", "~*", "&*", "+@all")
    setup.execute_command("ACL", "SETUSER", "default", "off")
    admin = redis.Redis(port=redis_server.port, username="admin", password="admin-pw")
    url = f"redis://fpq-worker:w0rker-pw@127.0.0.1:{redis_server.port}/0"
    anonymous = redis.Redis(port=redis_server.port)
    with pytest.raises(redis.exceptions.RedisError):  # the default user is off
        anonymous.set("rq:job:x", "y")

    project = make_project(tmp_path, "acl", {"acl_ok": OK})
    args = ("--backend", "rq", "--url", url)
    first = enqueue(fpq_bin, project, "acl_ok", "--inputs", '{"x": 1}', *args)
    later = enqueue(fpq_bin, project, "acl_ok", "--in", "1h", *args)
    assert run_fpq(fpq_bin, "cancel", later, *args, project=project).returncode == 0
    assert run_fpq(fpq_bin, "requeue", later, *args, project=project).returncode == 0
    log = tmp_path / "worker.log"
    worker = start_worker(fpq_bin, project, "--name", "acl-worker", "--lease", "3", *args,
                          log=log)
    try:
        def status(job_id: str) -> str:
            out = run_fpq(fpq_bin, "status", f"id={job_id}", "--json", *args, project=project,
                          check=True)
            return str(json.loads(out.stdout)["status"])

        wait_for(lambda: status(first) == "finished" and status(later) == "finished",
                 timeout=60, what="both jobs to finish")
        # A job enqueued while the worker waits wakes it through client tracking, which
        # needs CLIENT TRACKING on the rq: prefixes and the invalidation channel.
        third = enqueue(fpq_bin, project, "acl_ok", "--inputs", '{"x": 5}', *args)
        wait_for(lambda: status(third) == "finished", timeout=30, what="a third job")
        result = run_fpq(fpq_bin, "result", f"id={third}", "--json", *args, project=project)
        assert json.loads(result.stdout)["result"] == {"result": 6}, result.stderr
        listed = run_fpq(fpq_bin, "status", "acl_ok", "--json", *args, project=project)
        assert len(json.loads(listed.stdout)) == 3, listed.stderr
        workers = run_fpq(fpq_bin, "worker", "list", "--json", *args, project=project)
        assert [w["name"] for w in json.loads(workers.stdout)] == ["acl-worker"]
        metrics = run_fpq(fpq_bin, "metrics", "--json", *args, project=project)
        assert metrics.returncode == 0, metrics.stderr
        clients = admin.client_list()
        ours = [c for c in clients if c.get("user") == "fpq-worker"]
        assert any("t" in c["flags"] for c in ours), ours  # tracking is on
        stopped = run_fpq(fpq_bin, "worker", "stop", "--all", "--wait", *args,
                          project=project)
        assert stopped.returncode == 0, stopped.stderr
        assert worker.wait(30) == 0
    finally:
        stop(worker)
    text = log.read_text()
    assert "NOPERM" not in text and "cannot" not in text, text

    # Nothing beyond the documented rules.
    user = redis.Redis(port=redis_server.port, username="fpq-worker", password="w0rker-pw")
    refused = [("FLUSHALL",), ("CONFIG", "GET", "*"), ("KEYS", "*"), ("GET", "secrets:x"),
               ("SET", "rq:job:x", "y"), ("EVAL", "return 1", "0"),
               ("HGETALL", "other:key"), ("SUBSCRIBE", "other-channel")]
    for command in refused:
        with pytest.raises(redis.exceptions.NoPermissionError):
            user.execute_command(*command)


# ---- SQLite permissions ----


def test_the_sqlite_queue_is_private(fpq_bin: str, tmp_path: Path) -> None:
    project = make_project(tmp_path, "private", {"pv_ok": OK})
    old = os.umask(0o022)  # the usual umask: files would be 0644 without our care
    try:
        job_id = enqueue(fpq_bin, project, "pv_ok")
        worker = start_worker(fpq_bin, project, "--name", "pv", log=tmp_path / "w.log")
        try:
            wait_for(lambda: job(fpq_bin, project, job_id)["status"] == "finished",
                     timeout=60, what="the job")
            queue_dir = project / ".flowerpower"
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in queue_dir.iterdir()}
        finally:
            assert stop(worker) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(queue_dir.stat().st_mode) == 0o700
    assert {"queue.db", "queue.db-wal", "queue.db-shm"} <= set(files), files
    assert all(mode == 0o600 for mode in files.values()), {k: oct(v) for k, v in files.items()}


def test_start_workers_never_puts_the_redis_password_on_a_command_line(
        tmp_path: Path, redis_server: Any) -> None:
    import redis
    from flowerpower_job_queue.manager import JobQueueManager

    secret = "s3cret-Pw-9f1b"
    redis.Redis(port=redis_server.port).config_set("requirepass", secret)
    project = make_project(tmp_path, "pw", {"pw_add": OK})
    url = f"redis://:{secret}@127.0.0.1:{redis_server.port}/0"
    jq = JobQueueManager(str(project), backend="rq", url=url)
    job_id = jq.enqueue("pw_add", inputs={"x": 41})
    procs = jq.start_workers(burst=True, quiet=True)
    try:
        for proc in procs:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
            assert secret.encode() not in cmdline, cmdline
            assert b"--url" not in cmdline
    finally:
        assert [p.wait(120) for p in procs] == [0]
    # The worker connected with the password from its environment and ran the job.
    assert jq.result(id=job_id) == {"result": 42}


# ---- plugins: read-only commands load none, paths are the project's ---------------------

PLUGIN_C = """
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void loaded(void) {
  int fd = open("%s", O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) { write(fd, "%s\\n", %d); close(fd); }
}
"""


def _plugin(directory: Path, marker: Path, tag: str) -> Path:
    """A shared object whose constructor appends `tag` to `marker` when it is loaded."""
    import subprocess

    src, lib = directory / f"{tag}.c", directory / "evil.so"
    directory.mkdir(parents=True, exist_ok=True)
    src.write_text(PLUGIN_C % (marker, tag, len(tag) + 1))
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    return lib


def test_read_only_commands_load_no_plugin_the_conf_names(fpq_bin: str, tmp_path: Path) -> None:
    import subprocess

    project = make_project(tmp_path, "plug", {"plug_add": OK})
    marker = tmp_path / "loaded.txt"
    _plugin(project, marker, "project")
    (project / "conf" / "job_queue.yml").write_text(
        "backend: evil\nbackends:\n  evil:\n    library: ./evil.so\n")
    for args in (["status"], ["result"], ["worker", "list"], ["schedules", "list"],
                 ["metrics"]):
        proc = run_fpq(fpq_bin, *args, project=project)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "a read-only command does not load it; pass --backend evil" in proc.stderr
        assert len(proc.stderr.splitlines()) == 1
        assert not marker.exists(), f"fpq {' '.join(args)} loaded the plugin"
    # The Typer CLI's read-only commands (the same engine, through _native) alike.
    queue_cli = str(Path(sys.executable).parent / "flowerpower-queue")
    for args in (["status"], ["schedules", "list"], ["worker", "list"], ["metrics"]):
        proc = subprocess.run([queue_cli, *args, "--project", str(project)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "a read-only command does not load it" in proc.stderr, proc.stderr
        assert not marker.exists(), f"flowerpower-queue {' '.join(args)} loaded the plugin"
    # A bad plugin path: still nothing loaded, the same one line.
    (project / "conf" / "job_queue.yml").write_text(
        "backend: evil\nbackends:\n  evil:\n    library: ../../no/such.so\n")
    proc = run_fpq(fpq_bin, "status", project=project)
    assert proc.returncode == 2 and "does not load it" in proc.stderr
    assert not marker.exists()
    # Chosen explicitly, from another directory holding its own evil.so: the relative
    # path is the project's, not the current directory's.
    (project / "conf" / "job_queue.yml").write_text(
        "backend: evil\nbackends:\n  evil:\n    library: ./evil.so\n")
    elsewhere = tmp_path / "cwd"
    _plugin(elsewhere, marker, "cwd")
    subprocess.run([fpq_bin, "status", "--project", str(project), "--backend", "evil"],
                   cwd=elsewhere, capture_output=True, text=True, timeout=120, check=False)
    assert marker.read_text() == "project\n"
