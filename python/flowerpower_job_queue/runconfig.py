"""Run options: what a FlowerPower caller gives (a ``RunConfig``, a dict of its fields,
``run()`` keyword arguments, datetimes, timedeltas) as the JSON the engine takes.

A job stores only the run options the caller set, never a full ``RunConfig.to_dict()``:
FlowerPower would take every key of that as an explicit override of the pipeline's YAML.
Which of those options are valid, and what the retry block means, the engine decides
(``fpq_job_apply_run_config``); this module only turns Python objects into JSON data and
refuses what JSON cannot hold (callables, NaN, non-string keys), naming where it sits.

Example:
    >>> from flowerpower.cfg.pipeline.run import RunConfig
    >>> run_config_to_dict(RunConfig(inputs={"x": 1}, retry={"max_retries": 2}))
    {'inputs': {'x': 1}, 'retry': {'max_retries': 2}}
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from .exceptions import InvalidInput

__all__ = ["check_text", "options_json", "run_at", "run_config_to_dict", "run_kwargs_to_dict",
           "seconds"]

# RunConfig fields that are never sent: FlowerPower's bookkeeping, and the deprecated flat
# retry fields (kept in sync with the nested ``retry`` block, which is sent instead).
_INTERNAL_FIELDS = frozenset(
    {
        "with_adapter_override_raw",
        "executor_override_raw",
        "retry_override_raw",
        "pipeline_adapter_cfg_override_raw",
        "project_adapter_cfg_override_raw",
        "explicit_overrides",
        "max_retries",
        "retry_delay",
        "jitter_factor",
        "retry_exceptions",
    }
)
# A field whose raw override FlowerPower kept is sent as the caller wrote it.
_RAW_OVERRIDE = {
    "executor": "executor_override_raw",
    "with_adapter": "with_adapter_override_raw",
    "retry": "retry_override_raw",
    "pipeline_adapter_cfg": "pipeline_adapter_cfg_override_raw",
    "project_adapter_cfg": "project_adapter_cfg_override_raw",
}
_CALLBACKS = ("on_success", "on_failure")
_MISSING = object()
_default_configs: dict[type, Any] = {}


def _callback_error(where: str) -> InvalidInput:
    return InvalidInput(
        f"{where} is a callback: a queued run happens in a worker process, so callables "
        "cannot be sent with it; run them after result() instead"
    )


def _jsonable(value: Any, where: str) -> Any:
    """Returns value as JSON data (tuples become lists), or raises InvalidInput naming
    where the first value that is not JSON sits."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidInput(f"{where} is {value}, too large for JSON: at most 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where} is {value}, which JSON cannot hold")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(
                    f"{where} has the key {key!r} ({type(key).__name__}): JSON object keys "
                    "must be strings"
                )
            out[key] = _jsonable(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "__struct_fields__"):  # a FlowerPower config struct
        return _struct_patch(value, _default_of(type(value)), where)
    if callable(value):
        raise _callback_error(where)
    raise InvalidInput(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which is not "
        "JSON: run options must be str, int, float, bool, None, lists and dicts with str keys"
    )


def _default_of(cls: type) -> Any:
    """A default instance of a config struct class (cached), or None when it has none."""
    default = _default_configs.get(cls, _MISSING)
    if default is _MISSING:
        try:
            default = cls()
        except Exception:  # noqa: BLE001 - a struct with required fields has no default
            default = None
        _default_configs[cls] = default
    return default


def _exception_names(values: Any) -> Any:
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [
        v.__name__ if isinstance(v, type) and issubclass(v, BaseException) else v
        for v in values
    ]


def _struct_patch(value: Any, default: Any, where: str) -> dict[str, Any]:
    """The fields of a config struct that differ from default, as JSON data; nested
    structs likewise (FlowerPower's own rule for merging a partial struct)."""
    patch: dict[str, Any] = {}
    for name in value.__struct_fields__:
        current = getattr(value, name)
        if name == "retry_exceptions":
            current = _exception_names(current)
        base = getattr(default, name, _MISSING) if default is not None else _MISSING
        if name == "retry_exceptions" and base is not _MISSING:
            base = _exception_names(base)
        if hasattr(current, "__struct_fields__"):
            nested_default = base if hasattr(base, "__struct_fields__") else _default_of(
                type(current))
            nested = _struct_patch(current, nested_default, f"{where}.{name}")
            if nested:
                patch[name] = nested
        elif base is _MISSING or current != base:
            patch[name] = _jsonable(current, f"{where}.{name}")
    return patch


