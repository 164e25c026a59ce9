"""The executor's speed-ups for project.run() change speed only: the same YAML documents,
the same install paths, and nothing when turned off. Each test runs in a fresh interpreter
because the speed-ups patch process-wide functions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent("""
    import sysconfig, yaml
    from pathlib import Path
    from yaml import SafeLoader

    documents = [p.read_text() for p in Path({root!r}, "examples").rglob("*.yml")]
    documents += ["a: 1\\nb: [x, {{y: 2.5}}]\\nc: !!str 3\\nd: 2026-01-01\\ne: null\\n",
                  "anchors: &a {{k: v}}\\nref: *a\\n"]
    slow = [yaml.load(d, Loader=SafeLoader) for d in documents]
    paths_before = sysconfig.get_paths()

    from flowerpower_job_queue import runner
    runner.speed_up_runs()
    runner.speed_up_runs()  # idempotent
    assert [yaml.safe_load(d) for d in documents] == slow
    first = sysconfig.get_paths()
    assert first == paths_before
    first["purelib"] = "/changed"                      # a caller's copy, not the cache
    assert sysconfig.get_paths() == paths_before
    assert sysconfig.get_path("purelib") == paths_before["purelib"]
    assert sysconfig.get_paths(vars={{"base": "/x"}}) != paths_before  # vars: not cached
    print("patched" if getattr(yaml.safe_load, "_fpq_fast", False) else "plain")
""")


def run_check(**env: str) -> str:
    proc = subprocess.run([sys.executable, "-c", CHECK.format(root=str(ROOT))],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_speedups_keep_results_identical() -> None:
    assert run_check() == "patched"


def test_speedups_can_be_turned_off() -> None:
    assert run_check(FPQ_EXECUTOR_SPEEDUPS="0") == "plain"
