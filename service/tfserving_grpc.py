"""TensorFlow Serving's gRPC API: ``PredictionService`` (``Predict``, ``GetModelMetadata``) and
``ModelService`` (``GetModelStatus``), with the messages and stubs of ``tensorflow-serving-api``.

``Predict`` takes one ``TensorProto`` per feature in ``inputs``, by feature
name: ``DT_STRING`` for strings, ``DT_INT32``/``DT_INT64`` for ids (any
integer type is taken), ``DT_FLOAT`` for dense values, ``[n]`` for a scalar,
``[n, maxlen]`` for a list, ``[n, dimension]`` for a vector, values in
``tensor_content`` (what ``tf.make_tensor_proto`` writes) or in the typed
fields. It answers one ``DT_FLOAT`` tensor of shape ``[n]`` per task (all, or
those of ``output_filter``) and names the version that computed them in
``model_spec``. ``GetModelMetadata`` describes exactly those inputs as the
``serving_default`` signature; ``GetModelStatus`` lists the versions and
their states as TensorFlow Serving does. ``Classify``, ``Regress`` and
``MultiInference`` answer ``UNIMPLEMENTED``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from service.errors import PayloadError
from service.features import Feature
from service.grpc_server import abort_for, serve_prediction
from service.names import validate_model_name, validate_version
from service.predict import Outcome, Predictor
from service.registry import ModelNotFound, ModelRegistry, ModelVersion
from service.routes.tfserving import version_status
from service.tensors import Tensor, bytes_arrays, tensor_decoder

__all__ = ["add_tfserving_services", "signature_def", "tensors_of"]

_NUMPY = {
    dtype: (np.dtype(kind).newbyteorder("<"), field) for dtype, (kind, field) in {
        types_pb2.DT_FLOAT: (np.float32, "float_val"),
        types_pb2.DT_DOUBLE: (np.float64, "double_val"),
        types_pb2.DT_INT8: (np.int8, "int_val"),
        types_pb2.DT_INT16: (np.int16, "int_val"),
        types_pb2.DT_INT32: (np.int32, "int_val"),
        types_pb2.DT_INT64: (np.int64, "int64_val"),
        types_pb2.DT_UINT8: (np.uint8, "int_val"),
        types_pb2.DT_UINT16: (np.uint16, "int_val"),
        types_pb2.DT_UINT32: (np.uint32, "uint32_val"),
        types_pb2.DT_UINT64: (np.uint64, "uint64_val"),
    }.items()
}
_NO_VALUES = np.empty(0, dtype=object)
_STRING = types_pb2.DT_STRING
_DTYPES = {"string": types_pb2.DT_STRING, "int32": types_pb2.DT_INT32, "int64": types_pb2.DT_INT64,
           "float32": types_pb2.DT_FLOAT, "float64": types_pb2.DT_DOUBLE}
_SIGNATURE = "serving_default"
_NAMES = {value: name for name, value in types_pb2.DataType.items()}


def datatype_of(f: Feature) -> str:
    """The ``DataType`` name a feature's tensor has."""
    return _NAMES[_DTYPES.get(f.input_dtype, types_pb2.DT_FLOAT)]


def _refuse(name: str, message: str) -> PayloadError:
    return PayloadError.single(f"feature {name!r}: {message}", "value_error", ("inputs", name), feature=name,
                               status_code=400)


