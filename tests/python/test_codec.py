"""The result codec: exact round trips, strict JSON, the repr fallback, safe decoding."""

from __future__ import annotations

import ast
import collections
import datetime as dt
import decimal
import enum
import json
import math
import random
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from flowerpower_job_queue import codec
from flowerpower_job_queue.codec import TAG, Unserializable

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _refuse(name: str) -> Any:
    raise AssertionError(f"non-strict JSON constant {name}")


def roundtrip(value: Any) -> Any:
    text = codec.dumps(value)
    parsed = json.loads(text, parse_constant=_refuse)  # strict JSON, no NaN/Infinity
    assert_json_safe(parsed)
    assert codec.encode(value) == parsed
    return codec.loads(text)


def assert_json_safe(obj: Any) -> None:
    """What the C side (jansson, default flags) also accepts: 64-bit ints, strings
    without NUL or lone surrogates, string keys."""
    if isinstance(obj, str):
        assert "\x00" not in obj
        obj.encode("utf-8")  # raises on a lone surrogate
    elif isinstance(obj, bool) or obj is None:
        pass
    elif isinstance(obj, int):
        assert -(2**63) <= obj < 2**63
    elif isinstance(obj, float):
        assert math.isfinite(obj)
    elif isinstance(obj, list):
        for x in obj:
            assert_json_safe(x)
    elif isinstance(obj, dict):
        for k, x in obj.items():
            assert type(k) is str
            assert_json_safe(k)
            assert_json_safe(x)
    else:
        raise AssertionError(f"not JSON: {type(obj)}")


def assert_same(a: Any, b: Any) -> None:
    """a and b are the same value of the same type (NaN equal to NaN, -0.0 to -0.0)."""
    assert type(a) is type(b), (type(a), type(b), a, b)
    if isinstance(a, pd.DataFrame):
        pdt.assert_frame_equal(a, b, check_exact=True, check_flags=True)
        assert a.attrs == b.attrs
    elif isinstance(a, pd.Series):
        pdt.assert_series_equal(a, b, check_exact=True)
    elif isinstance(a, pd.Index):
        pdt.assert_index_equal(a, b, exact=True, check_exact=True)
        if isinstance(a, (pd.DatetimeIndex, pd.TimedeltaIndex)):
            assert a.freq == b.freq
    elif isinstance(a, pd.api.extensions.ExtensionArray):
        pdt.assert_extension_array_equal(a, b, check_exact=True)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind == "O":
            for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True):
                assert_same(x, y)
        else:
            np.testing.assert_array_equal(a, b, strict=True)
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    elif isinstance(a, np.floating | np.complexfloating):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, complex):
        assert_same(a.real, b.real)
        assert_same(a.imag, b.imag)
    elif isinstance(a, decimal.Decimal):
        assert str(a) == str(b)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert len(a) == len(b)
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
            assert_same(ka, kb)
            assert_same(va, vb)
    elif a is pd.NaT or a is pd.NA:  # NaT is a datetime, never equal to itself
        assert a is b
    elif isinstance(a, dt.datetime | dt.time):
        assert a == b and a.tzinfo == b.tzinfo and a.fold == b.fold
        if isinstance(a, dt.datetime):
            assert a.utcoffset() == b.utcoffset()
    else:
        assert a == b


# ------------------------------------------------------------------------- JSON types


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        1.5,
        -0.0,
        1e308,
        "",
        "héllo ✓",
        "a\nb",
        [],
        {},
        [1, [2, [3]]],
        {"a": {"b": [None, 1.0]}},
    ],
)
def test_json_values_pass_as_they_are(value: Any) -> None:
    assert codec.encode(value) == value
    assert_same(roundtrip(value), value)


def test_encode_builds_new_containers() -> None:
    value = {"a": [1, 2]}
    encoded = codec.encode(value)
    assert encoded == value and encoded is not value and encoded["a"] is not value["a"]


# ------------------------------------------------------------------- standard library


class _Point(tuple):  # a tuple subclass, as namedtuple makes
    pass


Pair = collections.namedtuple("Pair", "x y")


