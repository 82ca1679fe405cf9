"""Turns prediction payloads into the numpy columns a model's signature takes.

A :class:`FeatureCodec` is built from a bundle's ``feature_spec.json``. It
accepts the row form (``{"instances": [{feature: value}, ...]}``) and the column
form (``{"inputs": {feature: [values]}}``) of an already parsed JSON body,
checks every value (type, integer id range, finiteness, list length, required
features) and builds one numpy array per signature input, padding
variable-length lists to ``maxlen``.

The checks run column by column on whole arrays (a type census with
``set(map(type, column))``, numpy range and finiteness tests); only when a
column fails does a per-value pass run, to name the first offending row. Any
problem raises :class:`PayloadError` whose items name the feature and the row.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

__all__ = ["Feature", "FeatureCodec", "PayloadError", "parse_features"]

_MAX_ERRORS = 20
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_STR = {str}
_INT = {int}
_NUM = {int, float}
_LIST = {list}
_NP_DTYPES = {
    "string": np.dtype(object),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
_INT_BOUNDS = {
    "int32": (-(2**31), 2**31),
    "int64": (-(2**63), 2**63),
}
_MISSING = object()


class PayloadError(Exception):
    """An invalid prediction payload; ``errors`` lists every problem found.

    Each error is a dict with ``loc`` (JSON path of the value), ``msg`` (a
    sentence naming the feature and the row), ``type``, ``feature`` and ``row``
    (``None`` when the problem is not tied to one row).
    """

    def __init__(self, errors: list[dict[str, Any]], status_code: int = 422) -> None:
        self.errors = errors
        self.status_code = status_code
        super().__init__("; ".join(e["msg"] for e in errors))

    @classmethod
    def single(
        cls,
        msg: str,
        kind: str = "value_error",
        loc: Sequence[str | int] = ("body",),
        feature: str | None = None,
        row: int | None = None,
        status_code: int = 422,
    ) -> "PayloadError":
        return cls(
            [{"loc": list(loc), "msg": msg, "type": kind, "feature": feature, "row": row}],
            status_code,
        )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True)
class Feature:
    """One input of a model's signature, as described by ``feature_spec.json``."""

    name: str
    kind: str
    dtype: str
    input_dtype: str
    vocabulary_size: int | None = None
    use_hash: bool = False
    vocabulary: tuple[Any, ...] | None = None
    dimension: int = 1
    maxlen: int | None = None
    default: Any = None
    length_of: str | None = None
    weight_of: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not None

    @property
    def required(self) -> bool:
        """A client must send it (a length feature is derived from its list)."""
        return self.default is None and self.kind != "length"

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    @property
    def id_range(self) -> tuple[int, int] | None:
        """``[low, high)`` an integer value must lie in, ``None`` for non-integers."""
        if self.is_string or self.kind in ("dense", "weight"):
            return None
        if self.kind == "length":
            return (0, (self.maxlen or 0) + 1)
        if not self.use_hash and self.vocabulary is None and self.vocabulary_size:
            return (0, int(self.vocabulary_size))
        return _INT_BOUNDS.get(self.input_dtype, _INT_BOUNDS["int64"])

    def example_value(self) -> Any:
        """A valid value for this feature (its default when it has one)."""
        if self.has_default:
            return self.default
        if self.kind == "dense":
            return 0.0 if self.dimension == 1 else [0.0] * self.dimension
        if self.kind == "weight":
            return [1.0]
        if self.kind == "length":
            return 1
        element: Any
        if self.vocabulary:
            element = self.vocabulary[0]
        elif self.is_string:
            element = "0"
        else:
            element = 1 if (self.id_range or (0, 2))[1] > 1 else 0
        return [element] if self.kind == "varlen" else element


