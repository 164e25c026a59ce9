"""Safe, exact encoding of pipeline results as JSON: never pickle.

``project.run()`` returns arbitrary Python objects. This module turns them into strict
JSON that the C engine, Redis (RQ's JSON serializer) and any JSON reader can carry, and
back into the same Python types:

* JSON types pass as they are: ``None``, ``bool``, ``str``, finite ``float``, ``int``
  within 64 bits, ``list`` and ``dict`` with ``str`` keys.
* Other supported types become tagged objects ``{"__fpq__": "<tag>", ...}``:
  datetime (naive and aware, ZoneInfo kept), date, time, timedelta, Decimal, UUID,
  bytes, bytearray, complex, tuple, set, frozenset, NaN and infinities, big integers,
  strings JSON parsers refuse (NUL, lone surrogates), dicts whose keys are not all
  strings (or contain ``"__fpq__"``), numpy arrays and scalars, and pandas DataFrame,
  Series, Index (incl. MultiIndex), extension arrays and scalars, with their dtypes.
* Anything else becomes ``{"__fpq__": "repr", "type": "module.QualName", "repr": ...}``
  and decodes to an :class:`Unserializable` placeholder. Decoding never imports or
  calls anything named by the data, so untrusted input cannot run code.

numpy and pandas are imported only when a value's type comes from them (encoding) or a
tag needs them (decoding), so importing this module costs almost nothing.

Example:
    >>> import datetime, decimal
    >>> from flowerpower_job_queue import codec
    >>> value = {"when": datetime.date(2026, 7, 1), "total": decimal.Decimal("1.10")}
    >>> text = codec.dumps(value)
    >>> text
    '{"when":{"__fpq__":"date","value":"2026-07-01"},"total":{"__fpq__":"decimal","value":"1.10"}}'
    >>> codec.loads(text) == value
    True
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

__all__ = ["TAG", "Unserializable", "decode", "dumps", "encode", "loads"]

TAG = "__fpq__"
"""The member that marks a tagged object."""

# A repr longer than this is cut: it is a diagnostic, not data.
REPR_LIMIT = 65536

# jansson (the C side) and most JSON readers hold integers in 64 bits.
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1

_JSONable = Any


class Unserializable:
    """What a value the codec could not encode decodes to: its type name and repr.

    Example:
        >>> from flowerpower_job_queue.codec import decode
        >>> decode({"__fpq__": "repr", "type": "mymod.Model", "repr": "Model(3)"})
        <Unserializable mymod.Model: Model(3)>
    """

    __slots__ = ("repr", "type_name")

    def __init__(self, type_name: str, repr: str) -> None:
        self.type_name = type_name
        self.repr = repr

    def __repr__(self) -> str:
        return f"<Unserializable {self.type_name}: {self.repr}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unserializable):
            return NotImplemented
        return (self.type_name, self.repr) == (other.type_name, other.repr)

    def __hash__(self) -> int:
        return hash((self.type_name, self.repr))


class _Unsupported(Exception):
    """Raised inside the encoder when a numpy/pandas value has no exact encoding."""


# --------------------------------------------------------------------------- encoding


def encode(value: Any) -> _JSONable:
    """Return a JSON-able object (only dict, list, str, int, float, bool, None) for value.

    Never raises for an unsupported value: it is encoded as a tagged repr instead.

    Example:
        >>> from flowerpower_job_queue.codec import encode
        >>> encode({"n": 1, "pair": (1, 2), "nan": float("nan")})
        {'n': 1, 'pair': {'__fpq__': 'tuple', 'items': [1, 2]}, 'nan': {'__fpq__': 'float', 'value': 'nan'}}
    """
    try:
        return _enc(value)
    except RecursionError:
        # Too deep or self-referencing: keep what a person can read.
        return _repr_tag(value)


def dumps(value: Any) -> str:
    """Encode value and serialize it as strict, compact JSON (no NaN or Infinity).

    Example:
        >>> from flowerpower_job_queue.codec import dumps
        >>> dumps({"x": [1, 2.5, None]})
        '{"x":[1,2.5,null]}'
    """
    return json.dumps(encode(value), allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def _enc(v: Any) -> _JSONable:
    t = type(v)
    # The common JSON types first, by exact type: subclasses (numpy.float64 is a float)
    # must reach their own encoders.
    if t is str:
        return v if _plain_str(v) else _str_tag(v)
    if t is int:
        return v if _INT_MIN <= v <= _INT_MAX else {TAG: "int", "value": str(v)}
    if t is float:
        return v if math.isfinite(v) else {TAG: "float", "value": repr(v)}
    if v is None or t is bool:
        return v
    if t is list:
        return [_enc(x) for x in v]
    if t is dict:
        return _enc_dict(v)
    handler = _ENCODERS.get(t)
    if handler is not None:
        return handler(v)
    root = t.__module__.partition(".")[0]
    if root in ("numpy", "pandas"):
        try:
            return _enc_numpy(v) if root == "numpy" else _enc_pandas(v)
        except _Unsupported:
            return _repr_tag(v)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - a library quirk must not lose the whole result
            return _repr_tag(v)
    return _enc_subclass(v)


def _plain_str(s: str) -> bool:
    """True if s survives every JSON parser: no NUL (jansson) and no lone surrogate."""
    if "\x00" in s:
        return False
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _str_tag(s: str) -> _JSONable:
    raw = s.encode("utf-8", "surrogatepass")
    return {TAG: "str", "utf8": _b64(raw)}


def _enc_dict(d: dict[Any, Any]) -> _JSONable:
    if all(type(k) is str and k != TAG and _plain_str(k) for k in d):
        return {k: _enc(x) for k, x in d.items()}
    return {TAG: "dict", "items": [[_enc(k), _enc(x)] for k, x in d.items()]}


def _b64(raw: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(raw).decode("ascii")


def _enc_datetime(v: dt.datetime) -> _JSONable:
    out: dict[str, Any] = {TAG: "datetime", "value": v.isoformat()}
    if v.tzinfo is not None:
        out["tz"] = _enc_tz(v.tzinfo, v)
    if v.fold:
        out["fold"] = 1
    return out


def _enc_time(v: dt.time) -> _JSONable:
    out: dict[str, Any] = {TAG: "time", "value": v.replace(tzinfo=None).isoformat()}
    if v.tzinfo is not None:
        out["tz"] = _enc_tz(v.tzinfo, None)
    if v.fold:
        out["fold"] = 1
    return out


def _enc_tz(tz: dt.tzinfo, when: dt.datetime | None) -> _JSONable:
    """A time zone as JSON: a zone name when it has one, else its fixed offset."""
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key:
        return {"zone": tz.key}
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        assert offset is not None  # a datetime.timezone always has one
        out: dict[str, Any] = {"offset": offset.total_seconds()}
        name = tz.tzname(None)
        if name != dt.timezone(offset).tzname(None):
            out["name"] = name
        return out
    zone = getattr(tz, "zone", None)  # pytz
    if type(tz).__module__.startswith("pytz") and isinstance(zone, str):
        return {"pytz": zone}
    # Another tzinfo (dateutil, ...): keep the instant exactly, as a fixed offset.
    instant_offset = tz.utcoffset(when) if when is not None else None
    if instant_offset is None:
        raise _Unsupported(tz)
    return {"offset": instant_offset.total_seconds()}


def _enc_timedelta(v: dt.timedelta) -> _JSONable:
    return {TAG: "timedelta", "days": v.days, "seconds": v.seconds, "microseconds": v.microseconds}


def _enc_seq(tag: str) -> Callable[[Any], _JSONable]:
    def enc(v: Any) -> _JSONable:
        return {TAG: tag, "items": [_enc(x) for x in v]}

    return enc


def _enc_tz_aware(fn: Callable[[Any], _JSONable]) -> Callable[[Any], _JSONable]:
    def enc(v: Any) -> _JSONable:
        try:
            return fn(v)
        except _Unsupported:
            return _repr_tag(v)

    return enc


_ENCODERS: dict[type, Callable[[Any], _JSONable]] = {
    tuple: _enc_seq("tuple"),
    set: _enc_seq("set"),
    frozenset: _enc_seq("frozenset"),
    bytes: lambda v: {TAG: "bytes", "b64": _b64(v)},
    bytearray: lambda v: {TAG: "bytearray", "b64": _b64(v)},
    dt.datetime: _enc_tz_aware(_enc_datetime),
    dt.date: lambda v: {TAG: "date", "value": v.isoformat()},
    dt.time: _enc_tz_aware(_enc_time),
    dt.timedelta: _enc_timedelta,
    decimal.Decimal: lambda v: {TAG: "decimal", "value": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "value": str(v)},
    complex: lambda v: {TAG: "complex", "real": _enc(v.real), "imag": _enc(v.imag)},
}


def _enc_subclass(v: Any) -> _JSONable:
    """Subclasses of supported types are encoded as their base type (the value survives,
    the subclass does not: decoding never imports classes named by the data). Enums are
    the exception, kept as a repr, because their value alone is misleading."""
    import enum  # cheap, and only needed on this slow path

    if isinstance(v, enum.Enum):
        return _repr_tag(v)
    if isinstance(v, str):
        return _enc(str(v))
    if isinstance(v, int):
        return _enc(int(v))
    if isinstance(v, float):
        return _enc(float(v))
    if isinstance(v, dict):
        return _enc_dict(dict(v))
    if isinstance(v, list):
        return [_enc(x) for x in v]
    for base, handler in _ENCODERS.items():
        if isinstance(v, base):
            return handler(v)
    return _repr_tag(v)


def _type_name(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _repr_tag(v: Any) -> _JSONable:
    try:
        text = repr(v)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not lose the result
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    if len(text) > REPR_LIMIT:
        text = text[:REPR_LIMIT] + f"... [{len(text) - REPR_LIMIT} more characters]"
    if not _plain_str(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return {TAG: "repr", "type": _type_name(type(v)), "repr": text}


# ------------------------------------------------------------------------------ numpy


def _enc_numpy(v: Any) -> _JSONable:
    import numpy as np

    if type(v) is np.ndarray or type(v) is np.memmap:
        return _enc_ndarray(v)
    if isinstance(v, np.generic):
        dtype = v.dtype
        if dtype.hasobject or dtype.kind == "T":
            raise _Unsupported(v)
        return {TAG: "npscalar", "dtype": _descr(dtype), "b64": _b64(np.asarray(v).tobytes())}
    if isinstance(v, np.dtype):
        return {TAG: "npdtype", "dtype": _descr(v)}
    raise _Unsupported(v)


def _descr(dtype: Any) -> _JSONable:
    import numpy as np

    if dtype.kind == "T":
        raise _Unsupported(dtype)
    descr = np.lib.format.dtype_to_descr(dtype)
    return descr if isinstance(descr, str) else _json_descr(descr)


def _json_descr(d: Any) -> Any:
    # Structured descriptions are lists of tuples; JSON has only lists.
    if isinstance(d, (list, tuple)):
        return [_json_descr(x) for x in d]
    return d


def _enc_ndarray(a: Any) -> _JSONable:
    import numpy as np

    a = np.asarray(a)
    shape = list(a.shape)
    kind = a.dtype.kind
    if kind == "O":
        return {
            TAG: "ndarray",
            "dtype": "object",
            "shape": shape,
            "items": [_enc(x) for x in a.ravel().tolist()],
        }
    if kind == "T":
        if hasattr(a.dtype, "na_object"):
            raise _Unsupported(a)
        return {
            TAG: "ndarray",
            "dtype": "StringDType",
            "shape": shape,
            "items": [_enc(x) for x in a.ravel().tolist()],
        }
    if a.dtype.hasobject:
        raise _Unsupported(a)
    data = np.ascontiguousarray(a).tobytes()
    return {TAG: "ndarray", "dtype": _descr(a.dtype), "shape": shape, "b64": _b64(data)}


# ----------------------------------------------------------------------------- pandas


def _enc_pandas(v: Any) -> _JSONable:
    import pandas as pd

    if isinstance(v, pd.DataFrame):
        return _enc_frame(v)
    if isinstance(v, pd.Series):
        out = {
            TAG: "pd.Series",
            "name": _enc(v.name),
            "index": _enc_index(v.index),
            "values": _enc_parray(v.array),
        }
        _enc_meta(v, out)
        return out
    if isinstance(v, pd.Index):
        return _enc_index(v)
    if v is pd.NaT:
        return {TAG: "pd.NaT"}
    if v is pd.NA:
        return {TAG: "pd.NA"}
    if isinstance(v, pd.Timestamp):
        return {
            TAG: "pd.Timestamp",
            "value": v.isoformat(),
            "unit": v.unit,
            "tz": None if v.tzinfo is None else _enc_tz(v.tzinfo, v),
        }
    if isinstance(v, pd.Timedelta):
        return {
            TAG: "pd.Timedelta",
            "days": v.days,
            "seconds": v.seconds,
            "microseconds": v.microseconds,
            "nanoseconds": v.nanoseconds,
            "unit": v.unit,
        }
    if isinstance(v, pd.Period):
        return {TAG: "pd.Period", "ordinal": v.ordinal, "dtype": str(pd.PeriodDtype(v.freq))}
    if isinstance(v, pd.Interval):
        return {
            TAG: "pd.Interval",
            "left": _enc(v.left),
            "right": _enc(v.right),
            "closed": v.closed,
        }
    if isinstance(v, pd.api.extensions.ExtensionArray):
        return {TAG: "pd.array", "values": _enc_parray(v)}
    raise _Unsupported(v)


def _enc_meta(obj: Any, out: dict[str, Any]) -> None:
    if obj.attrs:
        out["attrs"] = _enc(dict(obj.attrs))
    if not obj.flags.allows_duplicate_labels:
        out["allows_duplicate_labels"] = False


def _enc_frame(df: Any) -> _JSONable:
    out = {
        TAG: "pd.DataFrame",
        "index": _enc_index(df.index),
        "columns": _enc_index(df.columns),
        "data": [_enc_parray(col.array) for _, col in df.items()],
    }
    _enc_meta(df, out)
    return out


def _enc_index(idx: Any) -> _JSONable:
    import pandas as pd

    if isinstance(idx, pd.RangeIndex):
        return {
            TAG: "pd.RangeIndex",
            "start": idx.start,
            "stop": idx.stop,
            "step": idx.step,
            "name": _enc(idx.name),
        }
    if isinstance(idx, pd.MultiIndex):
        return {
            TAG: "pd.MultiIndex",
            "levels": [_enc_index(lv) for lv in idx.levels],
            "codes": [_enc_ndarray(c) for c in idx.codes],
            "names": [_enc(n) for n in idx.names],
        }
    out = {TAG: "pd.Index", "name": _enc(idx.name), "values": _enc_parray(idx.array)}
    if isinstance(idx, (pd.DatetimeIndex, pd.TimedeltaIndex)) and idx.freq is not None:
        out["freq"] = idx.freqstr
    return out


_MASKED = frozenset(
    [
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Float32",
        "Float64",
        "boolean",
    ]
)


def _enc_parray(arr: Any) -> _JSONable:
    """One pandas array (a column, an index's values) with its exact dtype."""
    import numpy as np
    import pandas as pd

    dtype = arr.dtype
    # NumpyExtensionArray wraps a plain ndarray (its dtype is not a numpy dtype); its
    # subclasses (StringArray) are not plain.
    if isinstance(dtype, np.dtype) or type(arr) is pd.arrays.NumpyExtensionArray:
        return {"kind": "numpy", "data": _enc_ndarray(np.asarray(arr))}
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "kind": "categorical",
            "categories": _enc_index(dtype.categories),
            "ordered": bool(dtype.ordered),
            "codes": _enc_ndarray(arr.codes),
        }
    if isinstance(dtype, pd.DatetimeTZDtype):
        return {
            "kind": "datetimetz",
            "tz": _enc_tz(dtype.tz, None),
            "unit": dtype.unit,
            "utc": _enc_ndarray(np.asarray(arr.tz_convert(None))),
        }
    if isinstance(dtype, pd.StringDtype):
        na = "nan" if dtype.na_value is not pd.NA else "NA"
        items = arr.to_numpy(dtype=object, na_value=None).tolist()
        return {
            "kind": "string",
            "storage": dtype.storage,
            "na": na,
            "items": [x if x is None else _enc(x) for x in items],
        }
    if dtype.name in _MASKED:
        fill = False if dtype.name == "boolean" else 0
        values = arr.to_numpy(dtype=np.dtype(dtype.type), na_value=fill)
        return {
            "kind": "masked",
            "dtype": dtype.name,
            "values": _enc_ndarray(values),
            "mask": _enc_ndarray(np.asarray(arr.isna())),
        }
    if isinstance(dtype, pd.PeriodDtype):
        return {"kind": "period", "dtype": str(dtype), "ordinals": _enc_ndarray(arr.asi8)}
    if isinstance(dtype, pd.IntervalDtype):
        return {
            "kind": "interval",
            "dtype": str(dtype),
            "closed": arr.closed,
            "left": _enc_parray(arr.left.array),
            "right": _enc_parray(arr.right.array),
        }
    # Another extension dtype (pyarrow, sparse, third party): element by element, if
    # pandas can rebuild the dtype from its name; else keep the values as objects.
    items = [_enc(x) for x in arr.to_numpy(dtype=object).tolist()]
    try:
        same = pd.api.types.pandas_dtype(str(dtype)) == dtype
    except (TypeError, ValueError):
        same = False
    if same:
        return {"kind": "extension", "dtype": str(dtype), "items": items}
    return {
        "kind": "numpy",
        "data": {TAG: "ndarray", "dtype": "object", "shape": [len(items)], "items": items},
    }