STDLIB = {
    "big-int": 2**64,
    "big-negative-int": -(2**100),
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "nul-string": "a\x00b",
    "lone-surrogate": "x\udc80y",
    "tuple": (1, "a", None),
    "empty-tuple": (),
    "nested-tuple": ((1, 2), [3, (4,)]),
    "set": {1, 2, 3},
    "frozenset": frozenset({"a", "b"}),
    "bytes": b"\x00\x01\xfe\xff",
    "empty-bytes": b"",
    "bytearray": bytearray(b"abc"),
    "complex": complex(1.5, -2),
    "complex-nan": complex(math.nan, math.inf),
    "date": dt.date(2026, 7, 1),
    "naive-datetime": dt.datetime(2026, 7, 1, 12, 30, 15, 123456),
    "utc-datetime": dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC),
    "offset-datetime": dt.datetime(2026, 7, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    "named-offset": dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")),
    "zoneinfo-datetime": dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN),
    "fold-datetime": dt.datetime(2025, 11, 2, 1, 30, tzinfo=NEW_YORK, fold=1),
    "time": dt.time(23, 59, 59, 999999),
    "time-offset": dt.time(8, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    "time-zoneinfo": dt.time(8, 0, tzinfo=BERLIN),
    "timedelta": dt.timedelta(days=-3, seconds=5, microseconds=7),
    "decimal": decimal.Decimal("3.14159265358979323846264338327950288"),
    "decimal-nan": decimal.Decimal("NaN"),
    "decimal-snan": decimal.Decimal("sNaN"),
    "decimal-neg-zero": decimal.Decimal("-0"),
    "decimal-exp": decimal.Decimal("1E+3"),
    "decimal-inf": decimal.Decimal("-Infinity"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "int-keys": {1: "a", 2: "b"},
    "mixed-keys": {1: "a", "b": 2, None: 3, (1, 2): 4, frozenset({5}): 6, 2.5: 7, False: 8},
    "tag-key": {TAG: "not a tag", "x": 1},
    "nul-key": {"a\x00": 1},
    "nested": {"a": [(1, {2}), {"b": b"x", "c": [dt.date(2020, 1, 1)]}]},
}


@pytest.mark.parametrize("value", list(STDLIB.values()), ids=list(STDLIB))
def test_standard_types_round_trip(value: Any) -> None:
    assert_same(roundtrip(value), value)


def test_tagged_forms_are_readable() -> None:
    assert codec.encode(dt.date(2026, 7, 1)) == {TAG: "date", "value": "2026-07-01"}
    assert codec.encode(decimal.Decimal("1.10")) == {TAG: "decimal", "value": "1.10"}
    assert codec.encode(b"hi") == {TAG: "bytes", "b64": "aGk="}
    assert codec.encode(math.nan) == {TAG: "float", "value": "nan"}
    aware = codec.encode(dt.datetime(2026, 7, 1, 12, tzinfo=BERLIN))
    assert aware == {
        TAG: "datetime",
        "value": "2026-07-01T12:00:00+02:00",
        "tz": {"zone": "Europe/Berlin"},
    }
    assert codec.encode({1: 2}) == {TAG: "dict", "items": [[1, 2]]}


def test_zoneinfo_is_kept_not_just_the_offset() -> None:
    value = roundtrip(dt.datetime(2026, 1, 15, 9, tzinfo=BERLIN))
    assert value.tzinfo is BERLIN  # ZoneInfo instances are cached per key
    # so arithmetic across the DST change still follows the zone
    assert (value + dt.timedelta(days=180)).utcoffset() == dt.timedelta(hours=2)


def test_subclasses_keep_their_value_as_the_base_type() -> None:
    ordered = collections.OrderedDict([("b", 1), ("a", 2)])
    assert_same(roundtrip(ordered), {"b": 1, "a": 2})
    counter = collections.Counter("aab")
    assert_same(roundtrip(counter), {"a": 2, "b": 1})
    assert_same(roundtrip(Pair(1, 2)), (1, 2))
    assert_same(roundtrip(_Point((1, 2))), (1, 2))

    class Name(str):
        pass

    assert_same(roundtrip(Name("n")), "n")


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


def test_enums_become_reprs() -> None:
    red = roundtrip(Color.RED)
    assert red == Unserializable(f"{__name__}.Color", "<Color.RED: 1>")
    assert roundtrip(Level.HIGH).type_name == f"{__name__}.Level"


# ----------------------------------------------------------------------------- numpy

ARRAYS = {
    "int64-2d": np.arange(12, dtype=np.int64).reshape(3, 4),
    "int8": np.array([-128, 0, 127], dtype=np.int8),
    "uint64": np.array([0, 2**64 - 1], dtype=np.uint64),
    "float16": np.array([0.5, np.nan, -np.inf], dtype=np.float16),
    "float32": np.linspace(0, 1, 7, dtype=np.float32),
    "float64-nan": np.array([1.0, np.nan, np.inf, -0.0]),
    "complex128": np.array([1 + 2j, np.nan * 1j]),
    "bool": np.array([True, False, True]),
    "datetime64-ns": np.array(["2026-07-01T12:00:00.000000001", "NaT"], dtype="M8[ns]"),
    "datetime64-D": np.arange("2026-01", "2026-02", dtype="M8[D]"),
    "timedelta64": np.array([1, -2, 3], dtype="m8[s]"),
    "unicode": np.array(["a", "héllo", ""]),
    "bytes": np.array([b"ab", b"\x00c"]),
    "big-endian": np.arange(4, dtype=">i4"),
    "structured": np.array(
        [(1, 2.5, "x"), (2, -1.0, "yz")], dtype=[("id", "<i4"), ("v", "<f8"), ("s", "<U2")]
    ),
    "structured-subarray": np.zeros(2, dtype=[("m", "<f4", (2, 2))]),
    "zero-d": np.array(3.5),
    "empty": np.zeros((0, 3)),
    "fortran": np.asfortranarray(np.arange(6).reshape(2, 3)),
    "strided": np.arange(20)[::3],
    "object-mixed": np.array(
        [1, "a", None, [1, 2], {"k": (1,)}, dt.date(2020, 1, 1)], dtype=object
    ),
    "object-2d": np.array([[1, "a"], [None, 2.5]], dtype=object),
    "string-dtype": np.array(["a", "bc"], dtype=np.dtypes.StringDType()),
}


@pytest.mark.parametrize("value", list(ARRAYS.values()), ids=list(ARRAYS))
def test_numpy_arrays_round_trip(value: np.ndarray) -> None:
    out = roundtrip(value)
    assert_same(out, value)
    if out.dtype.kind not in "OT" and out.size:
        out.flat[0] = out.flat[0]  # writable, not a view on the decoded bytes


SCALARS = {
    "float64": np.float64(1.25),
    "float32-nan": np.float32("nan"),
    "int32": np.int32(-7),
    "uint8": np.uint8(255),
    "bool": np.bool_(False),
    "complex64": np.complex64(1 - 1j),
    "datetime64": np.datetime64("2026-07-01T12:00", "m"),
    "timedelta64": np.timedelta64(5, "ms"),
    "str_": np.str_("héllo"),
    "bytes_": np.bytes_(b"ab"),
}


@pytest.mark.parametrize("value", list(SCALARS.values()), ids=list(SCALARS))
def test_numpy_scalars_round_trip(value: Any) -> None:
    out = roundtrip(value)
    assert type(out) is type(value)
    assert out.dtype == value.dtype
    np.testing.assert_array_equal(np.asarray(out), np.asarray(value))


def test_numpy_dtype_round_trips() -> None:
    assert roundtrip(np.dtype("<M8[ns]")) == np.dtype("<M8[ns]")


# ---------------------------------------------------------------------------- pandas


def mixed_frame() -> pd.DataFrame:
    n = 6
    frame = pd.DataFrame(
        {
            "int": np.arange(n, dtype=np.int64),
            "int8": np.arange(n, dtype=np.int8),
            "float": [0.5, np.nan, np.inf, -0.0, 2.0, 3.0],
            "float32": np.arange(n, dtype=np.float32),
            "bool": [True, False] * 3,
            "str": ["a", None, "c", "d", "é", ""],
            "string": pd.array(["a", None, "c", "d", "e", "f"], dtype="string"),
            "string-python": pd.array(["a", None, "c", "d", "e", "f"], dtype="string[python]"),
            "object": pd.Series(
                [1, "a", None, (1, 2), {"k": [1]}, dt.date(2026, 1, 1)], dtype=object
            ),
            "naive": pd.date_range("2026-01-01", periods=n, freq="D"),
            "aware": pd.date_range("2026-03-29 00:00", periods=n, freq="h", tz="Europe/Berlin"),
            "utc-seconds": pd.date_range("2026-01-01", periods=n, tz="UTC", unit="s"),
            "nat": pd.to_datetime(["2026-01-01", None, "2026-01-03", None, None, None]),
            "timedelta": pd.to_timedelta(np.arange(n), unit="ms"),
            "category": pd.Categorical(["x", "y", "x", None, "z", "x"], categories=["z", "y", "x"]),
            "ordered": pd.Categorical([3, 1, 2, 1, 3, 2], ordered=True),
            "Int64": pd.array([1, None, 3, 4, None, 6], dtype="Int64"),
            "UInt16": pd.array([1, None, 3, 4, 5, 6], dtype="UInt16"),
            "Float64": pd.array([1.5, None, 3.0, 4.0, 5.0, 6.0], dtype="Float64"),
            "boolean": pd.array([True, None, False, True, None, False], dtype="boolean"),
            "period": pd.period_range("2026-01", periods=n, freq="M"),
            "interval": pd.interval_range(0, n, closed="left"),
            "arrow-int": pd.array([1, None, 3, 4, 5, 6], dtype="int64[pyarrow]"),
            "sparse": pd.arrays.SparseArray([0, 0, 1, 0, 2, 0]),
            "complex": np.arange(n) * (1 + 1j),
        },
        index=pd.Index([f"r{i}" for i in range(n)], name="row"),
    )
    frame.columns.name = "column"
    return frame


def test_mixed_dataframe_round_trips_exactly() -> None:
    frame = mixed_frame()
    out = roundtrip(frame)
    pdt.assert_frame_equal(out, frame, check_exact=True)
    assert list(out.dtypes) == list(frame.dtypes)


def test_every_column_round_trips_as_series_and_index() -> None:
    frame = mixed_frame()
    for name in frame.columns:
        series = frame[name]
        assert_same(roundtrip(series), series)
        assert_same(roundtrip(series.array), series.array)
        if name not in ("sparse", "object"):
            index = pd.Index(series)
            assert_same(roundtrip(index), index)


FRAMES = {
    "empty": pd.DataFrame(),
    "index-only": pd.DataFrame(index=pd.Index([3, 1], name="i")),
    "columns-only": pd.DataFrame(columns=["a", "b"]),
    "zero-rows": pd.DataFrame({"a": pd.Series([], dtype="Int64")}),
    "duplicate-columns": pd.DataFrame([[1, 2.0]], columns=["a", "a"]),
    "non-string-columns": pd.DataFrame({1: [1], 2.5: ["x"], None: [3], (1, 2): [4.0]}),
    "range-index-step": pd.DataFrame({"a": [1, 2]}, index=pd.RangeIndex(10, 0, -5, name="r")),
    "multiindex": pd.DataFrame(
        np.arange(12).reshape(6, 2),
        index=pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["l1", None]),
        columns=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["c1", "c2"]),
    ),
    "datetime-index-freq": pd.DataFrame(
        {"v": [1.0, 2.0, 3.0]},
        index=pd.date_range("2026-01-01", periods=3, freq="15min", tz="UTC", name="t"),
    ),
    "timedelta-index": pd.DataFrame({"v": [1, 2]}, index=pd.to_timedelta([1, 2], unit="D")),
    "categorical-index": pd.DataFrame({"v": [1, 2]}, index=pd.CategoricalIndex(["a", "b"])),
    "interval-index": pd.DataFrame({"v": [1, 2]}, index=pd.interval_range(0, 2)),
    "period-index": pd.DataFrame(
        {"v": [1, 2]}, index=pd.period_range("2026Q1", periods=2, freq="Q")
    ),
    "attrs": pd.DataFrame({"a": [1]}).pipe(lambda d: (d.attrs.update(source="x"), d)[1]),
    "no-duplicate-labels": pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False),
}