def parse_features(spec: dict[str, Any]) -> list[Feature]:
    """The signature inputs described by a ``feature_spec.json`` dict, in spec order."""
    sig_inputs = (spec.get("signature") or {}).get("inputs") or {}
    by_name = {f["name"]: f for f in spec.get("features", [])}
    features: list[Feature] = []
    for raw in spec.get("features", []):
        name = raw["name"]
        kind = raw.get("kind", "sparse")
        dtype = raw.get("dtype") or ("float32" if kind in ("dense", "weight") else "string")
        if sig_inputs and name not in sig_inputs:
            continue
        input_dtype = (sig_inputs.get(name) or {}).get("dtype") or dtype
        if input_dtype not in _NP_DTYPES:
            raise ValueError(f"feature {name!r}: unsupported dtype {input_dtype!r}")
        maxlen = raw.get("maxlen")
        if kind == "length" and maxlen is None:
            maxlen = by_name.get(raw.get("length_of"), {}).get("maxlen")
        if kind in ("varlen", "weight") and not maxlen:
            raise ValueError(f"feature {name!r}: a {kind} feature needs maxlen")
        vocabulary = raw.get("vocabulary")
        features.append(
            Feature(
                name=name,
                kind=kind,
                dtype=dtype,
                input_dtype=input_dtype,
                vocabulary_size=raw.get("vocabulary_size"),
                use_hash=bool(raw.get("use_hash", False)),
                vocabulary=tuple(vocabulary) if vocabulary is not None else None,
                dimension=int(raw.get("dimension") or 1),
                maxlen=maxlen,
                default=raw.get("default"),
                length_of=raw.get("length_of"),
                weight_of=raw.get("weight_of"),
            )
        )
    missing = set(sig_inputs) - {f.name for f in features}
    if missing:
        raise ValueError(f"signature inputs without a feature description: {sorted(missing)}")
    return features


@dataclass
class _Sink:
    """Collects errors while a payload is decoded."""

    form: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        feature: str | None,
        row: int | None,
        what: str,
        kind: str,
        more: int = 0,
    ) -> None:
        if len(self.errors) >= _MAX_ERRORS:
            return
        if feature is None:
            where, loc = (f"row {row}", ["body", self.form, row]) if row is not None else ("", ["body", self.form])
        elif row is None:
            where, loc = f"feature {feature!r}", ["body", self.form, feature]
        else:
            where = f"row {row}, feature {feature!r}"
            loc = ["body", self.form, row, feature] if self.form == "instances" else ["body", self.form, feature, row]
        msg = f"{where}: {what}" if where else what
        if more:
            msg += f" (and {more} more row{'s' if more > 1 else ''})"
        self.errors.append({"loc": loc, "msg": msg, "type": kind, "feature": feature, "row": row})