# --------------------------------------------------------------------------- decoding


def loads(text: str | bytes) -> Any:
    """Parse strict JSON made by :func:`dumps` and decode it.

    Example:
        >>> from flowerpower_job_queue.codec import loads
        >>> loads('{"__fpq__": "tuple", "items": [1, "a"]}')
        (1, 'a')
    """
    return decode(json.loads(text, parse_constant=_refuse_constant))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def decode(obj: Any) -> Any:
    """Turn what :func:`encode` made back into Python values.

    Raises ValueError for a malformed tagged object; an unknown tag (from a newer
    encoder) decodes to an :class:`Unserializable` instead of failing.

    Example:
        >>> from flowerpower_job_queue.codec import decode
        >>> decode({"__fpq__": "set", "items": [3]})
        {3}
    """
    t = type(obj)
    if t is list:
        return [decode(x) for x in obj]
    if t is dict:
        tag = obj.get(TAG)
        if tag is None:
            return {k: decode(x) for k, x in obj.items()}
        if type(tag) is not str:
            raise ValueError(f"malformed tagged value: {TAG!r} must be a string, not {tag!r}")
        fn = _DECODERS.get(tag)
        if fn is None:
            return Unserializable(f"{TAG}:{tag}", json.dumps(obj, ensure_ascii=False)[:REPR_LIMIT])
        try:
            return fn(obj)
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
            raise ValueError(f"malformed {tag!r} value: {type(exc).__name__}: {exc}") from exc
    return obj