@pytest.mark.parametrize("frame", list(FRAMES.values()), ids=list(FRAMES))
def test_dataframe_shapes_round_trip(frame: pd.DataFrame) -> None:
    assert_same(roundtrip(frame), frame)


def test_series_names_and_indexes() -> None:
    series = pd.Series([1.5, 2.5], index=pd.Index([dt.date(2026, 1, 1), None]), name=("a", 1))
    assert_same(roundtrip(series), series)
    unnamed = pd.Series(["x", "y"], index=pd.RangeIndex(2))
    assert_same(roundtrip(unnamed), unnamed)


PANDAS_SCALARS = {
    "timestamp-ns": pd.Timestamp("2026-07-01 12:00:00.000000001"),
    "timestamp-tz-ambiguous": pd.Timestamp("2026-10-25 02:30").tz_localize(
        "Europe/Berlin", ambiguous=False
    ),
    "timestamp-seconds": pd.Timestamp("2026-07-01").as_unit("s"),
    "timedelta": pd.Timedelta(days=-1, nanoseconds=5),
    "period": pd.Period("2026-07", freq="M"),
    "interval": pd.Interval(0.5, 1.5, closed="both"),
}


@pytest.mark.parametrize("value", list(PANDAS_SCALARS.values()), ids=list(PANDAS_SCALARS))
def test_pandas_scalars_round_trip(value: Any) -> None:
    out = roundtrip(value)
    assert type(out) is type(value) and out == value
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        assert out.unit == value.unit
    if isinstance(value, pd.Timestamp):
        assert out.tz == value.tz


