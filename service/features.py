"""The features a model version takes, as its ``feature_spec.json`` describes them.

A :class:`Feature` holds what the service needs to check a value and to place
it in the model's input: kind (``sparse``, ``dense``, ``varlen``, and the
``length`` and ``weight`` companions of lists), dtype, id range, list length,
default. :func:`parse_features` reads them from a spec, in spec order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FLOAT32_MAX", "Feature", "example_row", "parse_features", "probe_rows"]

FLOAT32_MAX = 3.4028234663852886e38
_DTYPES = frozenset({"string", "int32", "int64", "float32", "float64"})
_INT_BOUNDS = {"int32": (-(2**31), 2**31), "int64": (-(2**63), 2**63)}


@dataclass(frozen=True)
class Feature:
    """One input of a model's signature."""

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
    def is_list(self) -> bool:
        """The value is a list: a varlen feature, its weights, or a dense vector."""
        return self.kind in ("varlen", "weight") or (self.kind == "dense" and self.dimension > 1)

    @property
    def width(self) -> int:
        """Columns the feature takes in its packed matrix."""
        if self.kind in ("varlen", "weight"):
            return int(self.maxlen or 0)
        return self.dimension if self.kind == "dense" else 1

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
        if input_dtype not in _DTYPES:
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


def example_row(features: list[Feature]) -> dict[str, Any]:
    """A valid row: every feature at its default or at a value inside its domain."""
    row = {f.name: f.example_value() for f in features if f.kind != "length"}
    for f in features:
        if f.kind == "weight" and f.weight_of in row:
            row[f.name] = [1.0] * len(row[f.weight_of])
    return row


def probe_rows(features: list[Feature], n: int) -> list[dict[str, Any]]:
    """``n`` valid rows whose values differ across rows and features (for warm-up checks)."""
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for j, f in enumerate(features):
            if f.kind in ("length", "weight"):
                continue
            k = i * 7 + j * 3 + 1
            if f.kind == "dense":
                values = [((k + d) % 11) * 0.25 - 1.0 for d in range(f.dimension)]
                row[f.name] = values if f.dimension > 1 else values[0]
                continue
            lo, hi = f.id_range or (0, 2)
            span = max(1, min(hi - lo, 1000))
            if f.vocabulary:
                elements = [f.vocabulary[(k + e) % len(f.vocabulary)] for e in range(int(f.maxlen or 1))]
            elif f.is_string:
                elements = [f"{f.name}-{k + e}" for e in range(int(f.maxlen or 1))]
            else:
                elements = [lo + (k + e) % span for e in range(int(f.maxlen or 1))]
            if f.kind == "varlen":
                row[f.name] = elements[: 1 + (i + j) % int(f.maxlen or 1)]
            else:
                row[f.name] = elements[0]
        for f in features:
            if f.kind == "weight" and f.weight_of in row:
                row[f.name] = [0.5 + 0.25 * e for e in range(len(row[f.weight_of]))]
        rows.append(row)
    return rows
