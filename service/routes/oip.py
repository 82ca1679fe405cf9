"""The Open Inference Protocol's REST API (KServe v2), with the binary tensor data extension.

* ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2`` (server metadata);
* ``GET /v2/models/{name}[/versions/{v}]`` (model metadata: one input per
  feature, one output per task), ``GET .../ready``;
* ``POST /v2/models/{name}[/versions/{v}]/infer``: a prediction route, a plain
  ASGI endpoint (:class:`OipInfer`) matched in :mod:`service.routes.predict`.

An inference request is a JSON object ``{"id"?, "parameters"?, "inputs": [{"name",
"datatype", "shape", "data" | "parameters": {"binary_data_size": N}}],
"outputs"?: [{"name", "parameters"?: {"binary_data": true}}]}``. With binary
data, the body is that JSON followed by the tensors' bytes in input order, and
the header ``Inference-Header-Content-Length`` gives the JSON's size; BYTES
elements are each a 4-byte little-endian length followed by the bytes. Outputs
asked for with ``"binary_data": true`` (or every output, with the request
parameter ``"binary_data_output": true``) come back the same way. The request
parameter ``"timeout"`` (microseconds) shortens the request's deadline. Errors are
``{"error": "..."}``: 400 for an invalid request (naming the feature and the
row), 404 for an unknown model or version, 503/504 as for ``POST /predict``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from service.contract import responses
from service.deps import RegistryDep
from service.errors import PayloadError
from service.http import ClientGone, Receive, Send, dumps, header, json_response, read_body, send_json
from service.names import validate_model_name, validate_version
from service.oip import described_version, model_metadata, server_metadata, tensor_from_data, tensors_from_raw
from service.oip import datatype_of as oip_datatype
from service.predict import Outcome, Predictor
from service.registry import ModelRegistry, ModelVersion, RegistryError
from service.tensors import Tensor, tensor_decoder

__all__ = ["OipInfer", "openapi_paths", "router"]

INFER_PATH = "/v2/models/{name}/versions/{version}/infer"
INFER_LATEST_PATH = "/v2/models/{name}/infer"
_HEADER = b"inference-header-content-length"


class InferInput(BaseModel):
    """One input tensor: a feature by name."""

    model_config = ConfigDict(extra="forbid")
    name: str
    datatype: str = Field(description="BYTES for strings, INT32/INT64 for ids, FP32 for dense values.")
    shape: list[int] = Field(description="[n] for a scalar feature, [n, maxlen] for a list, [n, dimension] for a vector.")
    parameters: dict[str, Any] | None = Field(None, description='{"binary_data_size": N} when the data follows the JSON.')
    data: list[Any] | None = Field(None, description="Row-major values (flat or nested), strings for BYTES.")


class InferOutput(BaseModel):
    """An output asked for (one per task); ``{"binary_data": true}`` returns it as binary data."""

    model_config = ConfigDict(extra="forbid")
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """An Open Inference Protocol inference request."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    parameters: dict[str, Any] | None = Field(
        None, description='"binary_data_output": true returns every output as binary data; "timeout" in microseconds.')
    inputs: Annotated[list[InferInput], Field(min_length=1)]
    outputs: list[InferOutput] | None = None


class OutputTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None
    data: list[float] | None = None


class InferResponse(BaseModel):
    """The answer: the version that computed it and one FP32 output of shape [n] per task."""

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[OutputTensor]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    name: str
    datatype: str = Field(description="BYTES, INT32, INT64 or FP32")
    shape: list[int] = Field(description="-1 stands for the rows")


class ModelMetadata(BaseModel):
    """One input per feature (what a request sends), one output per task."""

    name: str
    versions: list[str] = Field(description="The loaded versions.")
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class _Parsed:
    """What a request asks for, read before a version is chosen (``request``: the JSON part, checked)."""

    __slots__ = ("tensors", "request")

    def __init__(self, tensors: list[Tensor], request: dict[str, Any]) -> None:
        self.tensors = tensors
        self.request = request


_TOP_KEYS = frozenset(InferRequest.model_fields)
_INPUT_KEYS = frozenset(InferInput.model_fields)
_OUTPUT_KEYS = frozenset(InferOutput.model_fields)


def _optional(value: Any, kind: type) -> bool:
    return value is None or type(value) is kind