def test_pandas_missing_values_are_singletons() -> None:
    assert roundtrip(pd.NaT) is pd.NaT
    assert roundtrip(pd.NA) is pd.NA
    assert roundtrip([pd.NA, None]) == [pd.NA, None]


# ----------------------------------------------------------------------- the fallback


class Thing:
    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Thing({self.n})"


class LongRepr:
    def __repr__(self) -> str:
        return "x" * (3 * codec.REPR_LIMIT)


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_unknown_types_become_repr() -> None:
    encoded = codec.encode({"model": Thing(3)})
    assert encoded == {"model": {TAG: "repr", "type": f"{__name__}.Thing", "repr": "Thing(3)"}}
    out = roundtrip({"model": Thing(3)})["model"]
    assert isinstance(out, Unserializable)
    assert out.type_name == f"{__name__}.Thing"
    assert out.repr == "Thing(3)"
    assert repr(out) == f"<Unserializable {__name__}.Thing: Thing(3)>"
    assert out == Unserializable(f"{__name__}.Thing", "Thing(3)")
    assert hash(out) == hash(Unserializable(f"{__name__}.Thing", "Thing(3)"))


def test_repr_fallback_survives_broken_and_huge_reprs() -> None:
    broken = roundtrip(BrokenRepr())
    assert broken.type_name.endswith("BrokenRepr")
    assert "RuntimeError: no repr" in broken.repr
    huge = roundtrip(LongRepr())
    assert huge.repr.startswith("xxxx")
    assert huge.repr.endswith("more characters]")
    assert len(huge.repr) < codec.REPR_LIMIT + 100
    masked = roundtrip(np.ma.masked_array([1, 2], mask=[False, True]))  # a numpy type not encoded
    assert isinstance(masked, Unserializable)
    assert masked.type_name == "numpy.ma.MaskedArray"