def tensors_of(inputs: Mapping[str, tensor_pb2.TensorProto]) -> list[Tensor]:
    """One :class:`Tensor` per input: numbers viewed in place (``tensor_content``), strings made together."""
    tensors: list[Tensor] = []
    strings: list[tuple[int, Any]] = []
    for name, proto in inputs.items():
        kind = proto.dtype
        label = _NAMES.get(kind) or str(kind)
        dims = proto.tensor_shape
        shape = tuple([d.size for d in dims.dim])
        if dims.unknown_rank:
            raise _refuse(name, "the tensor's shape is unknown; give its dimensions")
        if shape and min(shape) < 0:
            raise _refuse(name, f"invalid shape {list(shape)}")
        if kind == _STRING:
            strings.append((len(tensors), proto.string_val))
            tensors.append(Tensor(name, label, shape, _NO_VALUES))
            continue
        found = _NUMPY.get(kind)
        if found is None:
            raise _refuse(name, f"unsupported dtype {label}")
        dtype, field = found
        count = math.prod(shape)
        content = proto.tensor_content
        if content:
            if len(content) != count * dtype.itemsize:
                raise _refuse(name, f"{len(content)} bytes of tensor_content for the shape {list(shape)} of {label}")
            values = np.frombuffer(content, dtype=dtype)
        else:
            values = np.array(getattr(proto, field), dtype=dtype)
        tensors.append(Tensor(name, label, shape, _filled(values, count)))
    if strings:
        arrays, text = bytes_arrays([v for _, v in strings])
        for (index, _), values in zip(strings, arrays):
            tensors[index].values = _filled(values, math.prod(tensors[index].shape))
            tensors[index].text_checked = text
    return tensors


def _filled(values: np.ndarray, count: int) -> np.ndarray:
    """A single value fills the whole tensor, as in TensorFlow."""
    return np.full(count, values[0], dtype=values.dtype) if values.size == 1 and count > 1 else values


def signature_def(mv: ModelVersion) -> meta_graph_pb2.SignatureDef:
    """``serving_default`` as ``Predict`` takes it: one input per feature, one output per task."""
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for f in mv.decoder.features if mv.decoder is not None else []:
        dims = [-1, f.width] if f.is_list else [-1]
        signature.inputs[f.name].CopyFrom(meta_graph_pb2.TensorInfo(
            name=f"{_SIGNATURE}_{f.name}:0", dtype=_DTYPES.get(f.input_dtype, types_pb2.DT_FLOAT),
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d)
                                                                for d in dims])))
    for i, output in enumerate(mv.outputs):
        signature.outputs[output].CopyFrom(meta_graph_pb2.TensorInfo(
            name=f"StatefulPartitionedCall:{i}", dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1)])))
    return signature


def _model_spec(spec: model_pb2.ModelSpec) -> tuple[str, int | None]:
    """The model name and version a ``ModelSpec`` names (:class:`PayloadError` for what is not served)."""
    name = validate_model_name(spec.name, ("model_spec", "name"), 400)
    choice = spec.WhichOneof("version_choice")
    if choice == "version_label":
        raise PayloadError.single("version labels are not served; name a version number (model_spec.version)",
                                  "value_error", ("model_spec", "version_label"), status_code=400)
    version = validate_version(spec.version.value, ("model_spec", "version"), 400) if choice == "version" else None
    return name, version