def _get(obj: dict[str, Any], key: str, types: type | tuple[type, ...]) -> Any:
    value = obj[key]
    if not isinstance(value, types):
        raise TypeError(f"{key!r} has type {type(value).__name__}")
    return value


def _unb64(obj: dict[str, Any], key: str = "b64") -> bytes:
    return base64.b64decode(_get(obj, key, str), validate=True)


def _dec_float(obj: dict[str, Any]) -> float:
    text = _get(obj, "value", str)
    if text not in ("nan", "inf", "-inf"):
        raise ValueError(f"malformed 'float' value: {text!r}")
    return float(text)


def _dec_tz(enc: Any) -> dt.tzinfo | None:
    if enc is None:
        return None
    if not isinstance(enc, dict):
        raise TypeError("a time zone must be an object")
    if "zone" in enc:
        return zoneinfo.ZoneInfo(_get(enc, "zone", str))
    if "pytz" in enc:
        try:
            import pytz
        except ImportError:  # same zone, the standard library's way
            return zoneinfo.ZoneInfo(_get(enc, "pytz", str))
        return pytz.timezone(_get(enc, "pytz", str))  # type: ignore[no-any-return]
    offset = dt.timedelta(seconds=_get(enc, "offset", (int, float)))
    name = enc.get("name")
    return dt.timezone(offset, name) if isinstance(name, str) else dt.timezone(offset)


