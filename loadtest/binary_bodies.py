"""Request bodies of the binary protocols, built from columns of feature values and the feature spec.

* :func:`oip_binary_request`: an Open Inference Protocol REST body with binary
  tensors (the JSON header, then each input's bytes) and its headers;
* :func:`tf_predict_request`: a TensorFlow Serving ``PredictRequest``,
  serialized, with one ``TensorProto`` per feature (values in ``tensor_content``,
  strings in ``string_val``), and :func:`grpc_frame`, the message as a unary
  gRPC call's HTTP/2 body.

Every feature is sent as its own tensor, as the model metadata describes it:
strings as ``BYTES``/``DT_STRING``, ids as integers, dense values as ``FP32``,
lists padded to ``[n, maxlen]``; length inputs are left to the service.

Example::

    columns = RequestGenerator(spec, seed=1).columns(100)
    body, headers = oip_binary_request(spec, columns)
    frame = grpc_frame(tf_predict_request(spec, columns, model="criteo_deepfm"))
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["grpc_frame", "oip_binary_request", "tensors", "tf_predict_request"]

_OIP = {"string": "BYTES", "int32": "INT32", "int64": "INT64", "float32": "FP32", "float64": "FP32"}
_NUMPY = {"INT32": "<i4", "INT64": "<i8", "FP32": "<f4"}


def tensors(spec: Mapping[str, Any], columns: Mapping[str, list[Any]]) -> list[tuple[str, str, list[int], Any]]:
    """``(name, datatype, shape, values)`` per feature the columns give: numpy arrays, or lists of bytes."""
    out = []
    for entry in spec["features"]:
        name = entry["name"]
        if entry["kind"] == "length" or name not in columns:
            continue
        values = columns[name]
        n = len(values)
        datatype = _OIP[entry["dtype"]]
        width = entry.get("maxlen") if entry["kind"] in ("varlen", "weight") else (
            entry.get("dimension", 1) if entry["kind"] == "dense" and entry.get("dimension", 1) > 1 else None)
        if width is not None and entry["kind"] in ("varlen", "weight"):
            pad = "" if datatype == "BYTES" else 0
            values = [list(v) + [pad] * (width - len(v)) for v in values]
        shape = [n, width] if width is not None else [n]
        if datatype == "BYTES":
            flat = [v for row in values for v in row] if width is not None else values
            out.append((name, datatype, shape, [str(v).encode() for v in flat]))
        else:
            out.append((name, datatype, shape, np.asarray(values, dtype=_NUMPY[datatype]).reshape(shape)))
    return out


def oip_binary_request(spec: Mapping[str, Any], columns: Mapping[str, list[Any]],
                       binary_output: bool = True) -> tuple[bytes, dict[str, str]]:
    """An inference request with every input as binary data, and its headers."""
    inputs, blobs = [], []
    for name, datatype, shape, values in tensors(spec, columns):
        if datatype == "BYTES":
            blob = b"".join(struct.pack("<I", len(v)) + v for v in values)
        else:
            blob = values.tobytes()
        inputs.append({"name": name, "datatype": datatype, "shape": shape,
                       "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    head = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": binary_output}},
                      separators=(",", ":")).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    return head + b"".join(blobs), headers


def tf_predict_request(spec: Mapping[str, Any], columns: Mapping[str, list[Any]], model: str) -> bytes:
    """A serialized ``tensorflow.serving.PredictRequest`` for the columns."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    dtypes = {"BYTES": types_pb2.DT_STRING, "INT32": types_pb2.DT_INT32, "INT64": types_pb2.DT_INT64,
              "FP32": types_pb2.DT_FLOAT}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, datatype, shape, values in tensors(spec, columns):
        proto = tensor_pb2.TensorProto(dtype=dtypes[datatype], tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]))
        if datatype == "BYTES":
            proto.string_val.extend(values)
        else:
            proto.tensor_content = values.tobytes()
        request.inputs[name].CopyFrom(proto)
    return request.SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """A gRPC message as it travels in an HTTP/2 body: uncompressed flag, 4-byte big-endian length, bytes."""
    return b"\x00" + struct.pack(">I", len(message)) + message