class _Column:
    """Checks and converts the values of one feature for ``n`` rows."""

    def __init__(self, feature: Feature) -> None:
        self.f = feature
        self.np_dtype = _NP_DTYPES[feature.input_dtype]
        self.range = feature.id_range

    def default_column(self, n: int, lengths: dict[str, np.ndarray]) -> np.ndarray:
        f = self.f
        if f.kind == "length":
            return lengths[f.length_of].astype(self.np_dtype) if f.length_of in lengths else np.zeros(n, self.np_dtype)
        if f.kind in ("varlen", "weight"):
            return self.convert([f.default] * n, _Sink("inputs"), lengths)  # type: ignore[return-value]
        if f.kind == "dense" and f.dimension > 1:
            value = f.default if isinstance(f.default, list) else [f.default] * f.dimension
            return np.tile(np.asarray(value, dtype=self.np_dtype), (n, 1))
        return np.full(n, f.default, dtype=self.np_dtype)

    # -- element checks used by the per-value (error) passes ------------------
    def _element_problem(self, v: Any) -> tuple[str, str] | None:
        """Why one scalar element is invalid, or None."""
        f = self.f
        if v is None and f.required:
            return "missing required feature (null given)", "missing"
        if f.is_string and f.kind in ("sparse", "varlen"):
            return None if type(v) is str else (f"expected a string, got {_describe(v)}", "type_error")
        if self.range is not None:
            if type(v) is not int:
                return f"expected an integer, got {_describe(v)}", "type_error"
            lo, hi = self.range
            if not lo <= v < hi:
                what = "length" if f.kind == "length" else "id"
                return f"{what} {v} is outside [{lo}, {hi})", "out_of_range"
            return None
        if type(v) not in _NUM:
            return f"expected a number, got {_describe(v)}", "type_error"
        if isinstance(v, float) and not math.isfinite(v):
            return f"value {v} is not a finite number (NaN and infinity are refused)", "not_finite"
        if abs(v) > _FLOAT32_MAX:
            return f"value {v} is outside the float32 range", "not_finite"
        return None

    def _report_first(self, values: Sequence[Any], sink: _Sink, check: Any) -> None:
        """Reports the first row for which ``check(value)`` gives a problem."""
        first: tuple[int, tuple[str, str]] | None = None
        count = 0
        for i, v in enumerate(values):
            problem = check(v)
            if problem is not None:
                count += 1
                if first is None:
                    first = (i, problem)
        if first is not None:
            sink.add(self.f.name, first[0], first[1][0], first[1][1], count - 1)

    def _fill_defaults(self, values: Sequence[Any]) -> Sequence[Any]:
        if self.f.has_default and None in values:
            d = self.f.default
            return [d if v is None else v for v in values]
        return values

    # -- conversion -----------------------------------------------------------
    def convert(self, values: Sequence[Any], sink: _Sink, lengths: dict[str, np.ndarray]) -> np.ndarray | None:
        kind = self.f.kind
        if kind in ("varlen", "weight"):
            return self._convert_lists(values, sink, lengths)
        if kind == "dense" and self.f.dimension > 1:
            return self._convert_vectors(values, sink)
        return self._convert_scalars(values, sink, lengths)

    def _convert_scalars(self, values: Sequence[Any], sink: _Sink, lengths: dict[str, np.ndarray]) -> np.ndarray | None:
        f = self.f
        types = set(map(type, values))
        if type(None) in types:
            if f.has_default:
                values = self._fill_defaults(values)
            elif f.kind == "length" and f.length_of in lengths:
                derived = lengths[f.length_of].tolist()
                values = [derived[i] if v is None else v for i, v in enumerate(values)]
            types = set(map(type, values))
        if f.is_string:
            if types <= _STR:
                return np.array(values, dtype=object)
            self._report_first(values, sink, self._element_problem)
            return None
        if self.range is not None:
            arr = None
            if types <= _INT:
                try:
                    arr = np.array(values, dtype=np.int64)
                except OverflowError:
                    arr = None
            if arr is None:
                self._report_first(values, sink, self._element_problem)
                return None
            lo, hi = self.range
            bad = np.flatnonzero((arr < lo) | (arr >= hi))
            if bad.size:
                i = int(bad[0])
                what = "length" if f.kind == "length" else "id"
                sink.add(f.name, i, f"{what} {int(arr[i])} is outside [{lo}, {hi})", "out_of_range", bad.size - 1)
                return None
            if f.kind == "length" and f.length_of in lengths:
                actual = lengths[f.length_of]
                bad = np.flatnonzero(arr != actual)
                if bad.size:
                    i = int(bad[0])
                    sink.add(
                        f.name, i,
                        f"length {int(arr[i])} differs from the {int(actual[i])} values of {f.length_of!r}",
                        "value_error", bad.size - 1,
                    )
                    return None
            return arr.astype(self.np_dtype, copy=False)
        if types <= _NUM:
            try:
                arr = np.array(values, dtype=np.float64)
            except OverflowError:
                arr = None
            if arr is not None and bool(np.all(np.abs(arr) <= _FLOAT32_MAX)):
                return arr.astype(self.np_dtype)
        self._report_first(values, sink, self._element_problem)
        return None

    def _convert_vectors(self, values: Sequence[Any], sink: _Sink) -> np.ndarray | None:
        f = self.f
        d = f.dimension
        values = self._fill_defaults(values)
        if set(map(type, values)) <= _LIST and set(map(len, values)) == {d}:
            flat = list(chain.from_iterable(values))
            if set(map(type, flat)) <= _NUM:
                try:
                    arr = np.array(flat, dtype=np.float64)
                except OverflowError:
                    arr = None
                if arr is not None and bool(np.all(np.abs(arr) <= _FLOAT32_MAX)):
                    return arr.reshape(len(values), d).astype(self.np_dtype)

        def check(v: Any) -> tuple[str, str] | None:
            if type(v) is not list:
                return f"expected a list of {d} numbers, got {_describe(v)}", "type_error"
            if len(v) != d:
                return f"expected a list of {d} numbers, got {len(v)}", "value_error"
            for element in v:
                problem = self._element_problem(element)
                if problem is not None:
                    return problem
            return None

        self._report_first(values, sink, check)
        return None

    def _convert_lists(self, values: Sequence[Any], sink: _Sink, lengths: dict[str, np.ndarray]) -> np.ndarray | None:
        f = self.f
        maxlen = int(f.maxlen or 0)
        n = len(values)
        values = self._fill_defaults(values)
        if not set(map(type, values)) <= _LIST:
            self._report_first(
                values, sink,
                lambda v: None if type(v) is list else (f"expected a list, got {_describe(v)}", "type_error"),
            )
            return None
        lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
        too_long = np.flatnonzero(lens > maxlen)
        if too_long.size:
            i = int(too_long[0])
            sink.add(f.name, i, f"list of {int(lens[i])} values is longer than maxlen {maxlen}", "too_long", too_long.size - 1)
            return None
        if f.kind == "weight" and f.weight_of in lengths:
            differ = np.flatnonzero(lens != lengths[f.weight_of])
            if differ.size:
                i = int(differ[0])
                sink.add(
                    f.name, i,
                    f"{int(lens[i])} weights for the {int(lengths[f.weight_of][i])} values of {f.weight_of!r}",
                    "value_error", differ.size - 1,
                )
                return None
        flat = list(chain.from_iterable(values))
        flat_types = set(map(type, flat))
        arr: np.ndarray | None = None
        if f.is_string and f.kind == "varlen":
            if flat_types <= _STR:
                arr = np.array(flat, dtype=object)
                out = np.full((n, maxlen), "", dtype=object)
        elif self.range is not None:
            if flat_types <= _INT:
                try:
                    arr = np.array(flat, dtype=np.int64)
                except OverflowError:
                    arr = None
            if arr is not None:
                lo, hi = self.range
                bad = np.flatnonzero((arr < lo) | (arr >= hi))
                if bad.size:
                    rows = np.searchsorted(np.cumsum(lens), bad, side="right")
                    i = int(rows[0])
                    sink.add(
                        f.name, i, f"id {int(arr[bad[0]])} is outside [{lo}, {hi})", "out_of_range",
                        len(set(rows.tolist())) - 1,
                    )
                    return None
            out = np.zeros((n, maxlen), dtype=self.np_dtype)
        else:
            if flat_types <= _NUM:
                try:
                    arr = np.array(flat, dtype=np.float64)
                except OverflowError:
                    arr = None
                if arr is not None and not bool(np.all(np.abs(arr) <= _FLOAT32_MAX)):
                    arr = None
            out = np.zeros((n, maxlen), dtype=self.np_dtype)
        if arr is None:
            def check(v: list[Any]) -> tuple[str, str] | None:
                for element in v:
                    problem = self._element_problem(element)
                    if problem is not None:
                        return problem
                return None

            self._report_first(values, sink, check)
            return None
        if f.kind == "varlen":
            lengths[f.name] = lens
        if arr.size:
            out[np.arange(maxlen) < lens[:, None]] = arr
        return out