def _dec_datetime(obj: dict[str, Any]) -> dt.datetime:
    value = dt.datetime.fromisoformat(_get(obj, "value", str))
    tz = _dec_tz(obj.get("tz"))
    fold = 1 if obj.get("fold") else 0
    if tz is None:
        return value.replace(fold=fold)
    if getattr(tz, "localize", None) is not None:  # pytz wants its own localize()
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return tz.fromutc(utc.replace(tzinfo=tz))
    # The stored wall time plus zone and fold is the instant; the stored offset agrees.
    return value.replace(tzinfo=tz, fold=fold)


def _dec_time(obj: dict[str, Any]) -> dt.time:
    value = dt.time.fromisoformat(_get(obj, "value", str))
    return value.replace(tzinfo=_dec_tz(obj.get("tz")), fold=1 if obj.get("fold") else 0)


def _dec_dict(obj: dict[str, Any]) -> dict[Any, Any]:
    out = {}
    for pair in _get(obj, "items", list):
        if not isinstance(pair, list) or len(pair) != 2:
            raise TypeError("dict items must be [key, value] pairs")
        out[decode(pair[0])] = decode(pair[1])
    return out


def _dec_items(obj: dict[str, Any]) -> list[Any]:
    return [decode(x) for x in _get(obj, "items", list)]


