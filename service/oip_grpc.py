"""The Open Inference Protocol over gRPC: ``inference.GRPCInferenceService``, with the messages and stubs
that ``tritonclient[grpc]`` ships.

``ServerLive``, ``ServerReady``, ``ModelReady``, ``ServerMetadata``,
``ModelMetadata`` and ``ModelInfer`` are served; the other methods (streaming,
model configuration, statistics, repository control, shared memory) answer
``UNIMPLEMENTED``. ``ModelInfer`` takes one input per feature as
:mod:`service.oip` describes, with the values in ``raw_input_contents`` (what
Triton's client sends) or in the typed ``contents``; it answers one ``FP32``
output of shape ``[n]`` per task in ``raw_output_contents`` and names the
version that computed them in ``model_version``.
"""

from __future__ import annotations

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from service.errors import PayloadError
from service.grpc_server import abort_for, serve_prediction
from service.names import validate_model_name, validate_version
from service.oip import (
    NUMPY_TYPES,
    PLATFORM,
    datatype_of,
    described_version,
    model_metadata,
    server_metadata,
    tensors_from_raw,
)
from service.predict import Outcome, Predictor
from service.registry import ModelNotFound, ModelVersion, RegistryError
from service.tensors import Tensor, bytes_arrays, tensor_decoder

__all__ = ["InferenceService", "add_oip_service"]

_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


def _refuse(message: str) -> PayloadError:
    return PayloadError.single(message, "value_error", ("inputs",), status_code=400)


def _typed(item: service_pb2.ModelInferRequest.InferInputTensor) -> Tensor:
    """A tensor from an input's typed ``contents``."""
    field = _CONTENTS.get(item.datatype)
    if field is None:
        raise _refuse(f"feature {item.name!r}: unsupported datatype {item.datatype!r}")
    values = getattr(item.contents, field)
    shape = tuple(item.shape)
    if item.datatype == "BYTES":
        arrays, text = bytes_arrays([values])
        return Tensor(item.name, item.datatype, shape, arrays[0], text)
    return Tensor(item.name, item.datatype, shape, np.array(values, dtype=NUMPY_TYPES[item.datatype]))


def _version(text: str) -> int | None:
    return validate_version(text, ("model_version",), 400) if text else None


class InferenceService(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The served methods of ``inference.GRPCInferenceService``."""

    endpoint = "oip_grpc_infer"

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.registry = predictor.registry
        self.max_rows = predictor.settings.max_rows_per_request

    async def ServerLive(self, request, context):  # noqa: N802 (the protocol's method names)
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):  # noqa: N802
        return service_pb2.ServerReadyResponse(ready=self.registry.ready())

    async def ServerMetadata(self, request, context):  # noqa: N802
        return service_pb2.ServerMetadataResponse(**server_metadata())

    async def ModelReady(self, request, context):  # noqa: N802
        try:
            mv = described_version(self.registry, request.name, request.version)
        except ModelNotFound as exc:
            if request.version and request.name in self.registry.models:
                return service_pb2.ModelReadyResponse(ready=False)
            await abort_for(context, exc)
        except (PayloadError, RegistryError) as exc:
            await abort_for(context, exc)
        return service_pb2.ModelReadyResponse(ready=mv.loaded)

    async def ModelMetadata(self, request, context):  # noqa: N802
        try:
            mv = described_version(self.registry, request.name, request.version)
        except (PayloadError, RegistryError) as exc:
            await abort_for(context, exc)
        meta = model_metadata(mv, self.registry)
        tensor = service_pb2.ModelMetadataResponse.TensorMetadata
        return service_pb2.ModelMetadataResponse(
            name=meta["name"], versions=meta["versions"], platform=PLATFORM,
            inputs=[tensor(**t) for t in meta["inputs"]], outputs=[tensor(**t) for t in meta["outputs"]])

    async def ModelInfer(self, request, context):  # noqa: N802
        try:
            name = validate_model_name(request.model_name, ("model_name",), 400)
            version = _version(request.model_version)
            if request.raw_input_contents:
                if len(request.raw_input_contents) != len(request.inputs):
                    raise _refuse(f"{len(request.raw_input_contents)} raw_input_contents for {len(request.inputs)} "
                                  "inputs: give one per input, in order")
                tensors = tensors_from_raw([(item.name, item.datatype, tuple(item.shape), raw)
                                            for item, raw in zip(request.inputs, request.raw_input_contents)])
            else:
                tensors = [_typed(item) for item in request.inputs]
        except PayloadError as exc:
            self.predictor.count("", "", self.endpoint, 400, 0.0)
            await abort_for(context, exc)
        wanted = [o.name for o in request.outputs]

        def decode(mv: ModelVersion):
            unknown = [o for o in wanted if o not in mv.outputs]
            if unknown:
                raise _refuse(f"unknown output {unknown[0]!r}; the model's outputs: {', '.join(mv.outputs)}")
            return tensor_decoder(mv.decoder, self.max_rows).decode(tensors, datatype_of)

        def answer(outcome: Outcome) -> service_pb2.ModelInferResponse:
            mv, n = outcome.mv, outcome.decoded.rows
            response = service_pb2.ModelInferResponse(model_name=mv.model, model_version=mv.version_label,
                                                      id=request.id)
            for output in wanted or mv.outputs:
                response.outputs.add(name=output, datatype="FP32", shape=[n])
                response.raw_output_contents.append(
                    np.ascontiguousarray(outcome.outputs[output], dtype="<f4").tobytes())
            return response

        return await serve_prediction(self.predictor, context, self.endpoint, name, version, decode, answer)


def add_oip_service(server: grpc.aio.Server, predictor: Predictor) -> list[str]:
    """Adds the service to ``server``; returns its name."""
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(predictor), server)
    return ["inference.GRPCInferenceService"]
