"""Versioned export bundles: the contract between the library and the service.

A bundle is `repository_dir/<n>/` holding a SavedModel whose
`serving_default` signature takes the raw features by name, and
`feature_spec.json` describing every feature, the outputs and how the model
was trained. Hashing and vocabulary lookups run inside the graph, so serving
computes exactly what training did.

A second signature, `serving_packed`, takes the same features packed into one
2-D tensor per dtype (`strings`, `ints`, `floats`), which saves most of the
fixed cost of a call with dozens of named inputs; `feature_spec.json` lists
the packing under `"packed"`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .feature_column import DenseFeat, SparseFeat, VarLenSparseFeat

FORMAT_VERSION = 1
SPEC_FILE = "feature_spec.json"
_VERSION_DIR = re.compile(r"^[0-9]+$")
_PACK_GROUPS = {"string": "strings", "int32": "ints", "int64": "ints", "float32": "floats", "float64": "floats"}


def _tf():
    import tensorflow as tf

    return tf


def feature_entries(feature_columns: Iterable) -> list[dict[str, Any]]:
    """`feature_spec.json`'s feature list, including length and weight inputs."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(entry):
        if entry["name"] not in seen:
            seen.add(entry["name"])
            entries.append(entry)

    for fc in feature_columns:
        if isinstance(fc, SparseFeat):
            add(
                {
                    "name": fc.name,
                    "kind": "sparse",
                    "dtype": fc.dtype,
                    "vocabulary_size": fc.vocabulary_size,
                    "use_hash": bool(fc.use_hash),
                    "vocabulary": _vocabulary_keys(fc.vocabulary_path),
                    "embedding_dim": fc.embedding_dim,
                    "default": None,
                }
            )
        elif isinstance(fc, DenseFeat):
            add(
                {
                    "name": fc.name,
                    "kind": "dense",
                    "dtype": "float32",
                    "dimension": fc.dimension,
                    "default": None,
                }
            )
        elif isinstance(fc, VarLenSparseFeat):
            add(
                {
                    "name": fc.name,
                    "kind": "varlen",
                    "dtype": fc.dtype,
                    "vocabulary_size": fc.vocabulary_size,
                    "use_hash": bool(fc.use_hash),
                    "vocabulary": _vocabulary_keys(fc.vocabulary_path),
                    "embedding_dim": fc.embedding_dim,
                    "maxlen": fc.maxlen,
                    "combiner": fc.combiner,
                    "length_name": fc.length_name,
                    "weight_name": fc.weight_name,
                    "default": [],
                }
            )
            if fc.length_name is not None:
                add({"name": fc.length_name, "kind": "length", "dtype": "int32", "length_of": fc.name, "default": None})
            if fc.weight_name is not None:
                add(
                    {
                        "name": fc.weight_name,
                        "kind": "weight",
                        "dtype": "float32",
                        "maxlen": fc.maxlen,
                        "weight_of": fc.name,
                        "default": None,
                    }
                )
        else:
            raise TypeError(f"not a feature column: {fc!r}")
    return entries


def _vocabulary_keys(path: str | None) -> list[str] | None:
    if path is None:
        return None
    from .data.readers import read_vocabulary

    return list(read_vocabulary(path))


def _signature_shape(entry: Mapping[str, Any]) -> list[int]:
    kind = entry["kind"]
    if kind in ("varlen", "weight"):
        return [-1, entry["maxlen"]]
    if kind == "dense" and entry["dimension"] > 1:
        return [-1, entry["dimension"]]
    return [-1]


def model_input_entries(model: keras.Model, known: Iterable[str]) -> list[dict[str, Any]]:
    """Feature entries for the inputs a model creates itself, without a
    feature column (DSIN's `sess_length`, as in DeepCTR): each float input of
    shape `(batch, dimension)` not in `known` is described as a dense feature."""
    known = set(known)
    entries = []
    for tensor in model.inputs:
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if tensor.name in known or len(tensor.shape) != 2 or tensor.shape[1] is None or not dtype.startswith("float"):
            continue
        entries.append(
            {"name": tensor.name, "kind": "dense", "dtype": dtype, "dimension": int(tensor.shape[1]), "default": None}
        )
    return entries


def _input_specs(entries: Sequence[Mapping[str, Any]]):
    tf = _tf()
    return {
        e["name"]: tf.TensorSpec([None, *_signature_shape(e)[1:]], tf.as_dtype(e["dtype"]), name=e["name"])
        for e in entries
    }