def _dec_repr(obj: dict[str, Any]) -> Unserializable:
    return Unserializable(_get(obj, "type", str), _get(obj, "repr", str))


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "str": lambda o: _unb64(o, "utf8").decode("utf-8", "surrogatepass"),
    "int": lambda o: int(_get(o, "value", str)),
    "float": _dec_float,
    "complex": lambda o: complex(decode(o["real"]), decode(o["imag"])),
    "dict": _dec_dict,
    "tuple": lambda o: tuple(_dec_items(o)),
    "set": lambda o: set(_dec_items(o)),
    "frozenset": lambda o: frozenset(_dec_items(o)),
    "bytes": lambda o: _unb64(o),
    "bytearray": lambda o: bytearray(_unb64(o)),
    "datetime": _dec_datetime,
    "date": lambda o: dt.date.fromisoformat(_get(o, "value", str)),
    "time": _dec_time,
    "timedelta": lambda o: dt.timedelta(
        days=_get(o, "days", int),
        seconds=_get(o, "seconds", int),
        microseconds=_get(o, "microseconds", int),
    ),
    "decimal": lambda o: decimal.Decimal(_get(o, "value", str)),
    "uuid": lambda o: uuid.UUID(_get(o, "value", str)),
    "repr": _dec_repr,
}


