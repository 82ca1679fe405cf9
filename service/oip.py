"""The Open Inference Protocol (KServe v2), shared by its REST and gRPC forms.

A model version takes one input tensor per feature, named as the feature:
strings as ``BYTES``, ids as ``INT32``/``INT64`` (any integer type is taken),
dense values as ``FP32`` (``FP16``/``FP64`` taken), shape ``[n]`` (or ``[n,
1]``) for a scalar, ``[n, maxlen]`` for a list, ``[n, dimension]`` for a dense
vector; :func:`model_metadata` describes exactly that, so a client can build a
request from the metadata alone. The answer holds one ``FP32`` output of shape
``[n]`` per task.

This module turns the protocol's tensors (JSON ``data``, binary data after the
JSON header, gRPC ``raw_input_contents`` or typed ``contents``) into
:class:`~service.tensors.Tensor` objects and names the datatypes; the REST
routes are in :mod:`service.routes.oip`, the gRPC service in
:mod:`service.oip_grpc`.

>>> import numpy as np
>>> tensors = tensors_from_raw([("user_id", "INT64", [2], np.array([3, 7]).tobytes())])
>>> tensors[0].values.tolist()
[3, 7]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from service.errors import PayloadError
from service.features import Feature
from service.names import validate_model_name, validate_version
from service.registry import ModelNotFound, ModelRegistry, ModelVersion
from service.tensors import Tensor, split_bytes

__all__ = [
    "NUMPY_TYPES",
    "PLATFORM",
    "datatype_of",
    "described_version",
    "model_metadata",
    "server_metadata",
    "shape_of",
    "tensor_from_data",
    "tensors_from_raw",
]

PLATFORM = "tensorflow_savedmodel"
NUMPY_TYPES: dict[str, np.dtype] = {
    name: np.dtype(kind).newbyteorder("<") for name, kind in {
        "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
        "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
        "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    }.items()
}
_FEATURE_TYPES = {"int32": "INT32", "int64": "INT64", "float32": "FP32", "float64": "FP64"}


def datatype_of(f: Feature) -> str:
    """The datatype a feature's tensor has in the protocol's names."""
    return "BYTES" if f.is_string else _FEATURE_TYPES.get(f.input_dtype, "FP32")


def shape_of(f: Feature) -> list[int]:
    """The shape of a feature's tensor, ``-1`` standing for the rows."""
    return [-1, f.width] if f.is_list else [-1]


def described_version(registry: ModelRegistry, name: str, version: str | None) -> ModelVersion:
    """The loaded version a metadata or readiness request names (the serving one when it names none);
    :class:`ModelNotFound` for an unknown model or version, :class:`PayloadError` for an invalid name."""
    model_name = validate_model_name(name, ("path", "name"), 400)
    number = validate_version(version, ("path", "version"), 400) if version else None
    model = registry.models.get(model_name)
    if model is None:
        raise ModelNotFound(f"unknown model {model_name!r}; known models: {', '.join(sorted(registry.models)) or 'none'}")
    if number is None:
        if model.serving is None:
            raise ModelNotFound(f"model {model_name!r} has no version serving yet")
        return model.serving
    return registry.resolve(model_name, number)


def model_metadata(mv: ModelVersion, registry: ModelRegistry) -> dict[str, Any]:
    """The model metadata answer: every input (one per feature) and every output (one per task); ``versions``
    lists the model's loaded versions."""
    features = mv.decoder.features if mv.decoder is not None else []
    model = registry.models.get(mv.model)
    versions = [str(v) for v, m in sorted(model.versions.items()) if m.loaded] if model else [mv.version_label]
    return {
        "name": mv.model,
        "versions": versions,
        "platform": PLATFORM,
        "inputs": [{"name": f.name, "datatype": datatype_of(f), "shape": shape_of(f)} for f in features],
        "outputs": [{"name": name, "datatype": "FP32", "shape": [-1]} for name in mv.outputs],
    }