def _well_formed(request: Any) -> bool:
    """Whether a parsed JSON request has exactly :class:`InferRequest`'s form (checked without pydantic,
    which costs several times more on a request of dozens of inputs)."""
    if type(request) is not dict or not request.keys() <= _TOP_KEYS:
        return False
    if not (_optional(request.get("id"), str) and _optional(request.get("parameters"), dict)):
        return False
    inputs = request.get("inputs")
    if type(inputs) is not list or not inputs:
        return False
    for item in inputs:
        if type(item) is not dict or not item.keys() <= _INPUT_KEYS:
            return False
        shape = item.get("shape")
        if type(item.get("name")) is not str or type(item.get("datatype")) is not str or type(shape) is not list:
            return False
        if not all(type(d) is int for d in shape):
            return False
        if not (_optional(item.get("parameters"), dict) and _optional(item.get("data"), list)):
            return False
    outputs = request.get("outputs")
    if outputs is None:
        return True
    if type(outputs) is not list:
        return False
    return all(type(o) is dict and o.keys() <= _OUTPUT_KEYS and type(o.get("name")) is str
               and _optional(o.get("parameters"), dict) for o in outputs)


def _read_header(head: bytes) -> dict[str, Any]:
    """The JSON part of a request, in :class:`InferRequest`'s form (the model's message when it is not)."""
    try:
        request = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"invalid inference request: the JSON is not valid: {exc}") from None
    if _well_formed(request):
        return request
    try:
        return InferRequest.model_validate(request).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise _invalid(_validation_message(exc)) from None


def _invalid(message: str, status: int = 400) -> PayloadError:
    return PayloadError.single(message, "value_error", ("body",), status_code=status)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"invalid inference request: {where + ': ' if where else ''}{first['msg']}"


def parse_request(scope: dict[str, Any], body: bytes) -> _Parsed:
    """The tensors and options of an inference request (JSON, or JSON then binary data)."""
    encoding = header(scope, b"content-encoding")
    if encoding is not None and encoding.strip().lower() not in (b"", b"identity"):
        raise _invalid(f"Content-Encoding {encoding[:40].decode('latin-1')!r} is not supported; send the body as it is",
                       415)
    declared = header(scope, _HEADER)
    if declared is None:
        head, binary = body, memoryview(b"")
    else:
        if not declared.isdigit() or len(declared) > 12 or int(declared) > len(body):
            raise _invalid(f"Inference-Header-Content-Length {declared[:20].decode('latin-1')!r} does not fit a body "
                           f"of {len(body)} bytes")
        size = int(declared)
        head, binary = body[:size], memoryview(body)[size:]
    request = _read_header(head)
    raw: list[tuple[int, tuple[str, str, list[int], memoryview]]] = []
    tensors: list[Tensor | None] = []
    offset = 0
    for item in request["inputs"]:
        name = item["name"]
        size = (item.get("parameters") or {}).get("binary_data_size")
        if size is None:
            if item.get("data") is None:
                raise _invalid(f"input {name!r} has neither 'data' nor a 'binary_data_size' parameter")
            tensors.append(tensor_from_data(name, item["datatype"], item["shape"], item["data"]))
            continue
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise _invalid(f"input {name!r}: binary_data_size {size!r} does not fit the {len(binary)} bytes of "
                           "binary data after the JSON header")
        raw.append((len(tensors), (name, item["datatype"], item["shape"], binary[offset : offset + size])))
        tensors.append(None)
        offset += size
    if offset != len(binary):
        raise _invalid(f"{len(binary)} bytes of binary data follow the JSON header but the inputs' "
                       f"binary_data_size add up to {offset}")
    for (index, _), tensor in zip(raw, tensors_from_raw([spec for _, spec in raw])):
        tensors[index] = tensor
    return _Parsed(tensors, request)  # type: ignore[arg-type]


def _outputs_asked(request: dict[str, Any], mv: ModelVersion) -> list[tuple[str, bool]]:
    """``(output, binary)`` pairs of the answer; :class:`PayloadError` for an output the version lacks."""
    default = bool((request.get("parameters") or {}).get("binary_data_output", False))
    if not request.get("outputs"):
        return [(name, default) for name in mv.outputs]
    asked = []
    for out in request["outputs"]:
        if out["name"] not in mv.outputs:
            raise _invalid(f"unknown output {out['name']!r}; the model's outputs: {', '.join(mv.outputs)}")
        asked.append((out["name"], bool((out.get("parameters") or {}).get("binary_data", default))))
    return asked


