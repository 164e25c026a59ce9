"""The import contract can fail: an import against the one direction (the executor side
reaching the API side) is caught by import-linter, as ./scripts/test runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).parent / "lint-imports")


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT, str(ROOT / "pyproject.toml")], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"})


def test_the_contracts_hold_and_catch_an_import_against_the_direction(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "python" / "flowerpower_job_queue", tmp_path / "flowerpower_job_queue",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout[-2000:]
    runner = tmp_path / "flowerpower_job_queue" / "runner.py"
    runner.write_text(runner.read_text() + "\nfrom . import manager  # against the direction\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "flowerpower_job_queue.runner is not allowed to import" in broken.stdout