class _Group:
    """Scalar features of one type checked and converted together, as one matrix.

    Strings, integer ids and dense numbers each form a group: one type census
    and one ``np.array`` call over all their values, one vectorised range or
    finiteness test. When anything is off, the caller converts the group's
    features one by one, which names the feature and row at fault.
    """

    def __init__(self, features: list[Feature], allowed: set[type], work_dtype: Any) -> None:
        self.names = frozenset(f.name for f in features)
        self.allowed = allowed
        self.work_dtype = work_dtype
        self.out_dtype = {f.name: _NP_DTYPES[f.input_dtype] for f in features}
        self.bounds = {f.name: f.id_range for f in features}

    def convert(self, data: list[Sequence[Any]], names: tuple[str, ...], row_major: bool,
                out: dict[str, np.ndarray]) -> bool:
        """Converts ``data`` (rows of ``names`` values, or one column per name) into ``out``."""
        if not set(map(type, chain.from_iterable(data))) <= self.allowed:
            return False
        try:
            matrix = np.array(data, dtype=self.work_dtype)
        except (OverflowError, ValueError):
            return False
        if row_major:
            matrix = np.ascontiguousarray(matrix.T)
        if self.work_dtype is np.float64:
            if not bool(np.all(np.abs(matrix) <= _FLOAT32_MAX)):
                return False
            matrix = matrix.astype(np.float32)
        elif self.work_dtype is np.int64:
            lo = np.array([self.bounds[nm][0] for nm in names], dtype=np.float64)[:, None]
            hi = np.array([self.bounds[nm][1] for nm in names], dtype=np.float64)[:, None]
            if not bool(np.all((matrix >= lo) & (matrix < hi))):
                return False
        for j, name in enumerate(names):
            out[name] = matrix[j].astype(self.out_dtype[name], copy=False)
        return True