def answer(outcome: Outcome, request: dict[str, Any]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The answer's body and headers: JSON, or the JSON header followed by binary outputs."""
    mv, n = outcome.mv, outcome.decoded.rows
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in _outputs_asked(request, mv):
        values = np.ascontiguousarray(outcome.outputs[name], dtype=np.float32)
        entry: dict[str, Any] = {"name": name, "datatype": "FP32", "shape": [n]}
        if binary:
            blob = values.astype("<f4", copy=False).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = values
        outputs.append(entry)
    body: dict[str, Any] = {"model_name": mv.model, "model_version": mv.version_label}
    if request.get("id") is not None:
        body["id"] = request["id"]
    body["outputs"] = outputs
    head = dumps(body)
    version = (b"x-model-version", mv.version_label.encode())
    if not blobs:
        return head, [(b"content-type", b"application/json"), version]
    return head + b"".join(blobs), [(b"content-type", b"application/octet-stream"),
                                    (_HEADER, str(len(head)).encode()), version]


class OipInfer:
    """``POST /v2/models/{name}[/versions/{v}]/infer``: the same admission, deadline, version choice and
    batching as ``POST /predict`` (see :mod:`service.predict`), with tensors instead of JSON rows."""

    endpoint = "oip_infer"

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._timeout_s = predictor.settings.request_timeout_ms / 1000.0
        self._body_s = min(self._timeout_s, predictor.settings.body_timeout_s)
        self._max_rows = predictor.settings.max_rows_per_request

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send, name: str,
                       version: str | None) -> None:
        p = self.predictor
        started = time.perf_counter()
        arrived = time.monotonic()
        deadline = arrived + self._timeout_s
        labels = ["", ""]
        status = 500
        try:
            model = validate_model_name(name, ("path", "name"), 400)
            number = validate_version(version, ("path", "version"), 400) if version is not None else None
            # no content-type rule: the body is JSON, or JSON followed by binary data
            held = p.admit(scope, lambda: p.registry.guess(model, number), True, labels)
            try:
                body = await read_body(receive, p.settings.max_body_bytes, arrived + self._body_s)
                parsed = parse_request(scope, body)
            finally:
                p.budget.release(held)
            timeout_us = (parsed.request.get("parameters") or {}).get("timeout")
            if isinstance(timeout_us, int) and not isinstance(timeout_us, bool) and timeout_us > 0:
                deadline = min(deadline, time.monotonic() + timeout_us / 1e6)

            def decode(mv: ModelVersion):
                _outputs_asked(parsed.request, mv)
                return tensor_decoder(mv.decoder, self._max_rows).decode(parsed.tensors, oip_datatype)

            outcome = await p.infer(model, number, decode, deadline, labels, receive)
            payload, headers = answer(outcome, parsed.request)
            status = 200
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(payload)).encode()), *headers]})
            await send({"type": "http.response.body", "body": payload})
        except ClientGone:
            status = 499
        except Exception as exc:
            failure = p.failure(exc)
            status = failure.status
            if isinstance(exc, PayloadError):
                message = "; ".join(e["msg"] for e in exc.errors)
                status = 400 if status == 422 else status
            else:
                message = str(failure.detail)
            await send_json(send, status, dumps({"error": message}), failure.headers)
        finally:
            p.count(labels[0], labels[1], self.endpoint, status, time.perf_counter() - started)


# -- health and metadata (FastAPI routes) ---------------------------------------------------

router = APIRouter(prefix="/v2", tags=["open inference protocol"])


def _error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


_NOT_FOUND = {400: "Invalid model name or version in the URL.", 404: "Unknown model or version."}


@router.get("/health/live", summary="Liveness (Open Inference Protocol)", responses=responses(Live))
async def live() -> Response:
    return json_response({"live": True})


@router.get("/health/ready", summary="Readiness: a model version is loaded (Open Inference Protocol)",
            responses=responses(Ready, 400, tf=True, why={400: "No version is loaded yet."}))
async def ready(registry: RegistryDep) -> Response:
    if registry.ready():
        return json_response({"ready": True})
    return _error("no model version is loaded yet", 400)


@router.get("", summary="Server metadata (Open Inference Protocol)", responses=responses(ServerMetadata))
async def server_meta() -> Response:
    return json_response(server_metadata())