def test_functions_modules_and_generators_become_repr() -> None:
    empty: list[int] = []
    for value in (len, json, (x for x in empty), object(), Path("/tmp"), range(3)):
        out = roundtrip(value)
        assert isinstance(out, Unserializable)
        assert out.type_name.split(".")[-1] == type(value).__qualname__


def test_self_referencing_and_very_deep_values_do_not_crash() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    out = roundtrip(loop)
    assert isinstance(out, Unserializable) and out.repr == "[1, [...]]"
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert isinstance(codec.decode(codec.encode(deep)), Unserializable)


# ------------------------------------------------------------------ strictness/safety


def test_dumps_is_strict_compact_json() -> None:
    text = codec.dumps({"x": [math.nan, math.inf, 1.0], "y": "é"})
    assert "NaN" not in text and "Infinity" not in text
    assert text == (
        '{"x":[{"__fpq__":"float","value":"nan"},{"__fpq__":"float","value":"inf"},1.0],"y":"é"}'
    )


def test_loads_refuses_non_strict_json() -> None:
    with pytest.raises(ValueError, match="NaN is not strict JSON"):
        codec.loads('{"x": NaN}')
    with pytest.raises(ValueError):
        codec.loads(b"\x80\x04\x95")  # binary garbage, e.g. a pickle, is never unpickled