@dataclass(frozen=True)
class PackedField:
    """Where one feature sits in the packed matrices of `serving_packed`.

    `group` names the matrix (`strings`, `ints` or `floats`), `offset` and
    `width` its columns there; `matrix` tells whether the feature's own
    signature input is 2-D (`[n, width]`) or a vector (`[n]`), and `dtype`
    is that input's dtype.
    """

    name: str
    group: str
    offset: int
    width: int
    matrix: bool
    dtype: str


class PackedLayout:
    """The layout of `serving_packed`: one 2-D matrix per dtype group.

    Strings (`string`) go into `strings`, integer ids and lengths (`int32`,
    `int64`) into `ints` as int64, dense values and weights (`float32`,
    `float64`) into `floats` as float32; within a group features sit side by
    side in feature-spec order, a list or vector feature taking `maxlen` or
    `dimension` columns. This class is the one definition of that layout:
    export builds the signature from it, the service writes validated values
    straight into its matrices, and benchmarks pack columns with it.

    >>> layout = PackedLayout.from_entries([
    ...     {"name": "C1", "kind": "sparse", "dtype": "string"},
    ...     {"name": "I1", "kind": "dense", "dtype": "float32", "dimension": 1},
    ...     {"name": "hist", "kind": "varlen", "dtype": "int32", "maxlen": 3},
    ... ])
    >>> layout.widths
    {'strings': 1, 'ints': 3, 'floats': 1}
    >>> packed = layout.pack({"C1": ["a", "b"], "I1": [0.5, 1.0], "hist": [[1, 2, 0], [3, 0, 0]]})
    >>> packed["ints"].tolist()
    [[1, 2, 0], [3, 0, 0]]
    >>> layout.unpack(packed)["I1"].tolist()
    [0.5, 1.0]
    """

    GROUP_DTYPES = {"strings": np.dtype(object), "ints": np.dtype(np.int64), "floats": np.dtype(np.float32)}

    def __init__(self, fields: Sequence[PackedField]):
        self.fields = {f.name: f for f in fields}
        groups: dict[str, list[PackedField]] = {}
        for f in fields:
            if f.group not in self.GROUP_DTYPES:
                raise ValueError(f"feature {f.name!r}: unknown packed group {f.group!r}")
            groups.setdefault(f.group, []).append(f)
        self.groups = {g: tuple(groups[g]) for g in self.GROUP_DTYPES if g in groups}
        self.widths = {g: sum(f.width for f in fs) for g, fs in self.groups.items()}

    @classmethod
    def from_entries(cls, entries: Sequence[Mapping[str, Any]]) -> "PackedLayout":
        """The layout of features described as `feature_spec.json` entries, in their order."""
        offsets: dict[str, int] = {}
        fields = []
        for e in entries:
            shape = _signature_shape(e)
            group = _PACK_GROUPS[e["dtype"]]
            width = shape[1] if len(shape) == 2 else 1
            offset = offsets.get(group, 0)
            offsets[group] = offset + width
            fields.append(PackedField(e["name"], group, offset, width, len(shape) == 2, e["dtype"]))
        return cls(fields)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "PackedLayout | None":
        """The layout a bundle's `feature_spec.json` declares under `packed`, or None."""
        packing = spec.get("packed")
        if not packing:
            return None
        entries = {e["name"]: e for e in spec["features"]}
        fields = []
        for group, columns in packing.items():
            offset = 0
            for name, width in columns:
                e = entries[name]
                fields.append(PackedField(name, group, offset, int(width), len(_signature_shape(e)) == 2, e["dtype"]))
                offset += int(width)
        return cls(fields)

    def to_spec(self) -> dict[str, list[list]]:
        """`feature_spec.json`'s `packed` entry: `group -> [[feature, width], ...]`."""
        return {g: [[f.name, f.width] for f in fs] for g, fs in self.groups.items()}

    def empty(self, rows: int) -> dict[str, np.ndarray]:
        """Uninitialised matrices for `rows` rows."""
        return {g: np.empty((rows, w), dtype=self.GROUP_DTYPES[g]) for g, w in self.widths.items()}

    def pack(self, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Matrices from named columns shaped as `serving_default` takes them."""
        rows = len(next(iter(features.values())))
        packed = self.empty(rows)
        for f in self.fields.values():
            values = np.asarray(features[f.name])
            packed[f.group][:, f.offset : f.offset + f.width] = values.reshape(rows, f.width)
        return packed

    def unpack(self, packed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named columns for `serving_default`, in their signature dtypes."""
        out = {}
        for f in self.fields.values():
            column = packed[f.group][:, f.offset : f.offset + f.width]
            if not f.matrix:
                column = column[:, 0]
            out[f.name] = column if f.group == "strings" else column.astype(f.dtype)
        return out


def _model_tasks(model: keras.Model) -> list[dict[str, str]]:
    """Task name and type per model output, read from its prediction layers."""
    from .layers.core import PredictionLayer

    output_layers = [model.get_layer(name) for name in model.output_names]
    if len(output_layers) == 1:
        task = output_layers[0].task if isinstance(output_layers[0], PredictionLayer) else "binary"
        return [{"name": "ctr" if task == "binary" else "prediction", "type": task}]
    return [
        {"name": layer.name, "type": layer.task if isinstance(layer, PredictionLayer) else "binary"}
        for layer in output_layers
    ]


class _ServingModule:
    """Builds the tf.Module that SavedModel writes: the model plus signatures."""

    def __init__(self, model: keras.Model, entries: Sequence[Mapping[str, Any]], output_names: Sequence[str]):
        tf = _tf()
        self.entries = {e["name"]: e for e in entries}
        self.output_names = list(output_names)
        self.input_names = [t.name for t in model.inputs]
        missing = [n for n in self.input_names if n not in self.entries]
        if missing:
            raise ValueError(f"model inputs {missing} have no feature column; pass every column the model uses")
        used = [self.entries[n] for n in self.input_names]
        self.layout = PackedLayout.from_entries(used)
        module = tf.Module()
        module.model = model
        # Keras does not expose seed-generator states (LSTM/GRU dropout) to
        # SavedModel tracking, yet their inference graph captures them.
        module.model_variables = [v.value for v in model.variables]
        module.serving_default = tf.function(self._serve, input_signature=[_input_specs(used)])
        packed_specs = {
            "strings": tf.TensorSpec([None, None], tf.string, name="strings"),
            "ints": tf.TensorSpec([None, None], tf.int64, name="ints"),
            "floats": tf.TensorSpec([None, None], tf.float32, name="floats"),
        }
        module.serving_packed = tf.function(
            self._serve_packed, input_signature=[{g: packed_specs[g] for g in self.layout.groups}]
        )
        self.module = module
        self.model = model

    def _serve(self, features):
        tf = _tf()
        inputs = {}
        for name in self.input_names:
            x = features[name]
            kind = self.entries[name]["kind"]
            if len(x.shape) == 1:
                x = tf.expand_dims(x, -1)
            if kind == "weight":
                x = tf.expand_dims(x, -1)
            inputs[name] = x
        outputs = self.model(inputs, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {
            name: tf.reshape(tf.cast(out, tf.float32), [-1]) for name, out in zip(self.output_names, outputs)
        }

    def _serve_packed(self, packed):
        tf = _tf()
        features = {}
        for f in self.layout.fields.values():
            column = packed[f.group][:, f.offset : f.offset + f.width]
            if not f.matrix:
                column = column[:, 0]
            features[f.name] = tf.cast(column, tf.as_dtype(f.dtype))
        return self._serve(features)

    def save(self, path: str) -> None:
        tf = _tf()
        signatures = {
            "serving_default": self.module.serving_default.get_concrete_function(),
            "serving_packed": self.module.serving_packed.get_concrete_function(),
        }
        tf.saved_model.save(self.module, path, signatures=signatures)


def _next_version(repository: Path) -> int:
    versions = [int(p.name) for p in repository.iterdir() if p.is_dir() and _VERSION_DIR.match(p.name)]
    return max(versions, default=0) + 1


def export_model(
    model: keras.Model,
    repository_dir: str | os.PathLike,
    feature_columns: Iterable,
    *,
    name: str | None = None,
    tasks: Sequence[Mapping[str, str]] | None = None,
    rows_seen: int | None = None,
    validation: Mapping[str, float] | None = None,
    defaults: Mapping[str, Any] | None = None,
    **metadata: Any,
) -> Path:
    """Write the next version of a model into `repository_dir` and return its path.

    The version directory is written under a temporary name and renamed into
    place, so a server polling the repository never sees half a bundle.
    `feature_columns` are the columns the model was built from (duplicates,
    e.g. the same columns passed as linear and DNN columns, are fine); inputs
    the model creates itself (DSIN's `sess_length`) are described from the
    model (`model_input_entries`).
    `defaults` gives values the service fills in for features a request
    leaves out; every other feature is required.
    """
    import tensorflow as tf

    repository = Path(repository_dir)
    repository.mkdir(parents=True, exist_ok=True)
    entries = feature_entries(feature_columns)
    entries += model_input_entries(model, (e["name"] for e in entries))
    unknown = set(defaults or {}) - {e["name"] for e in entries}
    if unknown:
        raise ValueError(f"defaults given for unknown features {sorted(unknown)}")
    for entry in entries:
        if defaults and entry["name"] in defaults:
            entry["default"] = defaults[entry["name"]]
    tasks = [dict(t) for t in tasks] if tasks is not None else _model_tasks(model)
    output_names = [t["name"] for t in tasks]
    if len(output_names) != len(model.outputs):
        raise ValueError(f"the model has {len(model.outputs)} outputs but {len(output_names)} tasks were given")
    serving = _ServingModule(model, entries, output_names)
    used = [e for e in entries if e["name"] in serving.input_names]

    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=repository))
    try:
        serving.save(str(staging))
        spec: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "model": {
                "name": name or repository.name,
                "class": metadata.pop("model_class", None) or model.name,
                "version": None,
                "tasks": tasks,
                "outputs": output_names,
            },
            "features": used,
            "signature": {
                "inputs": {e["name"]: {"dtype": e["dtype"], "shape": _signature_shape(e)} for e in used},
                "outputs": {n: {"dtype": "float32", "shape": [-1]} for n in output_names},
            },
            "packed": serving.layout.to_spec(),
            "training": {
                "ctrkit_version": _ctrkit_version(),
                "tensorflow_version": tf.__version__,
                "keras_version": keras.__version__,
                "created_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "rows_seen": rows_seen,
                "validation": dict(validation or {}),
                **metadata,
            },
        }
        while True:
            version = _next_version(repository)
            spec["model"]["version"] = version
            (staging / SPEC_FILE).write_text(json.dumps(spec, indent=2, default=_json_default))
            target = repository / str(version)
            try:
                os.rename(staging, target)
            except OSError:
                if target.exists():
                    continue  # another writer took this version number first
                raise
            return target
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _ctrkit_version() -> str:
    from . import __version__

    return __version__


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass
class Bundle:
    """A loaded version directory: its spec and a predict function."""

    path: Path
    spec: dict[str, Any]
    saved_model: Any = field(repr=False)

    @property
    def name(self) -> str:
        return self.spec["model"]["name"]

    @property
    def version(self) -> int:
        return int(self.spec["model"]["version"])

    @property
    def output_names(self) -> list[str]:
        return list(self.spec["model"]["outputs"])

    @property
    def signature(self):
        return self.saved_model.signatures["serving_default"]

    @property
    def packed_signature(self):
        return self.saved_model.signatures.get("serving_packed")

    @property
    def layout(self) -> PackedLayout | None:
        """How `packed_signature` takes its inputs (None for a bundle without one)."""
        return PackedLayout.from_spec(self.spec)

    def to_tensors(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """Arrays for `serving_default`, lists of lists padded to `maxlen`."""
        tf = _tf()
        tensors = {}
        for entry in self.spec["features"]:
            name = entry["name"]
            if name not in features:
                raise KeyError(f"missing feature {name!r}")
            tensors[name] = tf.constant(_column_array(entry, features[name]))
        return tensors

    def predict(self, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        outputs = self.signature(**self.to_tensors(features))
        return {name: outputs[name].numpy() for name in self.output_names}


def _column_array(entry: Mapping[str, Any], values: Any) -> np.ndarray:
    dtype = object if entry["dtype"] == "string" else np.dtype(entry["dtype"])
    shape = _signature_shape(entry)
    if len(shape) == 1:
        array = np.asarray(values)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
    elif entry["kind"] in ("varlen", "weight") and not isinstance(values, np.ndarray):
        pad = "" if entry["dtype"] == "string" else 0
        maxlen = entry["maxlen"]
        array = np.array([list(row) + [pad] * (maxlen - len(row)) for row in values], dtype=dtype)
    else:
        array = np.asarray(values)
        if entry["kind"] == "weight" and array.ndim == 3:
            array = array[..., 0]
    if entry["dtype"] == "string":
        return array.astype(str).astype(object)
    return array.astype(dtype)


def load_bundle(version_dir: str | os.PathLike) -> Bundle:
    """Load a version directory written by `export_model`."""
    import tensorflow as tf

    path = Path(version_dir)
    spec_path = path / SPEC_FILE
    if not spec_path.is_file():
        raise FileNotFoundError(f"{path} is not a model bundle: {SPEC_FILE} is missing")
    spec = json.loads(spec_path.read_text())
    if spec.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{spec_path}: unsupported format_version {spec.get('format_version')!r}")
    saved_model = tf.saved_model.load(str(path))
    signature = saved_model.signatures.get("serving_default")
    if signature is None:
        raise ValueError(f"{path}: the SavedModel has no serving_default signature")
    expected = {e["name"] for e in spec["features"]}
    actual = set(signature.structured_input_signature[1].keys())
    if expected != actual:
        raise ValueError(
            f"{path}: feature spec and signature disagree: only in spec {sorted(expected - actual)}, "
            f"only in signature {sorted(actual - expected)}"
        )
    return Bundle(path=path, spec=spec, saved_model=saved_model)
