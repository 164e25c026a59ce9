"""Worker processes: which program runs the engine's worker for a project, and how.

For the built-in backends and C plugins that is the ``fpq`` program installed with this
package (``fpq worker start``): one C process, no Python in it. A backend written in
Python (:mod:`flowerpower_job_queue.backends`) can only be called from a Python process,
so its workers are ``python -m flowerpower_job_queue worker start``: the same C worker,
run through the extension in an interpreter that can import the adapter. A class
registered in this process with ``register_adapter`` (rather than named in
``conf/job_queue.yml``) is handed to those processes as ``FPQ_BACKENDS_NAME_ADAPTER``.

Example:
    >>> argv, env = worker_command("/srv/etl", None, None)   # doctest: +SKIP
    >>> argv[-2:]                                            # doctest: +SKIP
    ['worker', 'start']
"""

from __future__ import annotations

import os
import shutil
import sys

from . import _native
from .backends import importable_name
from .exceptions import InvalidInput

__all__ = ["find_fpq", "is_python_backend", "worker_command"]


def find_fpq() -> str:
    """The ``fpq`` command installed with this package: the binary inside the package
    (``flowerpower_job_queue/bin/fpq``, where the wheel and ``pip install .`` put it),
    else the one beside ``sys.executable`` (the virtual environment's bin directory),
    else the one on ``PATH``.

    Raises:
        FileNotFoundError: it is not installed.

    Example:
        >>> find_fpq()  # doctest: +SKIP
        '/srv/venv/lib/python3.11/site-packages/flowerpower_job_queue/bin/fpq'
    """
    for candidate in (os.path.join(os.path.dirname(__file__), "bin", "fpq"),
                      os.path.join(os.path.dirname(sys.executable), "fpq")):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("fpq")
    if found is None:
        raise FileNotFoundError(
            "the fpq command is not installed beside this Python nor on PATH: reinstall "
            "flowerpower-job-queue"
        )
    return found


def is_python_backend(project_dir: str, backend: str | None, url: str | None) -> str | None:
    """The backend's name when the project's backend (resolved by the engine, without
    connecting) is written in Python, else None.

    Example:
        >>> is_python_backend("/srv/etl", None, None)   # doctest: +SKIP
        None
    """
    config = _native.resolve_config(project_dir, backend, url)
    name = str(config["backend"])
    adapter = os.environ.get(_adapter_variable(name)) or config["settings"].get(
        f"backends.{name}.adapter")
    return name if adapter or _native.python_backend(name) is not None else None


def _adapter_variable(name: str) -> str:
    return f"FPQ_BACKENDS_{name.upper().replace('-', '_')}_ADAPTER"


def worker_command(project_dir: str, backend: str | None,
                   url: str | None) -> tuple[list[str], dict[str, str]]:
    """The program that runs this project's workers, up to the ``worker start``
    arguments, and its environment: ``fpq`` for C backends; this interpreter with
    ``-m flowerpower_job_queue`` for Python ones. The executors use this interpreter
    unless ``FPQ_PYTHON`` says otherwise.

    Raises:
        InvalidInput: a Python backend registered in this process from a class other
            processes cannot import (defined in ``__main__`` or in a function).
        FileNotFoundError: the ``fpq`` command is not installed.

    Example:
        >>> worker_command("/srv/etl", None, None)[0][-2:]   # doctest: +SKIP
        ['worker', 'start']
    """
    env = dict(os.environ)
    env.setdefault("FPQ_PYTHON", sys.executable)  # executors import this package
    name = is_python_backend(project_dir, backend, url)
    if name is None:
        return [find_fpq(), "worker", "start"], env
    variable = _adapter_variable(name)
    config = _native.resolve_config(project_dir, backend, url)
    if variable not in env and not config["settings"].get(f"backends.{name}.adapter"):
        cls = _native.python_backend(name)
        spec = importable_name(cls) if cls is not None else None
        if spec is None:
            raise InvalidInput(
                f"backend {name!r} is a Python adapter registered in this process from a "
                "class other processes cannot import: define it in a module, or name it "
                "in conf/job_queue.yml (backends.NAME.adapter)", field="backend")
        env[variable] = spec
    return [sys.executable, "-m", "flowerpower_job_queue", "worker", "start"], env