# ----------------------------------------------------------------------- numpy decode


def _dtype(descr: Any) -> Any:
    import numpy as np

    if isinstance(descr, str):
        dtype = np.dtype(descr)
    else:
        dtype = np.lib.format.descr_to_dtype(_tuple_descr(descr))
    if dtype.hasobject:
        # Raw bytes must never become object pointers.
        raise ValueError("an object dtype cannot be decoded from bytes")
    return dtype


def _tuple_descr(d: Any) -> Any:
    if not isinstance(d, list):
        return d
    fields = []
    for f in d:
        if not isinstance(f, list) or len(f) not in (2, 3):
            raise TypeError("malformed structured dtype")
        parts = [f[0], _tuple_descr(f[1])]
        if len(f) == 3:
            parts.append(tuple(f[2]))
        fields.append(tuple(parts))
    return fields


def _dec_ndarray(obj: dict[str, Any]) -> Any:
    import numpy as np

    shape = tuple(_get(obj, "shape", list))
    if not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError("malformed 'ndarray' shape")
    descr = obj["dtype"]
    if descr in ("object", "StringDType"):
        items = _dec_items(obj)
        if descr == "StringDType":
            return np.array(items, dtype=np.dtypes.StringDType()).reshape(shape)
        out = np.empty(len(items), dtype=object)
        for i, x in enumerate(items):  # a loop: slice assignment would broadcast lists
            out[i] = x
        return out.reshape(shape)
    dtype = _dtype(descr)
    raw = _unb64(obj)
    count = math.prod(shape)
    if len(raw) != count * dtype.itemsize:
        raise ValueError("'ndarray' data does not match its shape and dtype")
    if dtype.itemsize == 0:
        return np.zeros(shape, dtype=dtype)
    # bytearray: numpy arrays over bytes would be read-only.
    return np.frombuffer(bytearray(raw), dtype=dtype, count=count).reshape(shape)