def run_config_to_dict(run_config: Any) -> dict[str, Any]:
    """The fields of a run config the caller set, as a JSON-safe dict of RunConfig field
    names (``executor``, ``with_adapter``, ``retry``, ... and the queue's ``priority``,
    ``schedule``, ``backend``).

    ``run_config`` is a FlowerPower ``RunConfig``, a :class:`QueueRunConfig` or a dict of
    RunConfig fields. A field is "set" when it differs from ``RunConfig()``'s default or
    was named explicitly (``RunConfig.from_dict``), which is how FlowerPower itself merges
    a run config over the pipeline's YAML; a full ``to_dict()`` would override all of it.

    Raises:
        InvalidInput: a callback (``on_success``/``on_failure``), a value that is not
            JSON, or a run_config of another type.

    Example:
        >>> from flowerpower.cfg.pipeline.run import RunConfig
        >>> run_config_to_dict(RunConfig(inputs={"x": 1}, retry={"max_retries": 2}))
        {'inputs': {'x': 1}, 'retry': {'max_retries': 2}}
    """
    if run_config is None:
        return {}
    if isinstance(run_config, Mapping):
        out: dict[str, Any] = {}
        for key, value in run_config.items():
            if key in _CALLBACKS and value is not None:
                raise _callback_error(f"run_config[{key!r}]")
            out[str(key)] = _jsonable(value, f"run_config[{key!r}]")
        return out
    if not hasattr(run_config, "__struct_fields__"):
        raise InvalidInput(
            f"run_config is a {type(run_config).__name__}: expected a FlowerPower RunConfig, "
            "a QueueRunConfig or a dict of RunConfig fields"
        )
    default = _default_of(type(run_config))
    explicit = set(getattr(run_config, "explicit_overrides", None) or ())
    out = {}
    for name in run_config.__struct_fields__:
        if name in _INTERNAL_FIELDS:
            continue
        value = getattr(run_config, name)
        where = f"run_config.{name}"
        if name in _CALLBACKS:
            if value is not None:
                raise _callback_error(where)
            continue
        raw = getattr(run_config, _RAW_OVERRIDE[name], None) if name in _RAW_OVERRIDE else None
        if raw is not None:
            out[name] = _jsonable(raw, where)
            continue
        base = getattr(default, name, _MISSING) if default is not None else _MISSING
        if hasattr(value, "__struct_fields__"):
            nested_default = base if hasattr(base, "__struct_fields__") else _default_of(
                type(value))
            patch = _struct_patch(value, nested_default, where)
            if patch:
                out[name] = patch
        elif name == "additional_modules" and value is not None:
            out[name] = [m if isinstance(m, str) else getattr(m, "__name__", m) for m in value]
            out[name] = _jsonable(out[name], where)
        elif name in explicit or base is _MISSING or value != base:
            if base is _MISSING and value is None:
                continue
            out[name] = _jsonable(value, where)
    return out


def run_kwargs_to_dict(run_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """run() keyword arguments as JSON data for the engine, which merges them over the run
    config by FlowerPower's rule (``fpq_job_apply_run_kwargs``). Callables are refused:
    they cannot cross to a worker.

    Example:
        >>> run_kwargs_to_dict({"inputs": {"b": 2}, "final_vars": ("x",)})
        {'inputs': {'b': 2}, 'final_vars': ['x']}
    """
    out = {}
    for key, value in run_kwargs.items():
        if key in _CALLBACKS and value is not None:
            raise _callback_error(key)
        out[key] = _jsonable(value, key)
    return out


def options_json(options: Mapping[str, Any]) -> str | None:
    """Run options as the compact JSON text the engine takes; None when there are none.

    Example:
        >>> options_json({"inputs": {"x": 1}}), options_json({})
        ('{"inputs":{"x":1}}', None)
    """
    return json.dumps(options, separators=(",", ":"), allow_nan=False) if options else None


def check_text(what: str, value: Any) -> Any:
    """value, checked that the engine can take it: its strings are C strings (they end at
    the first NUL) in UTF-8 (a lone surrogate has no encoding). Anything else is left to
    the engine's own checks.

    Example:
        >>> check_text("job id", "a\\x00b")  # doctest: +SKIP
        Traceback (most recent call last):
        InvalidInput: job id 'a\\x00b' contains a NUL character: ...
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{what} {value[:60]!r} contains a NUL character: expected text "
                               "without NUL")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{what} {value[:60]!r} is not valid Unicode (a lone "
                               "surrogate): expected UTF-8 text") from None
    return value


def seconds(name: str, value: Any) -> float:
    """A duration given as seconds or a ``datetime.timedelta``, as float seconds >= 0.

    Example:
        >>> seconds("timeout", dt.timedelta(minutes=2))
        120.0
    """
    if isinstance(value, dt.timedelta):
        total = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        total = float(value)
    else:
        raise InvalidInput(
            f"{name} {value!r} is not a duration: expected seconds or a datetime.timedelta"
        )
    if not (math.isfinite(total) and total >= 0):
        raise InvalidInput(f"{name} {value!r} is not a duration: expected 0 or more seconds")
    return total


def run_at(at: Any, delay: Any) -> float:
    """When a job should run, from ``at`` (a datetime) or ``delay`` (seconds or a
    timedelta), as epoch seconds; 0.0 means now.

    Example:
        >>> run_at(None, None)
        0.0
    """
    if at is not None and delay is not None:
        raise InvalidInput("give at or delay, not both")
    if at is not None:
        if isinstance(at, dt.datetime):
            return at.timestamp()  # a naive datetime is local time, as Python reads it
        raise InvalidInput(f"at {at!r} is not a datetime.datetime")
    if delay is not None:
        wait = seconds("delay", delay)
        return time.time() + wait if wait > 0 else 0.0
    return 0.0
