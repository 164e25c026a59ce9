"""The examples in the README and docs/ run as written: each ```python block of the pages
below runs in a fresh interpreter, each ```sh block in bash, in a scratch copy of the
repository's example project so that nothing is written into the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```(python|sh)\n(.*?)```", re.S)

# (page, language, index of the block on the page): the blocks that are complete examples.
EXAMPLES = [
    ("README.md", "python", 0),
    ("README.md", "sh", 1),
    ("docs/python-api.md", "python", 1),
    ("docs/cli.md", "sh", 0),
    ("docs/cli.md", "sh", 1),
    ("docs/operations.md", "sh", 0),
    ("docs/scheduling.md", "sh", 0),
    ("docs/scheduling.md", "python", 0),
    ("docs/dependencies.md", "sh", 0),
    ("docs/dependencies.md", "python", 0),
    ("docs/callbacks.md", "sh", 0),
    ("docs/callbacks.md", "python", 0),
    ("examples/adapters/README.md", "sh", 0),
]


def blocks(page: str, language: str) -> list[str]:
    text = (ROOT / page).read_text()
    return [code for lang, code in BLOCK.findall(text) if lang == language]


@pytest.mark.parametrize(("page", "language", "index"), EXAMPLES)
def test_the_example_runs(tmp_path: Path, fpq_bin: str, page: str, language: str,
                          index: int) -> None:
    code = blocks(page, language)[index]
    work = tmp_path / "repo"
    (work / "examples").mkdir(parents=True)
    for example in ("hello-world", "adapters"):
        shutil.copytree(ROOT / "examples" / example, work / "examples" / example)
    env = dict(os.environ, PATH=f"{Path(fpq_bin).parent}:{Path(sys.executable).parent}:"
               f"{os.environ['PATH']}", FPQ_PYTHON=sys.executable)
    if language == "python":
        argv = [sys.executable, "-c", code]
    else:
        # Paths in shell examples are made to point into the scratch copy.
        code = code.replace("/srv/etl", str(work / "examples" / "hello-world"))
        code = code.replace("/tmp/hello", str(tmp_path / "hello"))
        code = code.replace("fpq worker start --project", "timeout 20 fpq worker start --burst --project")
        argv = ["bash", "-ec", code]
    proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 124), f"{page} block {index}:\n{proc.stdout}\n{proc.stderr}"