def _dec_npscalar(obj: dict[str, Any]) -> Any:
    import numpy as np

    dtype = _dtype(obj["dtype"])
    raw = _unb64(obj)
    if len(raw) != dtype.itemsize:
        raise ValueError("'npscalar' data does not match its dtype")
    return np.frombuffer(raw, dtype=dtype, count=1)[0]


_DECODERS.update(
    {
        "ndarray": _dec_ndarray,
        "npscalar": _dec_npscalar,
        "npdtype": lambda o: _dtype(o["dtype"]),
    }
)


# ---------------------------------------------------------------------- pandas decode


def _dec_parray(enc: Any) -> Any:
    """Inverse of _enc_parray: a numpy array or a pandas ExtensionArray."""
    import numpy as np
    import pandas as pd

    if not isinstance(enc, dict):
        raise TypeError("a pandas array must be an object")
    kind = enc["kind"]
    if kind == "numpy":
        arr = decode(enc["data"])
        if not isinstance(arr, np.ndarray):
            raise TypeError("'numpy' data must be an ndarray")
        return arr
    if kind == "categorical":
        dtype = pd.CategoricalDtype(_dec_index(enc["categories"]), ordered=bool(enc["ordered"]))
        return pd.Categorical.from_codes(_dec_array_field(enc, "codes"), dtype=dtype)
    if kind == "datetimetz":
        utc = _dec_array_field(enc, "utc")
        return pd.array(utc).tz_localize("UTC").tz_convert(_dec_tz(enc["tz"]))
    if kind == "string":
        na_value = np.nan if enc["na"] == "nan" else pd.NA
        dtype = pd.StringDtype(storage=_get(enc, "storage", str), na_value=na_value)
        items = [x if x is None else decode(x) for x in _get(enc, "items", list)]
        return pd.array(items, dtype=dtype)
    if kind == "masked":
        name = _get(enc, "dtype", str)
        if name not in _MASKED:
            raise ValueError(f"{name!r} is not a masked dtype")
        dtype = pd.api.types.pandas_dtype(name)
        values = _dec_array_field(enc, "values")
        mask = _dec_array_field(enc, "mask").astype(bool, copy=False)
        return dtype.construct_array_type()(values, mask)
    if kind == "period":
        dtype = pd.api.types.pandas_dtype(_get(enc, "dtype", str))
        return pd.arrays.PeriodArray(_dec_array_field(enc, "ordinals"), dtype=dtype)
    if kind == "interval":
        dtype = pd.api.types.pandas_dtype(_get(enc, "dtype", str))
        return pd.arrays.IntervalArray.from_arrays(
            _dec_parray(enc["left"]),
            _dec_parray(enc["right"]),
            closed=_get(enc, "closed", str),
            dtype=dtype,
        )
    if kind == "extension":
        dtype = pd.api.types.pandas_dtype(_get(enc, "dtype", str))
        return pd.array(_dec_items(enc), dtype=dtype)
    raise ValueError(f"unknown pandas array kind {kind!r}")


def _dec_array_field(enc: dict[str, Any], key: str) -> Any:
    import numpy as np

    arr = decode(enc[key])
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{key!r} must be an ndarray")
    return arr


def _as_index(arr: Any, name: Any) -> Any:
    import pandas as pd

    # An explicit dtype: object arrays of strings would otherwise be inferred as "str".
    return pd.Index(arr, dtype=arr.dtype, name=name, copy=False)


def _as_series(arr: Any, index: Any = None, name: Any = None) -> Any:
    import pandas as pd

    return pd.Series(arr, index=index, dtype=arr.dtype, name=name, copy=False)


def _dec_index(enc: Any) -> Any:
    import pandas as pd

    idx = decode(enc)
    if not isinstance(idx, pd.Index):
        raise TypeError("expected a pandas Index")
    return idx