def _servable(name: str, version: int | None) -> Any:
    spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
    return lambda message: f"Servable not found for request: {spec}: {message}"


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` and ``GetModelMetadata``."""

    endpoint = "tf_grpc_predict"

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.max_rows = predictor.settings.max_rows_per_request

    async def Predict(self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
                      ) -> predict_pb2.PredictResponse:
        try:
            name, version = _model_spec(request.model_spec)
            if request.model_spec.signature_name not in ("", _SIGNATURE):
                raise PayloadError.single(
                    f"Serving signature name: {request.model_spec.signature_name!r} not found in signature def "
                    f'(requests are served by "{_SIGNATURE}")', "value_error", ("model_spec", "signature_name"),
                    status_code=400)
            tensors = tensors_of(request.inputs)
        except PayloadError as exc:
            self.predictor.count("", "", self.endpoint, 400, 0.0)
            await abort_for(context, exc)
        wanted = list(request.output_filter)

        def decode(mv: ModelVersion):
            unknown = [o for o in wanted if o not in mv.outputs]
            if unknown:
                raise PayloadError.single(f"output_filter names {', '.join(map(repr, unknown))}, not an output of the "
                                          f"model; its outputs: {', '.join(mv.outputs)}", "value_error",
                                          ("output_filter",), status_code=400)
            return tensor_decoder(mv.decoder, self.max_rows).decode(tensors, datatype_of)

        def answer(outcome: Outcome) -> predict_pb2.PredictResponse:
            mv, n = outcome.mv, outcome.decoded.rows
            response = predict_pb2.PredictResponse()
            response.model_spec.name = mv.model
            response.model_spec.version.value = mv.version
            response.model_spec.signature_name = _SIGNATURE
            shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n)])
            for output in wanted or mv.outputs:
                values = np.ascontiguousarray(outcome.outputs[output], dtype="<f4")
                response.outputs[output].CopyFrom(tensor_pb2.TensorProto(
                    dtype=types_pb2.DT_FLOAT, tensor_shape=shape, tensor_content=values.tobytes()))
            return response

        return await serve_prediction(self.predictor, context, self.endpoint, name, version, decode, answer,
                                      _servable(name, version))

    async def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest,
                               context: grpc.aio.ServicerContext) -> get_model_metadata_pb2.GetModelMetadataResponse:
        try:
            name, version = _model_spec(request.model_spec)
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise PayloadError.single(f"Metadata field(s) {fields or '(none)'} not supported: ask for "
                                          "['signature_def']", "value_error", ("metadata_field",), status_code=400)
            mv = _loaded(self.predictor.registry, name, version)
        except (PayloadError, ModelNotFound) as exc:
            await abort_for(context, exc)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = mv.model
        response.model_spec.version.value = mv.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        signatures.signature_def[_SIGNATURE].CopyFrom(signature_def(mv))
        response.metadata["signature_def"].Pack(signatures)
        return response


def _loaded(registry: ModelRegistry, name: str, version: int | None) -> ModelVersion:
    """The loaded version a metadata request names (the serving one when it names none)."""
    model = registry.models.get(name)
    mv = None
    if model is not None:
        mv = model.serving if version is None else model.versions.get(version)
    if mv is None or not mv.loaded:
        spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        known = ", ".join(sorted(registry.models)) or "none"
        raise ModelNotFound(f"Servable not found for request: {spec}; known models: {known}")
    return mv


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus``: the versions of a model and their states."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    async def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest,
                             context: grpc.aio.ServicerContext) -> get_model_status_pb2.GetModelStatusResponse:
        try:
            name, version = _model_spec(request.model_spec)
            entries = self._entries(name, version)
        except (PayloadError, ModelNotFound) as exc:
            await abort_for(context, exc)
        response = get_model_status_pb2.GetModelStatusResponse()
        for entry in entries:
            status = response.model_version_status.add()
            status.version = int(entry["version"])
            status.state = get_model_status_pb2.ModelVersionStatus.State.Value(entry["state"])
            status.status.error_code = grpc.StatusCode[entry["status"]["error_code"]].value[0]
            status.status.error_message = entry["status"]["error_message"]
        return response

    def _entries(self, name: str, version: int | None) -> list[dict[str, Any]]:
        model = self.registry.models.get(name)
        if model is None:
            raise ModelNotFound(f"Could not find any versions of model {name}; known models: "
                                f"{', '.join(sorted(self.registry.models)) or 'none'}")
        versions = sorted(model.versions, reverse=True) if version is None else [version]
        entries = [version_status(model.versions[v]) for v in versions if v in model.versions]
        listed = [e for e in entries if e is not None]
        if not listed:
            which = f"version {version} of model {name}" if version is not None else f"any versions of model {name}"
            raise ModelNotFound(f"Could not find {which}")
        return listed


def add_tfserving_services(server: grpc.aio.Server, predictor: Predictor) -> list[str]:
    """Adds both services to ``server``; returns their names."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(predictor), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(predictor.registry), server)
    return ["tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"]