async def _model_metadata(registry: ModelRegistry, name: str, version: str | None) -> Response:
    try:
        mv = described_version(registry, name, version)
    except (PayloadError, RegistryError) as exc:
        return _lookup_error(exc)
    return json_response(model_metadata(mv, registry))


async def _model_ready(registry: ModelRegistry, name: str, version: str | None) -> Response:
    try:  # a version that is not loaded is not ready: 404, as for an unknown one
        mv = described_version(registry, name, version)
    except (PayloadError, RegistryError) as exc:
        return _lookup_error(exc)
    return json_response({"name": mv.model, "ready": True})


def _lookup_error(exc: Exception) -> Response:
    if isinstance(exc, PayloadError):
        return _error("; ".join(e["msg"] for e in exc.errors), 400)
    assert isinstance(exc, RegistryError)
    return _error(exc.message, exc.status_code)


@router.get("/models/{name}", summary="Model metadata: inputs (one per feature) and outputs (one per task)",
            responses=responses(ModelMetadata, 400, 404, tf=True, why=_NOT_FOUND))
async def model_meta(name: str, registry: RegistryDep) -> Response:
    return await _model_metadata(registry, name, None)


@router.get("/models/{name}/versions/{version}", summary="Version metadata (Open Inference Protocol)",
            responses=responses(ModelMetadata, 400, 404, tf=True, why=_NOT_FOUND))
async def model_version_meta(name: str, version: str, registry: RegistryDep) -> Response:
    return await _model_metadata(registry, name, version)


_READY = {400: "Invalid model name or version in the URL.", 404: "Unknown model, or a version not loaded (not ready)."}


@router.get("/models/{name}/ready", summary="Model readiness (Open Inference Protocol)",
            responses=responses(ModelReady, 400, 404, tf=True, why=_READY))
async def model_ready(name: str, registry: RegistryDep) -> Response:
    return await _model_ready(registry, name, None)


@router.get("/models/{name}/versions/{version}/ready", summary="Version readiness (Open Inference Protocol)",
            responses=responses(ModelReady, 400, 404, tf=True, why=_READY))
async def model_version_ready(name: str, version: str, registry: RegistryDep) -> Response:
    return await _model_ready(registry, name, version)


# -- OpenAPI description of the infer routes ----------------------------------------------------

def openapi_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI path items of the infer routes and the component schemas they refer to."""
    ref = "#/components/schemas/{model}"
    request = InferRequest.model_json_schema(ref_template=ref)
    response = InferResponse.model_json_schema(ref_template=ref, mode="serialization")
    components = {**request.pop("$defs", {}), **response.pop("$defs", {}),
                  "InferRequest": request, "InferResponse": response}
    error = {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}},
                                             "required": ["error"]}}}
    binary_doc = ("With binary data: the JSON request, then each input's bytes in input order; the header "
                  "Inference-Header-Content-Length gives the JSON's size.")

    def operation(summary: str, parameters: list[str]) -> dict[str, Any]:
        return {
            "tags": ["open inference protocol"],
            "summary": summary,
            "description": "One input tensor per feature (see the model metadata), one FP32 output per task. "
                           + binary_doc,
            "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                           for p in parameters]
                          + [{"name": "Inference-Header-Content-Length", "in": "header", "required": False,
                              "schema": {"type": "integer"}, "description": "Size of the JSON part (binary data)."}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": ref.format(model="InferRequest")}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                             "description": binary_doc},
            }},
            "responses": {
                "200": {"description": "The outputs, from the version named in model_version (and X-Model-Version); "
                                       "binary outputs follow the JSON when asked for.",
                        "content": {"application/json": {"schema": {"$ref": ref.format(model="InferResponse")}},
                                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "400": {"description": "Invalid request; the message names the feature and the row.", "content": error},
                "404": {"description": "Unknown model or version.", "content": error},
                "408": {"description": "The body did not arrive before the request's deadline.", "content": error},
                "413": {"description": "Body larger than the limit.", "content": error},
                "415": {"description": "A compressed body (Content-Encoding) is not served.", "content": error},
                "503": {"description": "Overloaded (refused before the work is done) or no version loaded yet.",
                        "content": error},
                "504": {"description": "No answer within the request deadline; the rows were not scored.",
                        "content": error},
            },
        }

    paths = {
        INFER_LATEST_PATH: {"post": operation("Infer (Open Inference Protocol)", ["name"])},
        INFER_PATH: {"post": operation("Infer with a version (Open Inference Protocol)", ["name", "version"])},
    }
    return paths, components