def server_metadata() -> dict[str, Any]:
    """The server metadata answer: name, version and the protocol extensions served."""
    from ctrkit import __version__

    return {"name": "ctrkit", "version": __version__, "extensions": ["binary_tensor_data"]}


def _refuse(name: str, message: str) -> PayloadError:
    return PayloadError.single(f"feature {name!r}: {message}", "value_error", ("body", "inputs", name), feature=name)


def _shape(name: str, shape: Iterable[Any]) -> tuple[int, ...]:
    dims = tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in dims):
        raise _refuse(name, f"invalid shape {list(dims)}: expected non-negative integers")
    return dims


def tensors_from_raw(inputs: Sequence[tuple[str, str, Sequence[int], bytes | memoryview]]) -> list[Tensor]:
    """Tensors from ``(name, datatype, shape, raw bytes)``: numbers viewed in place, BYTES split together."""
    tensors: list[Tensor] = []
    strings: list[tuple[int, str, tuple[int, ...], bytes | memoryview]] = []
    for name, datatype, shape, raw in inputs:
        dims = _shape(name, shape)
        if datatype == "BYTES":
            strings.append((len(tensors), name, dims, raw))
            tensors.append(None)  # type: ignore[arg-type]
            continue
        dtype = NUMPY_TYPES.get(datatype)
        if dtype is None:
            raise _refuse(name, f"unsupported datatype {datatype!r}")
        count = math.prod(dims)
        if len(raw) != count * dtype.itemsize:
            raise _refuse(name, f"{len(raw)} bytes of data for the shape {list(dims)} of {datatype} "
                                f"(expected {count * dtype.itemsize})")
        tensors.append(Tensor(name, datatype, dims, np.frombuffer(raw, dtype=dtype)))
    if strings:
        counts = [math.prod(dims) for _, _, dims, _ in strings]
        sizes = [len(raw) for *_, raw in strings]
        joined = strings[0][3] if len(strings) == 1 else b"".join(raw for *_, raw in strings)
        found = split_bytes(bytes(joined), counts, sizes)
        if found is None:
            for (_, name, dims, raw), count in zip(strings, counts):
                if split_bytes(bytes(raw), [count]) is None:
                    raise _refuse(name, f"the BYTES data does not hold {count} elements for the shape {list(dims)} "
                                        "(each a 4-byte little-endian length, then its bytes)")
            raise _refuse(strings[0][1], "the BYTES data is malformed")
        parts, text = found
        for (index, name, dims, _), values in zip(strings, parts):
            tensors[index] = Tensor(name, "BYTES", dims, values, text)
    return tensors


def tensor_from_data(name: str, datatype: str, shape: Sequence[int], data: Any) -> Tensor:
    """A tensor from JSON ``data`` (flat or nested lists, row-major; strings for BYTES)."""
    dims = _shape(name, shape)
    if not isinstance(data, list):
        raise _refuse(name, f"'data' must be a list of values, got {type(data).__name__}")
    if datatype == "BYTES":
        values = np.array(data, dtype=object)
        if values.ndim != 1:
            values = values.reshape(-1)
        if not all(type(v) is str for v in values.tolist()):
            raise _refuse(name, "the data of a BYTES tensor must be strings")
        return Tensor(name, datatype, dims, values)
    dtype = NUMPY_TYPES.get(datatype)
    if dtype is None:
        raise _refuse(name, f"unsupported datatype {datatype!r}")
    try:
        values = np.array(data)
    except ValueError:
        raise _refuse(name, "the data is not a regular array of numbers") from None
    kind = values.dtype.kind
    wanted = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}[dtype.kind]
    if values.size and kind not in wanted:
        noun = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}[dtype.kind]
        raise _refuse(name, f"the data of a {datatype} tensor must be {noun}")
    # kept wide (int64, float64): a value beyond the declared type is refused by its range, not wrapped
    values = values.reshape(-1)
    if dtype.kind == "f":
        values = values.astype(np.float64, copy=False)
    elif not values.size:
        values = np.empty(0, dtype=dtype)
    return Tensor(name, datatype, dims, values)
