"""Job callbacks: ``on_success``, ``on_failure``, ``on_stopped``.

A callback is named by an importable reference, ``"package.module:function"`` (or RQ's
dotted ``"package.module.function"``), never sent as code. The worker runs it once the job's
final outcome is recorded, as ``python -m flowerpower_job_queue.callback`` in the job's
project directory (so the project's own modules import), reading
``{"which", "ref", "job"}`` on stdin; the worker kills it after
``executor.callback_timeout`` (60 s by default) and logs how it failed. Nothing here can
change the job: its outcome is already stored.

The call shapes are RQ's: ``fn(job, connection, result)`` on success,
``fn(job, connection, type, value, traceback)`` on failure, ``fn(job, connection)`` when
stopped. ``job`` is a read-only :class:`CallbackJob`; ``connection`` is None (the job's
backend is the worker's, which a callback may open itself with ``JobQueueManager``).
Because the job ran in another process, ``type`` is the exception's type name, ``value``
its message and ``traceback`` its formatted traceback, all strings.

Example:
    >>> reference(json.dumps)
    'json:dumps'
    >>> resolve("json:dumps") is json.dumps, resolve("json.dumps") is json.dumps
    (True, True)
    >>> resolve("json:dumps", project_dir="/srv/etl")
    Traceback (most recent call last):
    flowerpower_job_queue.callback.NotProjectCode: 'json' is not a module of the project (/srv/etl): a callback must be the project's own code, e.g. a function in /srv/etl/json.py
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["KINDS", "CallbackJob", "check_importable", "reference", "resolve"]

KINDS = ("on_success", "on_failure", "on_stopped")
"""The callbacks a job may name, as the API and the job record spell them."""


def reference(value: Any, which: str = "callback") -> str:
    """The importable reference of a callback: text is kept as given, a function becomes
    ``"module:qualname"``. Raises ValueError for what has no importable name (a lambda,
    a function defined inside another, anything else).

    Example:
        >>> reference("hooks:notify"), reference(json.loads)
        ('hooks:notify', 'json:loads')
    """
    if isinstance(value, str):
        return value
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not callable(value) or not isinstance(module, str) or not isinstance(qualname, str):
        raise ValueError(f"{which} {value!r} is not a function or an importable reference "
                         f"like 'package.module:function'")
    if "<" in qualname or module == "__main__":
        raise ValueError(f"{which} {value!r} has no importable name ({module}:{qualname}): "
                         f"a worker imports its callback, so define it at the top level "
                         f"of a module (not in __main__, not a lambda or a local function)")
    return f"{module}:{qualname}"


class NotProjectCode(ImportError):
    """A reference to a module that is not the project's own code."""