class FeatureCodec:
    """Validates payloads and builds signature inputs for one model version.

    Args:
        spec: the bundle's ``feature_spec.json`` as a dict.
        max_rows: most rows one payload may hold.
    """

    def __init__(self, spec: dict[str, Any], max_rows: int) -> None:
        self.features = parse_features(spec)
        self.max_rows = max_rows
        self.by_name = {f.name: f for f in self.features}
        self.input_names = tuple(f.name for f in self.features)
        self.client_names = frozenset(self.input_names)
        self.required = frozenset(f.name for f in self.features if f.required)
        # varlen lists before their length and weight features, which check against them
        order = {"varlen": 0, "sparse": 1, "dense": 1, "length": 2, "weight": 2}
        self._columns = [_Column(f) for f in sorted(self.features, key=lambda f: order.get(f.kind, 1))]
        self._by_column = {c.f.name: c for c in self._columns}
        strings = [f for f in self.features if f.kind == "sparse" and f.is_string]
        ints = [f for f in self.features if f.kind == "sparse" and not f.is_string]
        floats = [f for f in self.features if f.kind == "dense" and f.dimension == 1]
        self._groups = [
            _Group(group, allowed, dtype)
            for group, allowed, dtype in ((strings, _STR, object), (ints, _INT, np.int64), (floats, _NUM, np.float64))
            if group
        ]
        self._plans: dict[tuple[str, ...], list[tuple[_Group | None, tuple[str, ...], Any]]] = {}

    def example_row(self) -> dict[str, Any]:
        """A valid row: every feature at its default or at a value inside its domain."""
        row = {f.name: f.example_value() for f in self.features if f.kind != "length"}
        for f in self.features:
            if f.kind == "weight" and f.weight_of in row:
                row[f.name] = [1.0] * len(row[f.weight_of])
        return row

    def probe_rows(self, n: int) -> list[dict[str, Any]]:
        """``n`` valid rows whose values differ across rows and features (for warm-up checks)."""
        rows = []
        for i in range(n):
            row: dict[str, Any] = {}
            for j, f in enumerate(self.features):
                if f.kind == "length":
                    continue
                k = i * 7 + j * 3 + 1
                if f.kind == "dense":
                    row[f.name] = [((k + d) % 11) * 0.25 - 1.0 for d in range(f.dimension)] if f.dimension > 1 else (k % 11) * 0.25 - 1.0
                    continue
                if f.kind == "weight":
                    continue
                if f.vocabulary:
                    element: Any = f.vocabulary[k % len(f.vocabulary)]
                elif f.is_string:
                    element = f"{f.name}-{k}"
                else:
                    lo, hi = f.id_range or (0, 2)
                    element = lo + k % max(1, min(hi - lo, 1000))
                if f.kind == "varlen":
                    size = 1 + (i + j) % int(f.maxlen or 1)
                    row[f.name] = [element] * size if f.is_string else [
                        (lo + (k + e) % max(1, min(hi - lo, 1000))) for e in range(size)]
                else:
                    row[f.name] = element
            for f in self.features:
                if f.kind == "weight" and f.weight_of in row:
                    row[f.name] = [0.5 + 0.25 * e for e in range(len(row[f.weight_of]))]
            rows.append(row)
        return rows

    # -- entry point ----------------------------------------------------------
    def decode(self, payload: dict[str, Any]) -> tuple[dict[str, np.ndarray], int]:
        """Columns (one array per signature input) and the row count of a payload.

        ``payload`` is the parsed body; only ``instances`` or ``inputs`` (plus
        ``model`` and ``version``, already used by the caller) may be present.
        """
        if "instances" in payload:
            if "inputs" in payload:
                raise PayloadError.single("give either 'instances' (rows) or 'inputs' (columns), not both")
            return self._decode_rows(payload["instances"])
        if "inputs" in payload:
            return self._decode_columns(payload["inputs"])
        raise PayloadError.single(
            "the body needs 'instances' (a list of rows) or 'inputs' (an object of columns)", "missing"
        )

    def _check_count(self, n: int, form: str) -> None:
        if n == 0:
            raise PayloadError.single(f"'{form}' holds no rows", "too_short", ("body", form))
        if n > self.max_rows:
            raise PayloadError.single(
                f"too many rows: {n} > {self.max_rows} allowed per request", "too_long", ("body", form),
                status_code=422,
            )

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self.input_names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown feature{hint}; known features: {', '.join(self.input_names)}"

    def _decode_rows(self, rows: Any) -> tuple[dict[str, np.ndarray], int]:
        if type(rows) is not list:
            raise PayloadError.single(f"'instances' must be a list of rows, got {_describe(rows)}", "type_error", ("body", "instances"))
        n = len(rows)
        self._check_count(n, "instances")
        sink = _Sink("instances")
        if set(map(type, rows)) == {dict}:
            keys = rows[0].keys()
            k = len(keys)
            if k and set(map(len, rows)) == {k} and keys <= self.client_names and self.required <= keys:
                try:
                    return self._build_rows(rows, tuple(keys), n, sink)
                except KeyError:  # the rows do not all have the same features
                    pass
        raw: dict[str, Sequence[Any]] | None = None
        if raw is None:
            raw = {}
            present: set[str] = set()
            for i, row in enumerate(rows):
                if type(row) is not dict:
                    sink.add(None, i, f"a row must be an object of features, got {_describe(row)}", "type_error")
                    continue
                for name in row.keys() - self.client_names:
                    sink.add(str(name), i, self._unknown(name), "unknown_feature")
                for name in self.required - row.keys():
                    sink.add(name, i, "missing required feature", "missing")
                present.update(row.keys() & self.client_names)
            if sink.errors:
                raise PayloadError(sink.errors)
            raw = {name: [row.get(name) for row in rows] for name in present}
        return self._build(raw, n, sink)

    def _decode_columns(self, inputs: Any) -> tuple[dict[str, np.ndarray], int]:
        if type(inputs) is not dict:
            raise PayloadError.single(f"'inputs' must be an object of columns, got {_describe(inputs)}", "type_error", ("body", "inputs"))
        sink = _Sink("inputs")
        n: int | None = None
        first = None
        for name, values in inputs.items():
            if name not in self.client_names:
                sink.add(str(name), None, self._unknown(name), "unknown_feature")
            elif type(values) is not list:
                sink.add(name, None, f"a column must be a list of values, got {_describe(values)}", "type_error")
            elif n is None:
                n, first = len(values), name
            elif len(values) != n:
                sink.add(name, None, f"column has {len(values)} values but {first!r} has {n}", "value_error")
        for name in sorted(self.required - inputs.keys()):
            sink.add(name, None, "missing required feature", "missing")
        if sink.errors:
            raise PayloadError(sink.errors)
        if n is None:
            raise PayloadError.single("'inputs' holds no columns", "missing", ("body", "inputs"))
        self._check_count(n, "inputs")
        return self._build(inputs, n, sink)

    def _plan(self, keys: tuple[str, ...]) -> list[tuple[_Group | None, tuple[str, ...], Any]]:
        """Per group (``None``: the other features), the names present and their getter."""
        plan = self._plans.get(keys)
        if plan is None:
            plan = []
            grouped: set[str] = set()
            for group in self._groups:
                names = tuple(nm for nm in keys if nm in group.names)
                if names:
                    plan.append((group, names, itemgetter(*names)))
                    grouped.update(names)
            rest = tuple(nm for nm in keys if nm not in grouped)
            if rest:
                plan.append((None, rest, itemgetter(*rest)))
            if len(self._plans) < 64:
                self._plans[keys] = plan
        return plan

    def _build_rows(self, rows: list[dict[str, Any]], keys: tuple[str, ...], n: int, sink: _Sink) -> tuple[dict[str, np.ndarray], int]:
        """Rows that all hold the same ``keys``: scalar groups go straight into matrices."""
        columns: dict[str, np.ndarray] = {}
        raw: dict[str, Sequence[Any]] = {}
        for group, names, getter in self._plan(keys):
            if len(names) == 1:
                data: list[Sequence[Any]] = [list(map(getter, rows))]
                row_major = False
            else:
                data = list(map(getter, rows))
                row_major = True
            if group is not None and group.convert(data, names, row_major, columns):
                continue
            raw.update(zip(names, zip(*data)) if row_major else zip(names, data))
        return self._build(raw, n, sink, columns)

    def _build(
        self, raw: dict[str, Sequence[Any]], n: int, sink: _Sink, columns: dict[str, np.ndarray] | None = None
    ) -> tuple[dict[str, np.ndarray], int]:
        if columns is None:
            columns = {}
            for group in self._groups:
                names = tuple(nm for nm in raw if nm in group.names)
                if names and group.convert([raw[nm] for nm in names], names, False, columns):
                    raw = {nm: v for nm, v in raw.items() if nm not in columns}
        lengths: dict[str, np.ndarray] = {}
        for col in self._columns:
            name = col.f.name
            if name in columns:
                continue
            values = raw.get(name, _MISSING)
            if values is _MISSING:
                arr = col.default_column(n, lengths)
            else:
                arr = col.convert(values, sink, lengths)  # type: ignore[arg-type]
            if arr is not None:
                columns[name] = arr
        if sink.errors:
            raise PayloadError(sink.errors)
        return columns, n
