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
"""

from __future__ import annotations

import importlib
import json
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


def resolve(ref: str) -> Callable[..., Any]:
    """Imports what a reference names. ``"m:a.b"`` is module ``m``'s attribute ``a.b``;
    ``"a.b.c"`` (RQ's form) is the longest importable module prefix's attribute. Raises
    ImportError or AttributeError, or TypeError when it is not callable."""
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
    with the project directory first on the module path."""
    added = project_dir not in sys.path
    if added:
        sys.path.insert(0, project_dir)
    try:
        resolve(ref)
    except Exception as error:  # any import-time failure is the user's to see
        raise ValueError(f"{which} '{ref}' is not importable: {type(error).__name__}: "
                         f"{error}") from None
    finally:
        if added:
            sys.path.remove(project_dir)


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
    fn = resolve(str(message["ref"]))
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