def test_unknown_tag_decodes_to_unserializable() -> None:
    out = codec.decode({TAG: "from-the-future", "x": 1})
    assert isinstance(out, Unserializable)
    assert out.type_name == f"{TAG}:from-the-future"


@pytest.mark.parametrize(
    "bad",
    [
        {TAG: 1},
        {TAG: "tuple"},
        {TAG: "tuple", "items": "ab"},
        {TAG: "float", "value": "1.5"},
        {TAG: "dict", "items": [[1]]},
        {TAG: "dict", "items": [[[1], 2]]},  # a list cannot be a key
        {TAG: "bytes", "b64": "***"},
        {TAG: "datetime", "value": "yesterday"},
        {TAG: "datetime", "value": "2026-01-01T00:00:00", "tz": {"zone": "../../etc/passwd"}},
        {TAG: "ndarray", "dtype": "|O", "shape": [1], "b64": "AAAAAAAAAAA="},
        {TAG: "ndarray", "dtype": [["a", "|O"]], "shape": [1], "b64": "AAAAAAAAAAA="},
        {TAG: "ndarray", "dtype": "<i8", "shape": [2], "b64": "AAAAAAAAAAA="},
        {TAG: "ndarray", "dtype": "<i8", "shape": [-1], "b64": ""},
        {TAG: "npscalar", "dtype": "|O", "b64": "AAAAAAAAAAA="},
        {TAG: "pd.Series", "name": None},
        {
            TAG: "pd.DataFrame",
            "index": {TAG: "pd.RangeIndex", "start": 0, "stop": 0, "step": 1, "name": None},
            "columns": [],
            "data": [],
        },
    ],
)
def test_malformed_tagged_values_raise_value_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        codec.decode(bad)


def test_codec_never_uses_pickle() -> None:
    source = Path(codec.__file__).read_text()
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert not imported & {"pickle", "cloudpickle", "dill", "marshal", "shelve", "copyreg"}
    assert "allow_pickle" not in source


def test_decoding_imports_nothing_it_is_told_to() -> None:
    out = codec.decode({TAG: "repr", "type": "os.system", "repr": "rm -rf /"})
    assert out == Unserializable("os.system", "rm -rf /")


# --------------------------------------------------------------- random nested values