def _dec_pd_index(obj: dict[str, Any]) -> Any:
    import pandas as pd

    idx = _as_index(_dec_parray(obj["values"]), decode(obj["name"]))
    freq = obj.get("freq")
    if isinstance(freq, str):
        cls = pd.DatetimeIndex if isinstance(idx, pd.DatetimeIndex) else pd.TimedeltaIndex
        idx = cls(idx, freq=freq)
    return idx


def _dec_multiindex(obj: dict[str, Any]) -> Any:
    import pandas as pd

    levels = [_dec_index(lv) for lv in _get(obj, "levels", list)]
    codes = [decode(c) for c in _get(obj, "codes", list)]
    names = [decode(n) for n in _get(obj, "names", list)]
    return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=True)


def _dec_meta(obj: dict[str, Any], target: Any) -> Any:
    if "attrs" in obj:
        target.attrs = decode(obj["attrs"])
    if obj.get("allows_duplicate_labels") is False:
        target = target.set_flags(allows_duplicate_labels=False)
    return target


def _dec_series(obj: dict[str, Any]) -> Any:
    s = _as_series(_dec_parray(obj["values"]), _dec_index(obj["index"]), decode(obj["name"]))
    return _dec_meta(obj, s)


def _dec_frame(obj: dict[str, Any]) -> Any:
    import pandas as pd

    index = _dec_index(obj["index"])
    columns = _dec_index(obj["columns"])
    data = [_dec_parray(c) for c in _get(obj, "data", list)]
    if len(data) != len(columns):
        raise ValueError("'pd.DataFrame' has a different number of columns and column labels")
    # Built by position, then labelled: duplicate and non-string labels survive as they are.
    rows = pd.RangeIndex(len(index))
    df = pd.DataFrame({i: _as_series(a, rows) for i, a in enumerate(data)}, index=rows)
    df.columns = columns
    df.index = index
    return _dec_meta(obj, df)


def _dec_timestamp(obj: dict[str, Any]) -> Any:
    import pandas as pd

    ts = pd.Timestamp(_get(obj, "value", str)).as_unit(_get(obj, "unit", str))
    tz = _dec_tz(obj.get("tz"))
    return ts if tz is None else ts.tz_convert(tz)


def _dec_timedelta(obj: dict[str, Any]) -> Any:
    import pandas as pd

    td = pd.Timedelta(
        days=_get(obj, "days", int),
        seconds=_get(obj, "seconds", int),
        microseconds=_get(obj, "microseconds", int),
        nanoseconds=_get(obj, "nanoseconds", int),
    )
    return td.as_unit(_get(obj, "unit", str))


def _dec_period(obj: dict[str, Any]) -> Any:
    import pandas as pd

    dtype = pd.api.types.pandas_dtype(_get(obj, "dtype", str))
    return pd.Period(ordinal=_get(obj, "ordinal", int), freq=dtype.freq)


def _dec_extension_array(obj: dict[str, Any]) -> Any:
    import numpy as np
    import pandas as pd

    arr = _dec_parray(obj["values"])
    if not isinstance(arr, np.ndarray):
        return arr
    if arr.dtype.kind in "Mm":  # DatetimeArray, TimedeltaArray
        return pd.array(arr)
    return pd.arrays.NumpyExtensionArray(arr)


def _dec_pd(name: str) -> Any:
    import pandas as pd

    return getattr(pd, name)


_DECODERS.update(
    {
        "pd.DataFrame": _dec_frame,
        "pd.Series": _dec_series,
        "pd.Index": _dec_pd_index,
        "pd.RangeIndex": lambda o: _dec_pd("RangeIndex")(
            _get(o, "start", int),
            _get(o, "stop", int),
            _get(o, "step", int),
            name=decode(o["name"]),
        ),
        "pd.MultiIndex": _dec_multiindex,
        "pd.array": _dec_extension_array,
        "pd.NaT": lambda o: _dec_pd("NaT"),
        "pd.NA": lambda o: _dec_pd("NA"),
        "pd.Timestamp": _dec_timestamp,
        "pd.Timedelta": _dec_timedelta,
        "pd.Period": _dec_period,
        "pd.Interval": lambda o: _dec_pd("Interval")(
            decode(o["left"]), decode(o["right"]), closed=_get(o, "closed", str)
        ),
    }
)