def _check_in_project(ref: str, project_dir: str) -> None:
    """Raises NotProjectCode unless the reference's top-level module or package lives in
    the project directory. Found, not imported: nothing outside the project runs.

    Why: a job's payload must not choose code to run on a worker (docs/security.md: the
    same rule refuses ``additional_modules``). A worker already trusts the project's own
    code, so a callback may be any function of it, and only that."""
    conf = os.path.join(project_dir, "conf")
    if not any(os.path.isfile(os.path.join(conf, name))
               for name in ("project.yml", "job_queue.yml")):
        # A record may name any directory; only a FlowerPower project's code is trusted.
        raise NotProjectCode(f"{project_dir} is not a FlowerPower project (no "
                             f"conf/project.yml or conf/job_queue.yml)")
    top = ref.partition(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise ModuleNotFoundError(f"No module named '{top}'", name=top)
    # A file's module has its path as origin; built-in and frozen ones ("frozen", which a
    # relative realpath would place in the working directory) have none, and are refused.
    places = [spec.origin] if spec.has_location else []
    places += list(spec.submodule_search_locations or [])
    root = os.path.realpath(project_dir) + os.sep
    if not places or not all(place and os.path.isabs(place) and
                             os.path.realpath(place).startswith(root) for place in places):
        raise NotProjectCode(
            f"'{top}' is not a module of the project ({project_dir}): a callback must be "
            f"the project's own code, e.g. a function in {project_dir}/{top}.py")


def resolve(ref: str, project_dir: str | None = None) -> Callable[..., Any]:
    """Imports what a reference names. ``"m:a.b"`` is module ``m``'s attribute ``a.b``;
    ``"a.b.c"`` (RQ's form) is the longest importable module prefix's attribute. With
    ``project_dir``, only a module of that project is imported (NotProjectCode). Raises
    ImportError or AttributeError, or TypeError when it is not callable."""
    if project_dir is not None:
        _check_in_project(ref, project_dir)
    if ":" in ref:
        module_name, _, path = ref.partition(":")
        target: Any = importlib.import_module(module_name)
    else:
        parts = ref.split(".")
        target, path = None, ""
        for cut in range(len(parts) - 1, 0, -1):
            try:
                target = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError as error:
                if error.name is None or not ".".join(parts[:cut]).startswith(error.name):
                    raise  # a module it imports is missing: that is the error to show
                continue
            path = ".".join(parts[cut:])
            break
        if target is None:
            raise ModuleNotFoundError(f"no module of '{ref}' can be imported")
    for name in path.split("."):
        target = getattr(target, name)
    if not callable(target):
        raise TypeError(f"'{ref}' is {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def check_importable(ref: str, project_dir: str, which: str = "callback") -> None:
    """Raises ValueError (one line) unless ``ref`` imports as the worker will import it:
    a module of the project, with the project directory first on the module path."""
    # Modules are cached by name, and another project of this process may have its own
    # `alerts`: the check sees this project's, and leaves the cache as it found it.
    top = ref.partition(":")[0].split(".")[0]
    saved = {name: module for name, module in sys.modules.items()
             if name == top or name.startswith(top + ".")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, project_dir)
    try:
        resolve(ref, project_dir)
    except NotProjectCode as error:
        raise ValueError(f"{which} '{ref}' is refused: {error}") from None
    except Exception as error:  # any import-time failure is the user's to see
        raise ValueError(f"{which} '{ref}' is not importable: {type(error).__name__}: "
                         f"{error}") from None
    finally:
        sys.path.remove(project_dir)
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)


class CallbackJob:
    """The job a callback is called with: read-only, from the record the worker just
    stored. ``result`` is what the pipeline returned (decoded), ``error`` the failure as
    ``{"type", "message", "traceback"}`` (or None), ``record`` the whole job as
    ``fpq status --json`` shows it.

    Example:
        >>> job = CallbackJob({"id": "j1", "pipeline": "etl", "status": "finished",
        ...                    "result": {"rows": 3}})
        >>> job.id, job.pipeline, job.status, job.result
        ('j1', 'etl', 'finished', {'rows': 3})
    """

    __slots__ = ("record",)

    def __init__(self, record: Mapping[str, Any]) -> None:
        object.__setattr__(self, "record", dict(record))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a callback's job is read-only")

    def __getattr__(self, name: str) -> Any:
        record = object.__getattribute__(self, "record")
        if name == "result":
            from . import codec

            value = record.get("result")
            return None if value is None else codec.loads(json.dumps(value))
        if name in record:
            return record[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<CallbackJob {self.record.get('id')} {self.record.get('status')}>"


def run(message: Mapping[str, Any]) -> None:
    """Calls the callback a worker's message names, in RQ's call shape."""
    job = CallbackJob(message["job"])
    # The worker started this process in its own project directory (sys.path[0]); the
    # job names its project, never a path.
    fn = resolve(str(message["ref"]), str(message.get("project_dir") or os.getcwd()))
    which = message["which"]
    if which == "on_success":
        fn(job, None, job.result)
    elif which == "on_failure":
        error = job.record.get("error")
        error = error if isinstance(error, dict) else {"message": str(error or "")}
        fn(job, None, str(error.get("type") or ""), str(error.get("message") or ""),
           str(error.get("traceback") or ""))
    else:
        fn(job, None)


def main(argv: list[str] | None = None) -> int:
    """``python -m flowerpower_job_queue.callback [--supervisor PID]``: the worker's side
    (see above). With ``--supervisor`` it dies with that process (the worker)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--supervisor":
        from . import _native

        _native.die_with_parent(int(args[1]))
    message = json.load(sys.stdin)
    job_id = message.get("job", {}).get("id")
    try:
        run(message)
    except BaseException:  # noqa: BLE001 - reported to the worker's log, then exit 1
        print(f"fpq callback: job {job_id}: {message.get('which')} {message.get('ref')} "
              f"raised:\n{traceback.format_exc()}", file=sys.stderr, end="")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