def random_leaf(rng: random.Random) -> Any:
    kind = rng.randrange(22)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.2 else rng.randint(-1000, 1000)
    if kind == 3:
        return rng.choice([rng.uniform(-1e9, 1e9), math.nan, math.inf, -math.inf, -0.0, 5e-324])
    if kind == 4:
        alphabet = 'ab é✓\x00\n"\\' + chr(0xD800) + chr(0x1F600)
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
    if kind == 5:
        return rng.randbytes(rng.randrange(10))
    if kind == 6:
        return bytearray(rng.randbytes(rng.randrange(5)))
    if kind == 7:
        return dt.date(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28))
    if kind == 8:
        tz = rng.choice([None, dt.UTC, BERLIN, NEW_YORK, dt.timezone(dt.timedelta(minutes=-90))])
        return dt.datetime(
            rng.randint(1900, 2100),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randrange(24),
            rng.randrange(60),
            rng.randrange(60),
            rng.randrange(10**6),
            tzinfo=tz,
            fold=rng.randrange(2),
        )
    if kind == 9:
        return dt.time(
            rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(10**6)
        )
    if kind == 10:
        return dt.timedelta(microseconds=rng.randint(-(10**15), 10**15))
    if kind == 11:
        return decimal.Decimal(rng.randint(-(10**30), 10**30)).scaleb(rng.randint(-40, 40))
    if kind == 12:
        return uuid.UUID(int=rng.getrandbits(128))
    if kind == 13:
        return complex(rng.uniform(-5, 5), rng.choice([0.0, math.nan, 2.5]))
    if kind == 14:
        dtype = rng.choice(["<i4", "<f8", "|b1", "<M8[us]", "<U3", ">u2"])
        shape = tuple(rng.randrange(4) for _ in range(rng.randrange(3)))
        raw = rng.randbytes(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
        if dtype == "<U3":
            return np.array(["ab", "c"] * 8)[: int(np.prod(shape, dtype=np.int64))].reshape(shape)
        if dtype == "|b1":
            return np.frombuffer(raw, dtype=np.uint8).astype(bool).reshape(shape)
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if kind == 15:
        return rng.choice(
            [
                np.float64(rng.random()),
                np.int16(rng.randint(-100, 100)),
                np.bool_(True),
                np.datetime64(rng.randint(0, 10**9), "s"),
            ]
        )
    if kind == 16:
        return pd.Series(
            [rng.randint(0, 9) for _ in range(3)],
            index=pd.Index(["a", "b", "c"], name=rng.choice([None, "k"])),
            dtype=rng.choice(["int64", "Int32", "float32", "category"]),
        )
    if kind == 17:
        return pd.Timestamp(rng.randint(0, 2**60), tz=rng.choice([None, "UTC", "Asia/Tokyo"]))
    if kind == 18:
        return Thing(rng.randrange(5))
    if kind == 19:
        return rng.choice([pd.NA, pd.NaT])
    if kind == 20:
        return decimal.Decimal(rng.choice(["NaN", "-0", "Infinity", "1E+3"]))
    return rng.choice(["", "x", "__fpq__", "tuple"])


def random_key(rng: random.Random) -> Any:
    return rng.choice(
        [
            lambda: "k" + str(rng.randrange(100)),
            lambda: rng.randint(-5, 5),
            lambda: TAG,
            lambda: (rng.randrange(3), "t"),
            lambda: frozenset({rng.randrange(3)}),
            lambda: None,
            lambda: dt.date(2026, 1, rng.randint(1, 28)),
            lambda: "nul\x00" + str(rng.randrange(3)),
            lambda: rng.randbytes(2),
        ]
    )()


def random_value(rng: random.Random, depth: int = 0) -> Any:
    if depth >= 4 or rng.random() < 0.4:
        return random_leaf(rng)
    kind = rng.randrange(5)
    items = [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 0:
        return items
    if kind == 1:
        return tuple(items)
    if kind == 2:
        return {random_key(rng): v for v in items}
    if kind == 3:
        return {"k" + str(i): v for i, v in enumerate(items)}
    # sets only of hashable leaves without NaN (NaN is never equal to itself)
    return rng.choice([set, frozenset])(
        x for x in (random_key(rng) for _ in range(rng.randrange(4)))
    )


def assert_same_loose(a: Any, b: Any) -> None:
    """assert_same, except Unserializable placeholders stand for the repr'd objects."""
    if isinstance(a, Thing):
        assert b == Unserializable(f"{__name__}.Thing", repr(a))
    elif isinstance(a, list | tuple) and not isinstance(a, pd.Index):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_loose(x, y)
    elif isinstance(a, dict):
        assert type(b) is dict and len(a) == len(b)
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
            assert_same(ka, kb)
            assert_same_loose(va, vb)
    else:
        assert_same(a, b)


def test_random_nested_values_round_trip() -> None:
    rng = random.Random(20260701)
    for _ in range(1500):
        value = random_value(rng)
        assert_same_loose(value, roundtrip(value))
